"""Turns one configured Metric and its measurements into one CheckResult (pure)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from canary.analysis.classifier import (
    Direction,
    EffectMeasure,
    EffectSize,
    MetricConfig,
    classify,
)
from canary.analysis.preprocess import NanStrategy, OutlierStrategy
from canary.analysis.results import CheckResult, Verdict
from canary.analysis.thresholds import NoDataPolicy, check_relative, check_threshold
from canary.api.canary import Metric

_SEVERITY = {Verdict.PASS: 0, Verdict.HOLD: 1, Verdict.NO_DATA: 2, Verdict.FAIL: 3}


@dataclass(frozen=True)
class Measurement:
    """What a metric provider measured for one metric over its interval."""

    canary: float | None
    primary: float | None = None
    canary_samples: Sequence[float] = field(default_factory=tuple)
    primary_samples: Sequence[float] = field(default_factory=tuple)


def evaluate_metric(metric: Metric, measured: Measurement) -> CheckResult:
    """Every check configured on the metric, combined: the worst verdict decides."""
    policy = NoDataPolicy(metric.no_data.value)
    parts: list[CheckResult] = []
    if metric.threshold_range is not None:
        bounds = metric.threshold_range
        parts.append(
            check_threshold(metric.name, measured.canary, bounds.min, bounds.max, no_data=policy)
        )
    if metric.compare is not None:
        parts.append(
            check_relative(
                metric.name,
                measured.canary,
                measured.primary,
                mode=metric.compare.mode,
                min=metric.compare.min,
                max=metric.compare.max,
                no_data=policy,
            )
        )
    if metric.judge is not None:
        parts.append(judge(metric, measured))
    return combine(metric.name, parts, measured)


def judge(metric: Metric, measured: Measurement) -> CheckResult:
    """Kayenta's Mann-Whitney comparison of the canary's samples with the primary's."""
    settings = metric.judge
    assert settings is not None
    effect = settings.effect_size
    config = MetricConfig(
        name=metric.name,
        direction=Direction(settings.direction),
        nan_strategy=NanStrategy(settings.nan_strategy),
        outliers=OutlierStrategy(settings.outliers),
        tolerance=settings.tolerance,
        confidence=settings.confidence,
        effect_size=EffectSize(
            measure=EffectMeasure(effect.measure),
            allowed_increase=effect.allowed_increase,
            allowed_decrease=effect.allowed_decrease,
            critical_increase=effect.critical_increase,
            critical_decrease=effect.critical_decrease,
        )
        if effect is not None
        else EffectSize(),
        critical=metric.critical,
        no_data=NoDataPolicy(metric.no_data.value),
    )
    return classify(config, measured.primary_samples, measured.canary_samples).to_check()


def combine(name: str, parts: Sequence[CheckResult], measured: Measurement) -> CheckResult:
    """One result from several checks of the same metric."""
    if len(parts) == 1:
        return parts[0]
    worst = max(parts, key=lambda part: _SEVERITY[part.verdict])
    deciding = [p for p in parts if p.verdict == worst.verdict]
    return CheckResult(
        name=name,
        verdict=worst.verdict,
        value=measured.canary,
        primary_value=measured.primary,
        threshold=" and ".join(p.threshold for p in parts),
        reason="; ".join(p.reason for p in deciding),
        evidence={f"check{index}": dict(p.evidence) for index, p in enumerate(parts)},
    )
