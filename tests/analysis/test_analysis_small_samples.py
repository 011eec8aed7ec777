"""A judge's result agrees with its evidence: small samples, zero means, summary reasons (issue 9,
part 3)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from canary.analysis.classifier import (
    Classification,
    Direction,
    EffectSize,
    JudgeOptions,
    MetricConfig,
    MetricResult,
    classify,
)
from canary.analysis.mannwhitney import (
    exact_min_p_value,
    minimum_other_size,
    minimum_sample_size,
    search_range,
)
from canary.analysis.results import Verdict
from canary.analysis.scorer import Outcome, score

CONFIDENCES = [0.9, 0.95, 0.98, 0.99, 0.995, 0.999]


@pytest.mark.parametrize("direction", list(Direction))
def test_three_points_a_side_are_not_enough_for_98_percent_whatever_the_direction(
    direction: Direction,
) -> None:
    """Given control [10, 11, 12] and experiment [20, 21, 22] at the judge's 98%, then the
    metric is NotEnoughData, reports no interval, and says how many points would do."""
    result = classify(MetricConfig("m", direction=direction), [10, 11, 12], [20, 21, 22])

    assert result.classification is Classification.NOT_ENOUGH_DATA
    assert result.interval is None
    assert "interval" not in result.evidence
    assert "cannot go below 0.1" in result.reason
    assert "at least 5 points a side" in result.reason
    assert result.evidence["minimumSampleSize"] == 5


def test_two_points_a_side_report_no_interval_rather_than_the_search_range() -> None:
    """R's root finder falls back to the search range [8, 12] here; that is not an interval."""
    result = classify(MetricConfig("m"), [10, 11], [20, 21])

    assert result.classification is Classification.NOT_ENOUGH_DATA
    assert result.interval is None
    assert result.interval != search_range(np.array([20.0, 21.0]), np.array([10.0, 11.0]))


def test_kayentas_small_sample_labels_stay_available_as_an_option() -> None:
    options = JudgeOptions(judge_small_samples=True)
    result = classify(MetricConfig("m"), [10, 11, 12], [20, 21, 22], options)
    assert result.classification is Classification.HIGH
    assert result.interval == (8.0, 12.0)  # R's fallback: the search range


@pytest.mark.parametrize("confidence", CONFIDENCES)
def test_the_minimum_sample_size_is_where_the_exact_test_first_reaches_the_confidence(
    confidence: float,
) -> None:
    """Checked against scipy's exact Mann-Whitney U test on completely separated samples: with
    the minimum size a side it can reject at 1 - confidence, with one point less it cannot."""
    n = minimum_sample_size(confidence)
    alpha = 1 - confidence + 1e-12  # 1 - 0.9 is a hair below 0.1 in binary

    def best_p(size: int) -> float:
        low, high = np.arange(size), np.arange(size) + size
        return float(stats.mannwhitneyu(high, low, method="exact").pvalue)

    assert best_p(n) <= alpha
    assert n == 1 or best_p(n - 1) > alpha
    assert math.isclose(best_p(n), exact_min_p_value(n, n))


@pytest.mark.parametrize("confidence", CONFIDENCES)
@pytest.mark.parametrize("small", [1, 2, 3])
def test_the_other_side_can_make_up_for_a_small_one(confidence: float, small: int) -> None:
    other = minimum_other_size(small, confidence)
    assert other is not None
    alpha = 1 - confidence + 1e-12
    assert exact_min_p_value(small, other) <= alpha < exact_min_p_value(small, other - 1)


samples = st.lists(st.integers(0, 30).map(float), min_size=1, max_size=9)


@settings(max_examples=300, deadline=None)
@given(samples, samples, st.sampled_from([0.9, 0.95, 0.98]), st.sampled_from(list(Direction)))
def test_a_high_or_low_label_always_agrees_with_its_own_evidence(
    control: list[float], experiment: list[float], confidence: float, direction: Direction
) -> None:
    """High or Low only when the exact test could reach the confidence, the interval was found
    (not R's fallback), excludes 0 on the labelled side, and the p-value is below 1 - confidence;
    NotEnoughData never reports an interval."""
    config = MetricConfig("m", direction=direction, confidence=confidence)
    result = classify(config, control, experiment)
    if result.classification in (Classification.HIGH, Classification.LOW):
        evidence = result.evidence
        assert exact_min_p_value(len(experiment), len(control)) <= 1 - confidence + 1e-12
        assert evidence["intervalAchieved"] is True
        assert result.interval is not None
        lower, upper = result.interval
        assert lower > 0 if result.classification is Classification.HIGH else upper < 0
        assert isinstance(evidence["pValue"], float)
        assert evidence["pValue"] <= 1 - confidence
    if result.classification is Classification.NOT_ENOUGH_DATA:
        assert result.interval is None
        assert "interval" not in result.evidence


