"""Checks on one value: Flagger's min/max on the canary, bounds against the primary, low traffic."""

from __future__ import annotations

import math
from enum import StrEnum
from typing import Literal

from canary.analysis.results import CheckResult, Verdict, format_number

RelativeMode = Literal["ratio", "difference"]


class NoDataPolicy(StrEnum):
    """What a metric with no data does. HOLD (neither advance nor fail) is the safe default."""

    FAIL = "fail"
    HOLD = "hold"
    PASS = "pass"


def has_data(value: float | None) -> bool:
    """NaN and infinities are what an empty or broken query looks like, so they count as no data."""
    return finite_or_none(value) is not None


def finite_or_none(value: float | None) -> float | None:
    """The value if it is a finite number, else None (NaN and infinities count as no data)."""
    if value is None or not math.isfinite(value):
        return None
    return float(value)


def describe_bounds(subject: str, low: float | None, high: float | None) -> str:
    """Human text for a [min, max] range, e.g. ">= 99", "ratio <= 1.1", "0.9 <= ratio <= 1.1"."""
    prefix = f"{subject} " if subject else ""
    if low is not None and high is not None:
        return f"{format_number(low)} <= {subject or 'value'} <= {format_number(high)}"
    if low is not None:
        return f"{prefix}>= {format_number(low)}"
    if high is not None:
        return f"{prefix}<= {format_number(high)}"
    return "no bounds"


def no_data_result(
    name: str,
    policy: NoDataPolicy,
    *,
    threshold: str,
    missing: str,
    value: float | None = None,
    primary_value: float | None = None,
) -> CheckResult:
    """The result a no-data policy gives: PASS, FAIL, or NO_DATA (which holds the rollout)."""
    verdict = {
        NoDataPolicy.FAIL: Verdict.FAIL,
        NoDataPolicy.HOLD: Verdict.NO_DATA,
        NoDataPolicy.PASS: Verdict.PASS,
    }[policy]
    consequence = {
        NoDataPolicy.FAIL: "counts as a failure",
        NoDataPolicy.HOLD: "holds the rollout until data arrives",
        NoDataPolicy.PASS: "passes",
    }[policy]
    return CheckResult(
        name=name,
        verdict=verdict,
        value=value,
        primary_value=primary_value,
        threshold=threshold,
        reason=f"no data for {missing}; the no-data policy '{policy.value}' {consequence}",
        evidence={"noData": True, "missing": missing, "noDataPolicy": policy.value},
    )


def bounds_violation(value: float, low: float | None, high: float | None) -> str | None:
    """Which bound a value breaks, in words, or None when it is inside (bounds are inclusive)."""
    if low is not None and value < low:
        return f"{format_number(value)} < {format_number(low)}"
    if high is not None and value > high:
        return f"{format_number(value)} > {format_number(high)}"
    return None


def check_threshold(
    name: str,
    value: float | None,
    min: float | None,  # the names mirror Flagger's thresholdRange
    max: float | None,
    *,
    no_data: NoDataPolicy = NoDataPolicy.HOLD,
) -> CheckResult:
    """Flagger's check on the canary alone: fail if value < min or value > max."""
    threshold = describe_bounds("", min, max)
    measured = finite_or_none(value)
    if measured is None:
        return no_data_result(name, no_data, threshold=threshold, missing="the canary")
    violation = bounds_violation(measured, min, max)
    evidence = {"value": measured, "min": min, "max": max}
    if violation is not None:
        reason = f"{name} is out of range: {violation}"
        return CheckResult(name, Verdict.FAIL, measured, None, threshold, reason, evidence)
    reason = f"{name} {format_number(measured)} is within {threshold}"
    return CheckResult(name, Verdict.PASS, measured, None, threshold, reason, evidence)


