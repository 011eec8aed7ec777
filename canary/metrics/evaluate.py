"""Pure: one Metric's readings (canary, primary, range samples) -> one CheckResult."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

from canary import redact
from canary.analysis.classifier import (
    Direction,
    MetricConfig,
    classify,
    effect_size_of,
)
from canary.analysis.preprocess import NanStrategy, OutlierStrategy
from canary.analysis.results import CheckResult, Verdict, format_number
from canary.analysis.thresholds import (
    NoDataPolicy,
    bounds_violation,
    check_relative,
    check_threshold,
    describe_bounds,
)
from canary.api.canary import Judge, Metric
from canary.metrics.results import Reading, Series

TEMPLATE_ERROR = "MetricTemplateError"
"""Reason of the condition and event when a metric's template cannot be found or rendered."""
QUERY_ERROR = "MetricQueryError"
"""Reason of the condition and event when the metric provider cannot answer."""


@dataclass(frozen=True)
class Readings:
    """What the provider answered for one metric; the primary's parts only when asked for."""

    canary: Reading
    primary: Reading | None = None
    canary_series: Series | None = None
    primary_series: Series | None = None


def no_data_policy(metric: Metric) -> NoDataPolicy:
    return NoDataPolicy(metric.no_data.value)


def evaluate(metric: Metric, readings: Readings) -> CheckResult:
    """Every check the metric configures (thresholdRange, compare, judge), combined."""
    checks: list[tuple[str, CheckResult]] = []
    if metric.threshold_range is not None:
        checks.append(("thresholdRange", threshold_check(metric, readings.canary)))
    if metric.compare is not None:
        checks.append(("compare", compare_check(metric, readings)))
    if metric.judge is not None:
        checks.append(("judge", judge_check(metric, metric.judge, readings)))
    result = combine(metric.name, checks)
    if result.primary_value is None and readings.primary is not None:
        result = replace(result, primary_value=readings.primary.value)  # shown, not judged
    return replace(result, evidence={**result.evidence, "critical": metric.critical})


def threshold_check(metric: Metric, canary: Reading) -> CheckResult:
    """Flagger's min/max on the canary; an infinite value breaks the bound on its side."""
    bounds = metric.threshold_range
    assert bounds is not None
    value = canary.value
    if value is not None and math.isinf(value):
        return infinite_check(metric.name, value, bounds.min, bounds.max)
    result = check_threshold(
        metric.name, value, bounds.min, bounds.max, no_data=no_data_policy(metric)
    )
    return with_detail(result, canary, "the canary")


def infinite_check(name: str, value: float, low: float | None, high: float | None) -> CheckResult:
    # check_threshold treats infinities as no data; but a p99 of +Inf (a quantile past the largest
    # histogram bucket) is the worst latency there is, so it must fail a max bound, not hold.
    threshold = describe_bounds("", low, high)
    text = "+Inf" if value > 0 else "-Inf"
    evidence = {"value": text, "min": low, "max": high}
    if bounds_violation(value, low, high) is not None:
        bound = high if value > 0 else low
        assert bound is not None
        sign = ">" if value > 0 else "<"
        reason = f"{name} is out of range: {text} {sign} {format_number(bound)}"
        return CheckResult(name, Verdict.FAIL, value, None, threshold, reason, evidence)
    reason = f"{name} {text} is within {threshold}"
    return CheckResult(name, Verdict.PASS, value, None, threshold, reason, evidence)


def compare_check(metric: Metric, readings: Readings) -> CheckResult:
    comparison = metric.compare
    assert comparison is not None
    primary = readings.primary or Reading(None, "the primary was not queried")
    result = check_relative(
        metric.name,
        readings.canary.value,
        primary.value,
        mode=comparison.mode,
        min=comparison.min,
        max=comparison.max,
        no_data=no_data_policy(metric),
    )
    result = with_detail(result, readings.canary, "the canary")
    return with_detail(result, primary, "the primary")


