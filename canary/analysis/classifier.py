"""Kayenta's metric classifier: Mann-Whitney interval, tolerance band and effect size -> a label.

The rules, in order (argo-kayenta.md section 7):

1. No data on either side after preprocessing: with nanStrategy remove, ``NodataFailMetric`` when
   the metric must have data and is not critical, else ``Nodata`` (critical if the metric is);
   with nanStrategy replace, ``Pass``.
2. Equal samples (sorted), or a single distinct value across both, ``Pass``.
3. Each side constant but different: Gaussian noise with sd 1e-5 * |value| breaks the ties.
   Kayenta draws it from an unseeded global Random; we seed it (``noise_seed``) to stay
   deterministic.
4. Not in Kayenta: when the samples are too small for the exact test to reach the confidence
   whatever the data (2 / C(n_exp + n_ctl, n_exp) > 1 - confidence), or the interval is R's
   fallback to the search range (the confidence is not achievable), ``NotEnoughData``, with the
   minimum sample size in the reason: never High or Low on evidence that cannot support it.
5. The interval and Hodges-Lehmann estimate of experiment - control (``mannwhitney``).
6. The tolerance band is +/- tolerance * |estimate|; the effect size is mean(exp)/mean(ctl) or
   the common-language effect size P(exp > ctl) + P(exp = ctl)/2. A control mean of 0 gives a
   ratio of +inf (-inf) for a positive (negative) experiment mean, an experiment mean of 0 a
   ratio of 0, both 0 NaN; Kayenta's meanRatio says NaN whenever a mean is 0, but its own test
   suite ("Zero Mean: Critical Metric") wants such a High flagged critical, which +inf gives.
7. ``High`` when the direction allows an increase, the interval's lower end is above the band and
   the effect is NaN or >= allowedIncrease; ``Low`` mirrors it; otherwise ``Pass``. A failure to
   compute gives ``Error``.
8. A critical metric's result is flagged critical when High with effect >= criticalIncrease, Low
   with effect <= criticalDecrease, or Nodata.

Deliberate departures are options on ``JudgeOptions``; the defaults follow Kayenta's answers
(docs/internals/judge-small-samples.md).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Protocol

import numpy as np

from canary.analysis.mannwhitney import (
    R_ROOT_FINDER,
    FloatArray,
    MannWhitneyError,
    MannWhitneyResult,
    RootFinder,
    exact_min_p_value,
    minimum_other_size,
    minimum_sample_size,
    reaches,
    wilcox_test,
)
from canary.analysis.preprocess import NanStrategy, OutlierStrategy, preprocess
from canary.analysis.results import CheckResult, Verdict, format_number, json_safe
from canary.analysis.thresholds import NoDataPolicy, no_data_result

NOISE_SCALE = 1e-5


class Classification(StrEnum):
    PASS = "Pass"
    HIGH = "High"
    LOW = "Low"
    NODATA = "Nodata"
    NODATA_FAIL_METRIC = "NodataFailMetric"
    NOT_ENOUGH_DATA = "NotEnoughData"
    """Too few points for the requested confidence: neither a pass nor a regression."""
    ERROR = "Error"


class Direction(StrEnum):
    """Which change counts against the canary: a rise, a fall, or either."""

    INCREASE = "increase"
    DECREASE = "decrease"
    EITHER = "either"


class EffectMeasure(StrEnum):
    MEAN_RATIO = "meanRatio"
    CLES = "cles"


NEUTRAL_EFFECT = {EffectMeasure.MEAN_RATIO: 1.0, EffectMeasure.CLES: 0.5}


@dataclass(frozen=True)
class EffectSize:
    """The effect-size gate; thresholds left as None take Kayenta's defaults (1.0, or 0.5 for
    CLES), which means "any increase/decrease in the effect's direction"."""

    measure: EffectMeasure = EffectMeasure.MEAN_RATIO
    allowed_increase: float | None = None
    allowed_decrease: float | None = None
    critical_increase: float | None = None
    critical_decrease: float | None = None

    def threshold(self, value: float | None) -> float:
        return NEUTRAL_EFFECT[self.measure] if value is None else value


class EffectBounds(Protocol):
    """Anything that states effect-size bounds (the API's Judge, the judge CLI's input)."""

    @property
    def measure(self) -> str: ...
    @property
    def allowed_increase(self) -> float | None: ...
    @property
    def allowed_decrease(self) -> float | None: ...
    @property
    def critical_increase(self) -> float | None: ...
    @property
    def critical_decrease(self) -> float | None: ...


def effect_size_of(bounds: EffectBounds | None) -> EffectSize:
    """The classifier's EffectSize from stated bounds; Kayenta's defaults when none are given."""
    if bounds is None:
        return EffectSize()
    return EffectSize(
        measure=EffectMeasure(bounds.measure),
        allowed_increase=bounds.allowed_increase,
        allowed_decrease=bounds.allowed_decrease,
        critical_increase=bounds.critical_increase,
        critical_decrease=bounds.critical_decrease,
    )


@dataclass(frozen=True)
class JudgeOptions:
    """Where we differ from Kayenta on purpose. The defaults reproduce Kayenta (and R)."""

    root_finder: RootFinder = R_ROOT_FINDER
    """R's uniroot (absolute 1e-4 tolerance), or ``SCALE_AWARE_ROOT_FINDER``: the exact jump."""
    estimate_correction: bool = False
    """Keep the continuity correction for the estimate, as Kayenta's port does (R drops it)."""
    critical_when_effect_unknown: bool = False
    """Flag a critical High/Low whose effect is NaN (both means 0, or with
    ``nan_ratio_at_zero_mean``) as critical."""
    nan_ratio_at_zero_mean: bool = False
    """Kayenta's meanRatio: NaN when either mean is 0, which then never makes a result critical
    unless ``critical_when_effect_unknown`` (the behaviour before issue 9). By default a zero
    control mean gives +/-inf and a zero experiment mean 0, as the ratio is."""
    judge_small_samples: bool = False
    """Label samples too small for the confidence as Kayenta does (High/Low from R's fallback
    interval, the search range) instead of ``NotEnoughData``."""
    critical_on_error: bool = False
    """Flag a critical metric that could not be computed (Error) as critical."""
    noise_seed: int = 0
    """Seed for the tie-breaking noise of step 3 (Kayenta's is unseeded)."""