def check_relative(
    name: str,
    canary: float | None,
    primary: float | None,
    *,
    mode: RelativeMode,
    min: float | None = None,
    max: float | None = None,
    no_data: NoDataPolicy = NoDataPolicy.HOLD,
) -> CheckResult:
    """Compare the canary with the primary (canary/primary or canary-primary) within [min, max]."""
    threshold = describe_bounds(mode, min, max)
    canary_value, primary_value = finite_or_none(canary), finite_or_none(primary)
    if canary_value is None or primary_value is None:
        missing = missing_sides(canary_value, primary_value)
        return no_data_result(
            name,
            no_data,
            threshold=threshold,
            missing=missing,
            value=canary_value,
            primary_value=primary_value,
        )
    if mode == "difference":
        relative = canary_value - primary_value
    elif primary_value == 0.0:
        return judge_zero_primary(name, canary_value, min, max, threshold)
    else:
        relative = canary_value / primary_value
    return judge_relative(name, canary_value, primary_value, relative, mode, min, max, threshold)


def missing_sides(canary: float | None, primary: float | None) -> str:
    """Which sides lack data, in words."""
    pairs = (("the canary", canary), ("the primary", primary))
    return " and ".join(side for side, value in pairs if value is None)


def judge_relative(
    name: str,
    canary: float,
    primary: float,
    relative: float,
    mode: RelativeMode,
    low: float | None,
    high: float | None,
    threshold: str,
) -> CheckResult:
    """Verdict on a finite ratio or difference."""
    evidence = {"canary": canary, "primary": primary, mode: relative, "min": low, "max": high}
    violation = bounds_violation(relative, low, high)
    described = (
        f"canary {format_number(canary)} vs primary {format_number(primary)}: "
        f"{mode} {format_number(relative)}"
    )
    if violation is not None:
        return CheckResult(
            name, Verdict.FAIL, canary, primary, threshold, f"{described} is out of range", evidence
        )
    return CheckResult(
        name,
        Verdict.PASS,
        canary,
        primary,
        threshold,
        f"{described} is within {threshold}",
        evidence,
    )


def judge_zero_primary(
    name: str, canary: float, low: float | None, high: float | None, threshold: str
) -> CheckResult:
    """A ratio over a zero primary: 0/0 is taken as 1 (no change); c/0 is +/-infinity."""
    # A primary at exactly zero (e.g. no errors) is common; the honest ratio is 1 when the canary is
    # also zero and unbounded otherwise, so the bounds still decide instead of a division error.
    ratio = 1.0 if canary == 0.0 else math.copysign(math.inf, canary)
    verdict = Verdict.FAIL if bounds_violation(ratio, low, high) is not None else Verdict.PASS
    if canary == 0.0:
        reason = "canary and primary are both 0; the ratio is taken as 1 (no change)"
    else:
        reason = (
            f"the primary is 0 and the canary is {format_number(canary)}, "
            f"so the ratio is {'unbounded' if math.isinf(ratio) else ratio}"
        )
    outcome = "within" if verdict is Verdict.PASS else "out of range of"
    evidence = {"canary": canary, "primary": 0.0, "ratio": ratio, "min": low, "max": high}
    return CheckResult(
        name, verdict, canary, 0.0, threshold, f"{reason}; {outcome} {threshold}", evidence
    )


def check_traffic(
    name: str,
    requests: float | None,
    min_requests: float,
    *,
    primary_requests: float | None = None,
) -> CheckResult:
    """Low traffic is not a failure: HOLD with "low traffic: N requests < M", else PASS."""
    threshold = f"requests >= {format_number(min_requests)}"
    count = finite_or_none(requests) or 0.0
    evidence: dict[str, object] = {
        "requests": count,
        "minRequests": min_requests,
        "lowTraffic": count < min_requests,
    }
    if primary_requests is not None:
        evidence["primaryRequests"] = primary_requests
    if count < min_requests:
        reason = f"low traffic: {format_number(count)} requests < {format_number(min_requests)}"
        return CheckResult(name, Verdict.HOLD, count, primary_requests, threshold, reason, evidence)
    reason = f"enough traffic: {format_number(count)} requests >= {format_number(min_requests)}"
    return CheckResult(name, Verdict.PASS, count, primary_requests, threshold, reason, evidence)
