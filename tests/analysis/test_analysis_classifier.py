"""Every classification path of the Kayenta-compatible classifier, with worked examples."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pytest

from canary.analysis.classifier import (
    Classification,
    Direction,
    EffectMeasure,
    EffectSize,
    JudgeOptions,
    MetricConfig,
    classify,
    common_language_effect_size,
    preclassified,
)
from canary.analysis.preprocess import (
    NanStrategy,
    OutlierStrategy,
    handle_nans,
    outlier_fences,
    remove_outliers,
)
from canary.analysis.results import Verdict
from canary.analysis.thresholds import NoDataPolicy

BASE = list(np.arange(0.0, 40.0))
# Shifted by 12: the 98% interval is about [5, 19] around the estimate 12, clear of the
# tolerance band +/-3, so the shift counts.
UP = [v + 12 for v in BASE]
DOWN = [v - 12 for v in BASE]
# Shifted by 8: significant (p = 0.0057, 98% interval [1.00004, 14.99996]) but the lower end
# is inside the band +/-0.25*8 = +/-2, so Kayenta lets it pass.
SMALL_UP = [v + 8 for v in BASE]
# The control's mean is 0, so the mean ratio is NaN, which never blocks High or Low.
ZERO_MEAN = [-1.0, 1.0] * 10
ZERO_MEAN_UP = [v + 10 for v in ZERO_MEAN]


def config(**changes: object) -> MetricConfig:
    return MetricConfig(name="metric", **changes)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("settings", "control", "experiment", "label", "critical"),
    [
        pytest.param({}, BASE, [], Classification.NODATA, False, id="no-experiment-data"),
        pytest.param({}, [], BASE, Classification.NODATA, False, id="no-control-data"),
        pytest.param({}, [math.nan] * 3, BASE, Classification.NODATA, False, id="all-nan-removed"),
        pytest.param(
            {"critical": True}, BASE, [], Classification.NODATA, True, id="critical-no-data"
        ),
        pytest.param(
            {"must_have_data": True}, BASE, [], Classification.NODATA_FAIL_METRIC, False,
            id="must-have-data",
        ),
        pytest.param(
            {"must_have_data": True, "critical": True}, BASE, [], Classification.NODATA, True,
            id="must-have-data-but-critical-is-critical-nodata",
        ),
        pytest.param(
            {"nan_strategy": NanStrategy.REPLACE}, [], [], Classification.PASS, False,
            id="replace-strategy-empty-passes",
        ),
        pytest.param(
            {"nan_strategy": NanStrategy.REPLACE}, [math.nan] * 4, [0.0, 0.0], Classification.PASS,
            False, id="replaced-nans-are-zeros",
        ),
        pytest.param({}, [3.0, 1.0, 2.0], [1.0, 2.0, 3.0], Classification.PASS, False,
                     id="identical-after-sorting"),
        pytest.param({}, [5.0, 5.0], [5.0, 5.0, 5.0], Classification.PASS, False,
                     id="one-distinct-value"),
        pytest.param({}, BASE, UP, Classification.HIGH, False, id="high"),
        pytest.param({"direction": Direction.INCREASE}, BASE, UP, Classification.HIGH, False,
                     id="high-when-increase-is-judged"),
        pytest.param({"direction": Direction.DECREASE}, BASE, UP, Classification.PASS, False,
                     id="an-increase-passes-when-only-decreases-count"),
        pytest.param({}, BASE, DOWN, Classification.LOW, False, id="low"),
        pytest.param({"direction": Direction.INCREASE}, BASE, DOWN, Classification.PASS, False,
                     id="a-decrease-passes-when-only-increases-count"),
        pytest.param({}, BASE, SMALL_UP, Classification.PASS, False,
                     id="significant-but-inside-the-tolerance-band"),
        pytest.param({"tolerance": 0.05}, BASE, SMALL_UP, Classification.HIGH, False,
                     id="a-narrower-band-catches-it"),
        pytest.param(
            {"effect_size": EffectSize(allowed_increase=2.0)}, BASE, UP, Classification.PASS,
            False, id="effect-below-allowed-increase-passes",
        ),
        pytest.param(
            {"effect_size": EffectSize(allowed_decrease=0.1)}, BASE, DOWN, Classification.PASS,
            False, id="effect-above-allowed-decrease-passes",
        ),
        pytest.param({}, ZERO_MEAN, ZERO_MEAN_UP, Classification.HIGH, False,
                     id="nan-effect-does-not-block-high"),
        pytest.param({"confidence": 1.0}, BASE, UP, Classification.ERROR, False,
                     id="uncomputable-is-error"),
        pytest.param({"critical": True}, BASE, UP, Classification.HIGH, True,
                     id="critical-high-reaching-critical-increase"),
        pytest.param(
            {"critical": True, "effect_size": EffectSize(critical_increase=5.0)}, BASE, UP,
            Classification.HIGH, False, id="critical-high-below-critical-increase",
        ),
        pytest.param({"critical": True}, BASE, DOWN, Classification.LOW, True,
                     id="critical-low-reaching-critical-decrease"),
        pytest.param(
            {"critical": True, "effect_size": EffectSize(critical_decrease=0.01)}, BASE, DOWN,
            Classification.LOW, False, id="critical-low-above-critical-decrease",
        ),
        pytest.param({"critical": True}, ZERO_MEAN, ZERO_MEAN_UP, Classification.HIGH, True,
                     id="critical-high-from-a-zero-mean-control-is-critical-as-in-kayenta"),
        pytest.param({"critical": True}, BASE, BASE[::-1], Classification.PASS, False,
                     id="critical-pass-is-not-critical"),
    ],
)  # fmt: skip
def test_classification_paths(
    settings: dict[str, object],
    control: Sequence[float],
    experiment: Sequence[float],
    label: Classification,
    critical: bool,
) -> None:
    result = classify(config(**settings), control, experiment)
    assert result.classification is label, result.reason
    assert result.critical is critical


@pytest.mark.parametrize(
    ("options", "control", "experiment", "label"),
    [
        pytest.param(JudgeOptions(critical_when_effect_unknown=True), ZERO_MEAN, ZERO_MEAN_UP,
                     Classification.HIGH, id="nan-effect-made-critical"),
        pytest.param(JudgeOptions(critical_on_error=True), BASE, UP, Classification.ERROR,
                     id="error-made-critical"),
    ],
)  # fmt: skip
def test_options_make_a_critical_metric_fail_where_kayenta_would_not(
    options: JudgeOptions, control: list[float], experiment: list[float], label: Classification
) -> None:
    settings: dict[str, object] = {"critical": True}
    if label is Classification.ERROR:
        settings["confidence"] = 1.0
    result = classify(config(**settings), control, experiment, options)
    assert result.classification is label
    assert result.critical


def test_a_high_result_reports_interval_estimate_effect_and_evidence() -> None:
    # HL estimate of (BASE + 12) - BASE is exactly 12; the mean ratio is 31.5 / 19.5.
    result = classify(config(), BASE, UP)
    assert result.estimate == pytest.approx(12.0, abs=1e-4)
    assert result.interval is not None
    assert result.interval[0] > 3.0  # above the band 0.25 * 12
    assert result.effect_size == pytest.approx(31.5 / 19.5)
    assert result.evidence["bounds"] == pytest.approx([-3.0, 3.0], abs=1e-4)
    assert result.evidence["experimentUsed"] == 40
    assert "the canary is higher" in result.reason


def test_constant_but_different_sides_get_seeded_noise_and_a_repeatable_label() -> None:
    first = classify(config(), [1.0] * 5, [2.0] * 5)
    second = classify(config(), [1.0] * 5, [2.0] * 5)
    assert first.classification is Classification.HIGH
    assert first.evidence["noiseAdded"] is True
    assert first.interval == second.interval
    assert first.effect_size == 2.0  # computed before the noise


def test_the_common_language_effect_size_worked_by_hand() -> None:
    # Pairs (exp, ctl) from [2, 3, 4] x [1, 2, 3]: 6 wins (2>1, 3>1, 3>2, 4>1, 4>2, 4>3) and
    # 2 ties (2=2, 3=3) of 9: (6 + 2/2) / 9 = 7/9.
    ctl, exp = np.array([1.0, 2.0, 3.0]), np.array([2.0, 3.0, 4.0])
    assert common_language_effect_size(ctl, exp) == pytest.approx(7 / 9)
    result = classify(config(effect_size=EffectSize(measure=EffectMeasure.CLES)), BASE, UP)
    assert result.classification is Classification.HIGH
    # BASE + 12 against BASE: a pair (i, j) differs by i - j + 12, and 40 - |k| pairs have
    # i - j = k. Ties: k = -12, 28 pairs. Losses: k <= -13, 1 + ... + 27 = 378 pairs. Wins:
    # 1600 - 378 - 28 = 1194. CLES = (1194 + 28/2) / 1600 = 0.755.
    assert result.effect_size == pytest.approx(0.755)


def test_cles_thresholds_default_to_one_half() -> None:
    # The CLES of 0.755 clears the default 0.5; demanding 0.99 blocks High.
    gate = EffectSize(measure=EffectMeasure.CLES, allowed_increase=0.99)
    assert classify(config(effect_size=gate), BASE, UP).classification is Classification.PASS


def test_outlier_fences_worked_example() -> None:
    # 1..20 plus 1000 (n = 21, R-7 percentiles): Q1 = 6, Q3 = 16, IQR = 10, so Q1 - 3*IQR = -24
    # and Q3 + 3*IQR = 46; P1 = 1.2 and P99 = 20 + 0.8*980 = 804. The wider fences are
    # (-24, 804): 1000 goes, everything else stays.
    samples = np.array([*range(1, 21), 1000], dtype=float)
    assert outlier_fences(samples) == pytest.approx((-24.0, 804.0))
    assert list(remove_outliers(samples)) == list(range(1, 21))


def test_outlier_removal_is_applied_when_asked() -> None:
    control = [*BASE, 10_000.0]
    kept = classify(config(), control, BASE)
    removed = classify(config(outliers=OutlierStrategy.REMOVE), control, BASE)
    assert kept.evidence["controlUsed"] == 41
    assert removed.evidence["controlUsed"] == 40
    assert removed.classification is Classification.PASS


@pytest.mark.parametrize(
    ("strategy", "expected"),
    [
        pytest.param(NanStrategy.REMOVE, [1.0, 3.0], id="remove"),
        pytest.param(NanStrategy.REPLACE, [1.0, 0.0, 3.0, 0.0], id="replace"),
    ],
)
def test_nan_strategies(strategy: NanStrategy, expected: list[float]) -> None:
    assert list(handle_nans([1.0, math.nan, 3.0, math.inf], strategy)) == expected


@pytest.mark.parametrize(
    ("label", "critical", "expected"),
    [
        pytest.param(Classification.HIGH, True, True, id="critical-high"),
        pytest.param(Classification.NODATA, True, True, id="critical-nodata"),
        pytest.param(Classification.PASS, True, False, id="critical-pass"),
        pytest.param(Classification.ERROR, True, False, id="critical-error"),
        pytest.param(Classification.LOW, False, False, id="not-critical"),
    ],
)
def test_preclassified_results_are_critical_as_kayenta_would_flag_them(
    label: Classification, critical: bool, expected: bool
) -> None:
    assert preclassified(config(critical=critical), label).critical is expected


@pytest.mark.parametrize(
    ("label", "verdict"),
    [
        pytest.param(Classification.PASS, Verdict.PASS, id="pass"),
        pytest.param(Classification.HIGH, Verdict.FAIL, id="high"),
        pytest.param(Classification.LOW, Verdict.FAIL, id="low"),
        pytest.param(Classification.NODATA_FAIL_METRIC, Verdict.FAIL, id="nodata-fail-metric"),
        pytest.param(Classification.NODATA, Verdict.NO_DATA, id="nodata-holds-by-default"),
        pytest.param(Classification.ERROR, Verdict.HOLD, id="error-holds"),
    ],
)
def test_classifications_become_check_results(label: Classification, verdict: Verdict) -> None:
    assert preclassified(config(), label).to_check().verdict is verdict


def test_nodata_follows_the_metrics_no_data_policy() -> None:
    failing = classify(config(no_data=NoDataPolicy.FAIL), BASE, [])
    assert failing.to_check().verdict is Verdict.FAIL
    check = classify(config(), BASE, UP).to_check()
    assert check.value == pytest.approx(31.5)
    assert check.primary_value == pytest.approx(19.5)
    assert check.evidence["classification"] == "High"