DEFAULT_OPTIONS = JudgeOptions()


@dataclass(frozen=True)
class MetricConfig:
    """One metric's judge settings, with the judge's defaults (tolerance 0.25, confidence 0.98)."""

    name: str
    direction: Direction = Direction.EITHER
    nan_strategy: NanStrategy = NanStrategy.REMOVE
    outliers: OutlierStrategy = OutlierStrategy.KEEP
    tolerance: float = 0.25
    confidence: float = 0.98
    effect_size: EffectSize = field(default_factory=EffectSize)
    critical: bool = False
    must_have_data: bool = False
    groups: tuple[str, ...] = ()
    muted: bool = False
    no_data: NoDataPolicy = NoDataPolicy.HOLD
    """What ``to_check`` makes of Nodata; the Kayenta score ignores it."""


@dataclass(frozen=True)
class MetricResult:
    """A classified metric with everything that led to the label."""

    name: str
    classification: Classification
    critical: bool
    reason: str
    interval: tuple[float, float] | None = None
    estimate: float | None = None
    effect_size: float | None = None
    groups: tuple[str, ...] = ()
    muted: bool = False
    no_data: NoDataPolicy = NoDataPolicy.HOLD
    evidence: Mapping[str, object] = field(default_factory=dict)

    def to_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "classification": self.classification.value,
            "critical": self.critical,
            "interval": json_safe(self.interval),
            "estimate": json_safe(self.estimate),
            "effectSize": json_safe(self.effect_size),
            "reason": self.reason,
            "groups": list(self.groups),
            "evidence": json_safe(self.evidence),
        }

    def to_check(self) -> CheckResult:
        """Pass -> PASS; High, Low, NodataFailMetric -> FAIL; Nodata and NotEnoughData -> the
        no-data policy;
        Error -> HOLD (nothing was learnt, so neither advance nor count a failure)."""
        if self.classification is Classification.NODATA:
            return no_data_result(self.name, self.no_data, threshold=self.band(), missing="a side")
        if self.classification is Classification.NOT_ENOUGH_DATA:
            check = no_data_result(
                self.name, self.no_data, threshold=self.band(), missing="enough points"
            )
            policy = check.reason.split("; ", 1)[-1]  # what the no-data policy makes of it
            reason = f"{self.reason}; {policy}"
            evidence = {
                **check.evidence,
                **self.evidence,
                "classification": self.classification.value,
            }
            return replace(check, reason=reason, evidence=evidence)
        verdict = {
            Classification.PASS: Verdict.PASS,
            Classification.HIGH: Verdict.FAIL,
            Classification.LOW: Verdict.FAIL,
            Classification.NODATA_FAIL_METRIC: Verdict.FAIL,
            Classification.ERROR: Verdict.HOLD,
        }[self.classification]
        means = self.evidence.get("means")
        experiment_mean = control_mean = None
        if isinstance(means, Mapping):
            experiment_mean, control_mean = means.get("experiment"), means.get("control")
        return CheckResult(
            name=self.name,
            verdict=verdict,
            value=experiment_mean if isinstance(experiment_mean, float) else None,
            primary_value=control_mean if isinstance(control_mean, float) else None,
            threshold=self.band(),
            reason=self.reason,
            evidence={**self.evidence, "classification": self.classification.value},
        )

    def band(self) -> str:
        bounds = self.evidence.get("bounds")
        if isinstance(bounds, (list, tuple)) and len(bounds) == 2:
            low, high = (format_number(float(b)) for b in bounds)
            return f"interval of canary - baseline overlaps [{low}, {high}]"
        return "canary and baseline indistinguishable (Mann-Whitney)"


