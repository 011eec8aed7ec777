"""Every shape of Prometheus answer maps to a value or to no data with a reason, never a crash."""

from __future__ import annotations

import math

import pytest

from canary.metrics.results import MalformedResult, Reading, instant_reading, range_series
from canary.protocols import Sample


def vector(*values: str) -> list[dict[str, object]]:
    return [{"metric": {"pod": f"p{i}"}, "value": [1767225900, v]} for i, v in enumerate(values)]


@pytest.mark.parametrize(
    ("result", "value", "detail"),
    [
        pytest.param([1767225900, "0.95"], 0.95, "", id="scalar"),
        pytest.param(vector("99.5"), 99.5, "", id="one-sample-vector"),
        pytest.param([], None, "no series matched", id="empty-vector"),
        pytest.param(vector("NaN"), None, "NaN", id="nan-vector"),
        pytest.param([1767225900, "NaN"], None, "NaN", id="nan-scalar"),
        pytest.param(vector("1", "2", "3"), None, "3 series", id="several-series"),
        pytest.param(vector("+Inf"), math.inf, "", id="plus-inf-is-a-value"),
        pytest.param(vector("-Inf"), -math.inf, "", id="minus-inf-is-a-value"),
    ],
)
def test_instant_results_map_to_a_value_or_to_no_data(
    result: object, value: float | None, detail: str
) -> None:
    reading = instant_reading(result)
    assert reading.value == value
    assert detail in reading.detail


@pytest.mark.parametrize(
    "result",
    [
        pytest.param("zzz", id="a-string"),
        pytest.param([{"metric": {}}], id="vector-without-value"),
        pytest.param(vector("abc"), id="value-not-a-number"),
        pytest.param({"result": []}, id="a-mapping"),
    ],
)
def test_malformed_results_are_reported_not_guessed(result: object) -> None:
    with pytest.raises(MalformedResult):
        instant_reading(result)


def matrix(*series: list[str]) -> list[dict[str, object]]:
    return [
        {"metric": {}, "values": [[1767225900 + 30 * i, v] for i, v in enumerate(values)]}
        for values in series
    ]


@pytest.mark.parametrize(
    ("result", "samples", "detail"),
    [
        pytest.param(
            matrix(["1", "2"]),
            [Sample(1767225900, 1.0), Sample(1767225930, 2.0)],
            "",
            id="one-series",
        ),
        pytest.param([], [], "no series matched", id="empty"),
        pytest.param(matrix(["1"], ["2"]), [], "2 series", id="several-series"),
        pytest.param(matrix(["NaN", "NaN"]), [], "every sample is NaN", id="all-nan"),
    ],
)
def test_range_results_map_to_samples_or_to_no_data(
    result: object, samples: list[Sample], detail: str
) -> None:
    series = range_series(result)
    assert list(series.samples) == samples
    assert detail in series.detail


def test_some_nan_samples_are_kept_for_the_judges_nan_strategy() -> None:
    series = range_series(matrix(["1", "NaN", "3"]))
    assert [math.isnan(s.value) for s in series.samples] == [False, True, False]


def test_a_reading_without_value_has_no_value() -> None:
    assert not Reading(None, "empty").has_value
