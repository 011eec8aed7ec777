"""Kayenta's weighted-sum scorer: group scores, critical and no-data overrides, Pass/Marginal/Fail.

Rules, in order (argo-kayenta.md section 7):

1. Muted metrics are dropped.
2. A group's score is Pass / (Pass + High + Low + NodataFailMetric) * 100; Nodata, NotEnoughData
   and Error are not counted. A group with nothing to count shows 0 but counts as 100 in the
   summary (the reason says so, rather than quoting the 0 next to a summary of 100).
3. Any result flagged critical that is not Pass makes the summary 0.
4. 50% or more Nodata results make the summary 0; NotEnoughData (not in Kayenta) counts with
   Nodata here, so a judgement made of samples too small to judge cannot pass.
5. Otherwise the summary is the sum of group score * weight / 100. Groups without a weight share
   100 minus the given weights equally; nothing is renormalised; round half up to 2 decimals.
6. Pass at or above the pass threshold, Marginal at or above the marginal one, else Fail.

Metrics without a group are scored in a group named "default" (Kayenta requires a group).
Kayenta has no default thresholds; ours are 95 (pass) and 75 (marginal), from its examples.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum

from canary.analysis.classifier import Classification, MetricResult
from canary.analysis.results import CheckResult, Verdict, format_number

DEFAULT_GROUP = "default"
NODATA_LIMIT_PERCENT = 50.0
COUNTED = (
    Classification.PASS,
    Classification.HIGH,
    Classification.LOW,
    Classification.NODATA_FAIL_METRIC,
)
WITHOUT_DATA = (Classification.NODATA, Classification.NOT_ENOUGH_DATA)


class Outcome(StrEnum):
    PASS = "Pass"
    MARGINAL = "Marginal"
    FAIL = "Fail"


@dataclass(frozen=True)
class ScoreThresholds:
    passing: float = 95.0
    marginal: float = 75.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.marginal <= self.passing <= 100.0:
            raise ValueError(
                f"need 0 <= marginal <= pass <= 100, got marginal {self.marginal} "
                f"and pass {self.passing}"
            )

    def outcome(self, score: float) -> Outcome:
        if score >= self.passing:
            return Outcome.PASS
        if score >= self.marginal:
            return Outcome.MARGINAL
        return Outcome.FAIL


DEFAULT_THRESHOLDS = ScoreThresholds()


@dataclass(frozen=True)
class GroupScore:
    name: str
    score: float
    """Shown score: 0 when nothing in the group could be counted."""
    no_data: bool
    weight: float
    counts: Mapping[str, int] = field(default_factory=dict)

    @property
    def effective_score(self) -> float:
        """What the summary uses: a group with nothing to count counts as 100."""
        return 100.0 if self.no_data else self.score

    def to_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "score": self.score,
            "noData": self.no_data,
            "weight": self.weight,
            "counts": dict(self.counts),
        }


@dataclass(frozen=True)
class ScoreResult:
    score: float
    outcome: Outcome
    reason: str
    groups: tuple[GroupScore, ...]
    thresholds: ScoreThresholds

    def to_check(self, name: str = "kayenta-judge") -> CheckResult:
        """Pass -> PASS, Marginal -> HOLD, Fail -> FAIL."""
        verdict = {
            Outcome.PASS: Verdict.PASS,
            Outcome.MARGINAL: Verdict.HOLD,
            Outcome.FAIL: Verdict.FAIL,
        }[self.outcome]
        return CheckResult(
            name=name,
            verdict=verdict,
            value=self.score,
            primary_value=None,
            threshold=(
                f"score >= {format_number(self.thresholds.passing)} "
                f"(marginal >= {format_number(self.thresholds.marginal)})"
            ),
            reason=self.reason,
            evidence={"groups": [group.to_dict() for group in self.groups]},
        )


def score(
    results: Sequence[MetricResult],
    group_weights: Mapping[str, float] | None = None,
    thresholds: ScoreThresholds = DEFAULT_THRESHOLDS,
) -> ScoreResult:
    """Score a set of classified metrics the way Kayenta's WeightedSumScorer does."""
    weights = dict(group_weights or {})
    validate_weights(weights)
    scored = [r for r in results if not r.muted]
    groups = group_scores(scored, weights)
    summary, reason = summary_score(scored, groups)
    outcome = thresholds.outcome(summary)
    return ScoreResult(summary, outcome, f"{outcome.value}: {reason}", groups, thresholds)


def validate_weights(weights: Mapping[str, float]) -> None:
    """Weights are percentages; more than 100 in total would push the score above 100."""
    negative = sorted(name for name, weight in weights.items() if weight < 0)
    if negative:
        raise ValueError(f"group weights must be >= 0: {', '.join(negative)}")
    if sum(weights.values()) > 100.0 + 1e-9:
        raise ValueError(f"group weights add up to {sum(weights.values())}, more than 100")


def group_scores(
    results: Sequence[MetricResult], weights: Mapping[str, float]
) -> tuple[GroupScore, ...]:
    labels: dict[str, list[Classification]] = {}
    for metric in results:
        for group in metric.groups or (DEFAULT_GROUP,):
            labels.setdefault(group, []).append(metric.classification)
    unweighted = [name for name in labels if name not in weights]
    shared = (100.0 - sum(weights.values())) / len(unweighted) if unweighted else 0.0
    return tuple(
        one_group(name, group_labels, weights.get(name, shared))
        for name, group_labels in labels.items()
    )


def one_group(name: str, labels: Sequence[Classification], weight: float) -> GroupScore:
    counts = Counter(label.value for label in labels)
    counted = sum(counts[label.value] for label in COUNTED)
    passed = counts[Classification.PASS.value]
    shown = 100.0 * passed / counted if counted else 0.0
    return GroupScore(name, shown, counted == 0, weight, dict(counts))


def summary_score(
    results: Sequence[MetricResult], groups: Sequence[GroupScore]
) -> tuple[float, str]:
    """Rules 3 to 5, with the reason in words."""
    if not results:
        return 0.0, "no metrics to score"
    failed_critical = [
        r.name for r in results if r.critical and r.classification is not Classification.PASS
    ]
    if failed_critical:
        return 0.0, f"critical metric failed: {', '.join(failed_critical)}"
    nodata = sum(r.classification in WITHOUT_DATA for r in results)
    if 100.0 * nodata / len(results) >= NODATA_LIMIT_PERCENT:
        return 0.0, (
            f"{nodata} of {len(results)} metrics have no data or not enough data (50% or more)"
        )
    total = sum(group.effective_score * group.weight / 100.0 for group in groups)
    summary = round_half_up(total)
    parts = ", ".join(group_part(g) for g in groups)
    return summary, f"score {format_number(summary)} from groups ({parts})"


def group_part(group: GroupScore) -> str:
    """A group as the summary counts it: its score and weight, or why it counts as 100."""
    weight = f"weight {format_number(group.weight)}"
    if group.no_data:
        return f"{group.name} 100 ({weight}; nothing counted, so Kayenta counts it as 100)"
    return f"{group.name} {format_number(group.score)} ({weight})"


def round_half_up(value: float, places: int = 2) -> float:
    """Round like Kayenta's MathUtils.round: the decimal text of the double, half up."""
    quantum = Decimal(1).scaleb(-places)
    return float(Decimal(repr(value)).quantize(quantum, rounding=ROUND_HALF_UP))