def classify(
    config: MetricConfig,
    control: Sequence[float] | FloatArray,
    experiment: Sequence[float] | FloatArray,
    options: JudgeOptions = DEFAULT_OPTIONS,
) -> MetricResult:
    """Classify one metric the way Kayenta's judge does."""
    ctl = preprocess(control, config.nan_strategy, config.outliers)
    exp = preprocess(experiment, config.nan_strategy, config.outliers)
    evidence: dict[str, object] = {
        "controlSize": len(control),
        "experimentSize": len(experiment),
        "controlUsed": int(ctl.size),
        "experimentUsed": int(exp.size),
    }
    if ctl.size == 0 or exp.size == 0:
        return classify_missing(config, ctl.size == 0, exp.size == 0, evidence)
    evidence["means"] = {"control": float(ctl.mean()), "experiment": float(exp.mean())}
    if np.array_equal(np.sort(ctl), np.sort(exp)):
        return result(
            config,
            Classification.PASS,
            "the canary and baseline data are identical",
            evidence,
            effect=NEUTRAL_EFFECT[config.effect_size.measure],
        )
    if np.unique(np.concatenate((ctl, exp))).size == 1:
        return result(
            config,
            Classification.PASS,
            "every observation has the same value",
            evidence,
            effect=NEUTRAL_EFFECT[config.effect_size.measure],
        )
    try:
        return compare(config, ctl, exp, options, evidence)
    except (MannWhitneyError, ValueError, ArithmeticError) as error:
        critical = config.critical and options.critical_on_error
        return result(
            config,
            Classification.ERROR,
            f"could not classify: {error}",
            evidence,
            critical=critical,
        )


def classify_missing(
    config: MetricConfig, no_control: bool, no_experiment: bool, evidence: dict[str, object]
) -> MetricResult:
    """Step 1: no data on one side or both."""
    sides = [side for side, empty in (("baseline", no_control), ("canary", no_experiment)) if empty]
    missing = " and ".join(sides)
    if config.nan_strategy is NanStrategy.REPLACE:
        return result(
            config,
            Classification.PASS,
            f"no data for the {missing}; NaNs are replaced, so no data is a pass",
            evidence,
        )
    if config.must_have_data and not config.critical:
        return result(
            config,
            Classification.NODATA_FAIL_METRIC,
            f"no data for the {missing}, and this metric must have data",
            evidence,
        )
    return result(
        config,
        Classification.NODATA,
        f"no data for the {missing}",
        evidence,
        critical=config.critical,
    )


