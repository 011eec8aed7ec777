"""The Kayenta-compatible judge in one call: classify every metric, then score the set."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from canary.analysis.classifier import (
    DEFAULT_OPTIONS,
    Classification,
    JudgeOptions,
    MetricConfig,
    MetricResult,
    classify,
    preclassified,
)
from canary.analysis.scorer import DEFAULT_THRESHOLDS, ScoreResult, ScoreThresholds, score


@dataclass(frozen=True)
class MetricInput:
    """A metric's samples, or a classification made elsewhere (which then wins)."""

    config: MetricConfig
    control: Sequence[float] = ()
    experiment: Sequence[float] = ()
    classification: Classification | None = None


@dataclass(frozen=True)
class Judgement:
    metrics: tuple[MetricResult, ...]
    summary: ScoreResult

    def to_dict(self) -> dict[str, object]:
        return {
            "metrics": [metric.to_dict() for metric in self.metrics],
            "score": self.summary.score,
            "result": self.summary.outcome.value,
            "reason": self.summary.reason,
            "groups": [group.to_dict() for group in self.summary.groups],
        }


def judge(
    metrics: Sequence[MetricInput],
    group_weights: Mapping[str, float] | None = None,
    thresholds: ScoreThresholds = DEFAULT_THRESHOLDS,
    options: JudgeOptions = DEFAULT_OPTIONS,
) -> Judgement:
    """Classify each metric (or take its given classification) and score the lot."""
    results = tuple(classify_input(metric, options) for metric in metrics)
    return Judgement(results, score(results, group_weights, thresholds))


def classify_input(metric: MetricInput, options: JudgeOptions) -> MetricResult:
    if metric.classification is not None:
        return preclassified(metric.config, metric.classification, options)
    return classify(metric.config, metric.control, metric.experiment, options)
