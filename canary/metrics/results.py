"""Maps Prometheus answers (scalar, vector, matrix; empty, NaN, Inf, several series) to values."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from canary.protocols import Sample


class MalformedResult(ValueError):
    """The answer is not in any shape the Prometheus HTTP API documents."""


@dataclass(frozen=True)
class Reading:
    """One query's value at one time; `value` is None when there is no usable data, and `detail`
    then says why (empty, NaN, several series)."""

    value: float | None
    detail: str = ""

    @property
    def has_value(self) -> bool:
        return self.value is not None


NO_SERIES = "no series matched (no traffic, a wrong label, or no samples at that time)"


def parse_value(raw: object) -> float:
    """Prometheus sends sample values as strings ("0.95", "NaN", "+Inf")."""
    if isinstance(raw, bool) or not isinstance(raw, (str, int, float)):
        raise MalformedResult(f"sample value {raw!r} is not a number")
    try:
        return float(raw)
    except ValueError as error:
        raise MalformedResult(f"sample value {raw!r} is not a number") from error


def from_number(value: float) -> Reading:
    """NaN (0/0: the series exist but saw no requests) is no data; +-Inf is kept as a value."""
    if math.isnan(value):
        return Reading(None, "the query returned NaN (series exist but no requests, e.g. 0/0)")
    return Reading(value)


def is_pair(result: object) -> bool:
    """A scalar or string result: a bare `[timestamp, "value"]`."""
    return (
        isinstance(result, (list, tuple))
        and len(result) == 2
        and isinstance(result[0], (int, float))
        and not isinstance(result[0], bool)
    )


def instant_reading(result: object) -> Reading:
    """The value of an instant query's `data.result` (what prometheus-api-client returns)."""
    if is_pair(result):
        assert isinstance(result, (list, tuple))
        return from_number(parse_value(result[1]))
    series = as_series_list(result)
    if not series:
        return Reading(None, NO_SERIES)
    if len(series) > 1:
        return Reading(None, several_series(len(series)))
    pair = series[0].get("value")
    if not is_pair(pair):
        raise MalformedResult(f"a vector element has no [time, value] pair: {series[0]!r}")
    assert isinstance(pair, (list, tuple))
    return from_number(parse_value(pair[1]))


def several_series(count: int) -> str:
    return (
        f"the query returned {count} series where one was expected; "
        "aggregate it to one, e.g. with sum(...) or max(...)"
    )


def as_series_list(result: object) -> list[dict[str, object]]:
    if not isinstance(result, list) or not all(isinstance(item, dict) for item in result):
        raise MalformedResult(f"unexpected result shape: {str(result)[:200]}")
    return result


@dataclass(frozen=True)
class Series:
    """A range query's samples; empty with a `detail` when there is no usable data."""

    samples: Sequence[Sample]
    detail: str = ""


def range_series(result: object) -> Series:
    """The samples of a range query's `data.result` (a matrix with at most one series)."""
    series = as_series_list(result)
    if not series:
        return Series((), NO_SERIES)
    if len(series) > 1:
        return Series((), several_series(len(series)))
    values = series[0].get("values")
    if not isinstance(values, list):
        raise MalformedResult(f"a matrix element has no values: {str(series[0])[:200]}")
    samples = [to_sample(pair) for pair in values]
    # NaN samples are kept: the judge's nanStrategy decides whether to remove or replace them.
    if all(math.isnan(s.value) for s in samples):
        return Series((), "every sample is NaN (series exist but no requests)")
    return Series(samples)


def to_sample(pair: object) -> Sample:
    if not is_pair(pair):
        raise MalformedResult(f"a matrix sample is not a [time, value] pair: {pair!r}")
    assert isinstance(pair, (list, tuple))
    return Sample(float(pair[0]), parse_value(pair[1]))