def compare(
    config: MetricConfig,
    ctl: FloatArray,
    exp: FloatArray,
    options: JudgeOptions,
    evidence: dict[str, object],
) -> MetricResult:
    """Steps 3 to 7: the test, the band, the effect size and the label."""
    effect = effect_size(
        config.effect_size.measure, ctl, exp, nan_at_zero=options.nan_ratio_at_zero_mean
    )
    if not options.judge_small_samples and not reaches(config.confidence, exp.size, ctl.size):
        evidence["minExactPValue"] = exact_min_p_value(exp.size, ctl.size)
        return not_enough_data(config, exp.size, ctl.size, evidence, effect)
    test_ctl, test_exp, noised = break_constant_ties(ctl, exp, options.noise_seed)
    test = wilcox_test(
        test_exp,
        test_ctl,
        confidence=config.confidence,
        root_finder=options.root_finder,
        estimate_correction=options.estimate_correction,
    )
    half_width = config.tolerance * abs(test.estimate)
    evidence.update(test.to_evidence())
    evidence.update(
        {
            "bounds": [-half_width, half_width],
            "tolerance": config.tolerance,
            "effectMeasure": config.effect_size.measure.value,
            "effectSize": effect,
            "noiseAdded": noised,
        }
    )
    if not test.interval_achieved and not options.judge_small_samples:
        # Ties can leave the normal approximation short of the confidence even when the exact
        # bound allows it: the interval would be the search range, which proves nothing.
        return not_enough_data(config, exp.size, ctl.size, evidence, effect, tied=True)
    label = label_for(config, test, half_width, effect)
    critical = config.critical and is_critical(config, label, effect, options)
    return result(
        config,
        label,
        reason_for(config, label, test, half_width, effect),
        evidence,
        critical=critical,
        interval=test.interval,
        estimate=test.estimate,
        effect=effect,
    )


def not_enough_data(
    config: MetricConfig,
    n_experiment: int,
    n_control: int,
    evidence: dict[str, object],
    effect: float,
    *,
    tied: bool = False,
) -> MetricResult:
    """NotEnoughData, with what the samples can reach and the sample size that would do."""
    confidence = format_number(100 * config.confidence)
    smallest = minimum_sample_size(config.confidence)
    other = minimum_other_size(min(n_experiment, n_control), config.confidence)
    need = f"at least {smallest} points a side"
    if other is not None and other != smallest and min(n_experiment, n_control) < smallest:
        need += f" (or {min(n_experiment, n_control)} against {other})"
    floor = format_number(exact_min_p_value(n_experiment, n_control))
    if tied:
        why = (
            f"with these ties no {confidence}% interval of canary - baseline excludes any "
            "shift (the requested confidence is not achievable)"
        )
    else:
        why = (
            f"the exact two-sided p-value cannot go below {floor}, so no {confidence}% interval "
            "of canary - baseline can exclude 0"
        )
    evidence["minimumSampleSize"] = smallest
    # R's fallback "interval" is the search range: reporting it would claim what it cannot.
    evidence.pop("interval", None)
    evidence.pop("bounds", None)
    return result(
        config,
        Classification.NOT_ENOUGH_DATA,
        f"not enough data: {n_experiment} canary and {n_control} baseline points: {why}; "
        f"{need} are needed",
        evidence,
        effect=effect,
    )


def effect_size(
    measure: EffectMeasure, ctl: FloatArray, exp: FloatArray, *, nan_at_zero: bool = False
) -> float:
    """The mean ratio mean(exp) / mean(ctl), or the CLES (see the module docstring for zeros)."""
    if measure is EffectMeasure.CLES:
        return common_language_effect_size(ctl, exp)
    control_mean, experiment_mean = float(ctl.mean()), float(exp.mean())
    if nan_at_zero and (control_mean == 0.0 or experiment_mean == 0.0):
        return math.nan
    if control_mean == 0.0:
        return math.nan if experiment_mean == 0.0 else math.copysign(math.inf, experiment_mean)
    return experiment_mean / control_mean


def common_language_effect_size(ctl: FloatArray, exp: FloatArray) -> float:
    """P(experiment > control) + P(experiment == control) / 2 over all pairs, in O(n log n)."""
    sorted_ctl = np.sort(ctl)
    below = np.searchsorted(sorted_ctl, exp, side="left")
    at_or_below = np.searchsorted(sorted_ctl, exp, side="right")
    wins = float(below.sum()) + 0.5 * float((at_or_below - below).sum())
    return wins / (ctl.size * exp.size)