# The case of Kayenta's ClassifierSuite "Mann-Whitney Zero Mean: Critical Metric".
ZERO_CONTROL = [0.0] * 10
SMALL_ERRORS = [0.05, 0.05, 0.0167, 0.0167, 0.0167, 0.05, 0.0333, 0.05, 0.05, 0.1333]
CRITICAL_THRESHOLDS = EffectSize(critical_decrease=0.8, critical_increase=1.2)


def zero_mean_metric() -> MetricConfig:
    return MetricConfig(
        "errors", tolerance=0.1, confidence=0.95, critical=True, effect_size=CRITICAL_THRESHOLDS
    )


@pytest.mark.parametrize(
    ("options", "effect", "critical"),
    [
        pytest.param(JudgeOptions(), math.inf, True, id="default-as-kayentas-test-suite"),
        pytest.param(
            JudgeOptions(nan_ratio_at_zero_mean=True), math.nan, False, id="nan-ratio-option"
        ),
        pytest.param(
            JudgeOptions(nan_ratio_at_zero_mean=True, critical_when_effect_unknown=True),
            math.nan,
            True,
            id="nan-ratio-and-critical-when-unknown",
        ),
    ],
)
def test_a_zero_mean_control_makes_an_infinite_ratio_and_a_critical_high(
    options: JudgeOptions, effect: float, critical: bool
) -> None:
    result = classify(zero_mean_metric(), ZERO_CONTROL, SMALL_ERRORS, options)
    assert result.classification is Classification.HIGH
    assert result.effect_size is not None
    assert result.effect_size == effect or (math.isnan(effect) and math.isnan(result.effect_size))
    assert result.critical is critical


def test_a_zero_mean_canary_has_a_ratio_of_zero_and_a_critical_low() -> None:
    result = classify(zero_mean_metric(), SMALL_ERRORS, ZERO_CONTROL)
    assert (result.classification, result.effect_size, result.critical) == (
        Classification.LOW,
        0.0,
        True,
    )


def labelled(name: str, label: Classification, group: str) -> MetricResult:
    return MetricResult(name, label, False, "given", groups=(group,))


@pytest.mark.parametrize(
    "labels",
    [
        pytest.param({"a": [Classification.ERROR], "b": [Classification.PASS] * 2}, id="error"),
        pytest.param(
            {"a": [Classification.PASS, Classification.HIGH], "b": [Classification.PASS]},
            id="half",
        ),
        pytest.param(
            {"a": [Classification.NOT_ENOUGH_DATA], "b": [Classification.PASS] * 3},
            id="not-enough",
        ),
    ],
)
def test_the_summary_reason_quotes_the_scores_the_summary_adds_up(
    labels: dict[str, list[Classification]],
) -> None:
    results = [
        labelled(f"{group}{i}", label, group)
        for group, group_labels in labels.items()
        for i, label in enumerate(group_labels)
    ]
    summary = score(results)
    added = sum(g.effective_score * g.weight / 100 for g in summary.groups)
    assert math.isclose(summary.score, added, abs_tol=0.01)
    for group in summary.groups:
        shown = f"{group.name} {group.effective_score:g}"
        assert shown in summary.reason, (shown, summary.reason)


def test_a_judgement_of_samples_too_small_to_judge_cannot_pass() -> None:
    result = classify(MetricConfig("m"), [10, 11, 12], [20, 21, 22])
    summary = score([result])
    assert (summary.score, summary.outcome) == (0.0, Outcome.FAIL)
    assert "not enough data" in summary.reason
    # In a rollout the metric's no-data policy decides (hold by default), never a failure.
    assert result.to_check().verdict is Verdict.NO_DATA
    assert "at least 5 points a side" in result.to_check().reason
