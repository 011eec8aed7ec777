"""Results are data: each check returns a verdict, its values, a reason in words and evidence."""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum


class Verdict(StrEnum):
    """What a check says the engine may do.

    PASS advances; FAIL counts a failed check. NO_DATA (the metric returned nothing) and HOLD
    (not enough evidence yet, e.g. low traffic or an undecided sequential test) both mean
    "neither advance nor count a failure"; they differ only in why.
    """

    PASS = "Pass"
    FAIL = "Fail"
    NO_DATA = "NoData"
    HOLD = "Hold"

    @property
    def allows_advance(self) -> bool:
        return self is Verdict.PASS

    @property
    def counts_as_failure(self) -> bool:
        return self is Verdict.FAIL


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one check, ready to record in status or print."""

    name: str
    verdict: Verdict
    value: float | None
    primary_value: float | None
    threshold: str
    reason: str
    evidence: Mapping[str, object] = field(default_factory=dict)

    def to_dict(self) -> dict[str, object]:
        """Camel-case, JSON-serialisable form; non-finite numbers become None (JSON has no NaN)."""
        return {
            "name": self.name,
            "verdict": self.verdict.value,
            "value": json_number(self.value),
            "primaryValue": json_number(self.primary_value),
            "threshold": self.threshold,
            "reason": self.reason,
            "evidence": json_safe(self.evidence),
        }


def json_number(value: float | None) -> float | None:
    """A float JSON can carry: NaN and infinities become None."""
    if value is None or not math.isfinite(value):
        return None
    return value


def json_safe(value: object) -> object:
    """Recursively replace non-finite floats with None and tuples with lists."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return json_number(float(value))
    if isinstance(value, Mapping):
        return {str(key): json_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(item) for item in value]
    return str(value)


def format_number(value: float) -> str:
    """Short human form for reasons: up to 6 significant digits, no trailing zeros."""
    return f"{value:.6g}"