def break_constant_ties(
    ctl: FloatArray, exp: FloatArray, seed: int
) -> tuple[FloatArray, FloatArray, bool]:
    """Step 3: two constant but different sides get seeded noise of sd 1e-5 * |value|."""
    if np.unique(ctl).size != 1 or np.unique(exp).size != 1:
        return ctl, exp, False
    rng = np.random.default_rng(seed)
    noisy_ctl = ctl + rng.normal(0.0, NOISE_SCALE * abs(float(ctl[0])), ctl.size)
    noisy_exp = exp + rng.normal(0.0, NOISE_SCALE * abs(float(exp[0])), exp.size)
    return noisy_ctl, noisy_exp, True


def allows(direction: Direction, wanted: Direction) -> bool:
    return direction is wanted or direction is Direction.EITHER


def label_for(
    config: MetricConfig, test: MannWhitneyResult, half_width: float, effect: float
) -> Classification:
    """Step 6: High, Low or Pass."""
    gate = config.effect_size
    lower, upper = test.interval
    if (
        allows(config.direction, Direction.INCREASE)
        and lower > half_width
        and (math.isnan(effect) or effect >= gate.threshold(gate.allowed_increase))
    ):
        return Classification.HIGH
    if (
        allows(config.direction, Direction.DECREASE)
        and upper < -half_width
        and (math.isnan(effect) or effect <= gate.threshold(gate.allowed_decrease))
    ):
        return Classification.LOW
    return Classification.PASS


def is_critical(
    config: MetricConfig, label: Classification, effect: float, options: JudgeOptions
) -> bool:
    """Step 7 for a critical metric: does this High/Low reach the critical effect size?"""
    gate = config.effect_size
    if math.isnan(effect):
        return label in (Classification.HIGH, Classification.LOW) and (
            options.critical_when_effect_unknown
        )
    if label is Classification.HIGH:
        return effect >= gate.threshold(gate.critical_increase)
    if label is Classification.LOW:
        return effect <= gate.threshold(gate.critical_decrease)
    return False


def reason_for(
    config: MetricConfig,
    label: Classification,
    test: MannWhitneyResult,
    half_width: float,
    effect: float,
) -> str:
    lower, upper = (format_number(v) for v in test.interval)
    confidence = format_number(100 * config.confidence)
    shift = (
        f"the {confidence}% interval of canary - baseline is [{lower}, {upper}] "
        f"(estimate {format_number(test.estimate)}, tolerance band +/-{format_number(half_width)})"
    )
    measure = config.effect_size.measure.value
    effect_text = (
        f"{measure} {format_number(effect)}" if not math.isnan(effect) else f"{measure} n/a"
    )
    if label is Classification.HIGH:
        return f"the canary is higher: {shift}, {effect_text}"
    if label is Classification.LOW:
        return f"the canary is lower: {shift}, {effect_text}"
    return f"no significant difference in the judged direction: {shift}, {effect_text}"


def result(
    config: MetricConfig,
    label: Classification,
    reason: str,
    evidence: Mapping[str, object],
    *,
    critical: bool = False,
    interval: tuple[float, float] | None = None,
    estimate: float | None = None,
    effect: float | None = None,
) -> MetricResult:
    return MetricResult(
        name=config.name,
        classification=label,
        critical=critical,
        reason=reason,
        interval=interval,
        estimate=estimate,
        effect_size=effect,
        groups=config.groups,
        muted=config.muted,
        no_data=config.no_data,
        evidence=evidence,
    )


def preclassified(
    config: MetricConfig, label: Classification, options: JudgeOptions = DEFAULT_OPTIONS
) -> MetricResult:
    """A result judged elsewhere, scored as Kayenta would: critical if the metric is critical and
    the label is High, Low or Nodata (or Error, with ``critical_on_error``)."""
    failing = {Classification.HIGH, Classification.LOW, Classification.NODATA}
    if options.critical_on_error:
        failing.add(Classification.ERROR)
    return result(
        config,
        label,
        f"classified {label.value} elsewhere",
        {"preclassified": True},
        critical=config.critical and label in failing,
    )