def with_detail(result: CheckResult, reading: Reading, side: str) -> CheckResult:
    """Adds why a side had no data (empty, NaN, several series) to a no-data result's reason."""
    if reading.value is not None or not reading.detail or not result.evidence.get("noData"):
        return result
    return replace(result, reason=f"{result.reason} ({side}: {reading.detail})")


def judge_config(metric: Metric, judge: Judge) -> MetricConfig:
    """The API's Judge as the classifier's MetricConfig."""
    return MetricConfig(
        name=metric.name,
        direction=Direction(judge.direction),
        nan_strategy=NanStrategy(judge.nan_strategy),
        outliers=OutlierStrategy(judge.outliers),
        tolerance=judge.tolerance,
        confidence=judge.confidence,
        effect_size=effect_size_of(judge.effect_size),
        critical=metric.critical,
        no_data=no_data_policy(metric),
    )


def judge_check(metric: Metric, judge: Judge, readings: Readings) -> CheckResult:
    """Kayenta's Mann-Whitney classification of the canary's samples against the primary's."""
    canary = readings.canary_series or Series((), "the canary's samples were not queried")
    primary = readings.primary_series or Series((), "the primary's samples were not queried")
    config = judge_config(metric, judge)
    classified = classify(config, values(primary), values(canary))
    result = classified.to_check()
    evidence = {
        **result.evidence,
        "canarySamples": len(canary.samples),
        "primarySamples": len(primary.samples),
    }
    result = replace(result, evidence=evidence)
    for series, side in ((canary, "the canary"), (primary, "the primary")):
        if not series.samples and series.detail and result.evidence.get("noData"):
            result = replace(result, reason=f"{result.reason} ({side}: {series.detail})")
    return result


def values(series: Series) -> list[float]:
    return [sample.value for sample in series.samples]


_SEVERITY = {Verdict.FAIL: 3, Verdict.HOLD: 2, Verdict.NO_DATA: 1, Verdict.PASS: 0}


def combine(name: str, checks: Sequence[tuple[str, CheckResult]]) -> CheckResult:
    """One result for a metric with several checks: the most severe verdict wins."""
    if len(checks) == 1:
        return checks[0][1]
    verdict = max((check.verdict for _, check in checks), key=_SEVERITY.__getitem__)
    return CheckResult(
        name=name,
        verdict=verdict,
        value=next((c.value for _, c in checks if c.value is not None), None),
        primary_value=next(
            (c.primary_value for _, c in checks if c.primary_value is not None), None
        ),
        threshold=" and ".join(f"{kind}: {check.threshold}" for kind, check in checks),
        reason="; ".join(f"{kind}: {check.reason}" for kind, check in checks),
        evidence={kind: check.to_dict() for kind, check in checks},
    )


def error_result(metric: Metric, kind: str, message: str) -> CheckResult:
    """A template or query error: HOLD, never the no-data policy.

    An unreachable Prometheus or a broken template says nothing about the canary, so the step
    neither advances (as `noData: pass` would) nor counts a failure (as `fail` would roll back a
    healthy release). `evidence.error` names the condition/event reason for the controller.
    """
    action = "fix the MetricTemplate" if kind == TEMPLATE_ERROR else "the check runs again"
    message = redact.text(message)  # a provider's words may echo the request's credentials
    return CheckResult(
        name=metric.name,
        verdict=Verdict.HOLD,
        value=None,
        primary_value=None,
        threshold=threshold_text(metric),
        reason=f"{message}; holding the rollout ({action})",
        evidence={"error": kind, "message": message, "critical": metric.critical},
    )


def threshold_text(metric: Metric) -> str:
    parts = []
    if metric.threshold_range is not None:
        parts.append(describe_bounds("", metric.threshold_range.min, metric.threshold_range.max))
    if metric.compare is not None:
        parts.append(describe_bounds(metric.compare.mode, metric.compare.min, metric.compare.max))
    if metric.judge is not None:
        parts.append(
            f"judge: no {metric.judge.direction} beyond tolerance {metric.judge.tolerance:g}"
        )
    return " and ".join(parts)
