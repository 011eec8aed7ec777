"""The Mann-Whitney test against R's documented outputs, scipy, and independent derivations."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from scipy import stats

from canary.analysis.mannwhitney import (
    R_UNIROOT_TOLERANCE,
    SCALE_AWARE_ROOT_FINDER,
    MannWhitneyError,
    wilcox_test,
)

# R's ?wilcox.test, after Hollander & Wolfe (1973, p. 69): permeability at term (x) and at
# 12-26 weeks (y).
HW_X = [0.80, 0.83, 1.89, 1.04, 1.45, 1.38, 1.91, 1.64, 0.73, 1.46]
HW_Y = [1.15, 0.88, 0.90, 0.74, 1.21]

# R's datasets::airquality, Ozone for May and August with the NAs dropped; ?wilcox.test prints
# "W = 127.5, p-value = 0.0001208" for wilcox.test(Ozone ~ Month, subset = Month %in% c(5, 8)),
# which has ties and so uses the corrected normal approximation.
OZONE_MAY = [41, 36, 12, 18, 28, 23, 19, 8, 7, 16, 11, 14, 18, 14, 34, 6, 30, 11, 1, 11, 4, 32,
             23, 45, 115, 37]  # fmt: skip
OZONE_AUGUST = [39, 9, 16, 78, 35, 66, 122, 89, 110, 44, 28, 65, 22, 59, 23, 31, 44, 21, 9, 45,
                168, 73, 76, 118, 84, 85]  # fmt: skip


def test_the_airquality_example_reproduces_rs_documented_w_and_p_value() -> None:
    result = wilcox_test(OZONE_MAY, OZONE_AUGUST)
    assert result.statistic == 127.5
    assert result.p_value == pytest.approx(0.0001208, abs=5e-8)


def test_the_hollander_wolfe_example_matches_the_formula_worked_by_hand() -> None:
    # W = 35 (R prints it for this example). E[W] = 10*5/2 = 25, no ties, so
    # sd = sqrt(10*5*16/12) = sqrt(200/3); z = (35 - 25 - 0.5) / sd = 1.16351;
    # two-sided p = 2 * (1 - pnorm(1.16351)) = 0.24462.
    result = wilcox_test(HW_X, HW_Y)
    assert result.statistic == 35.0
    assert result.z == pytest.approx(9.5 / np.sqrt(200 / 3), rel=1e-12)
    assert result.p_value == pytest.approx(0.244624, abs=1e-6)


def test_the_hodges_lehmann_estimate_lies_on_the_median_of_pairwise_differences() -> None:
    # Without the continuity correction the rank statistic at shift d is
    # #(x_i - y_j > d) - n_x*n_y/2 (+ half the ties), which is 0 between the 25th and 26th of
    # the 50 sorted differences: [0.30, 0.31] here. R's exact test prints 0.305, their midpoint.
    differences = np.sort(np.subtract.outer(HW_X, HW_Y).ravel())
    low, high = differences[24], differences[25]
    assert (low, high) == pytest.approx((0.30, 0.31))
    estimate = wilcox_test(HW_X, HW_Y).estimate
    assert low - R_UNIROOT_TOLERANCE <= estimate <= high + R_UNIROOT_TOLERANCE


def scipy_p_value_at_shift(x: list[float], y: list[float], shift: float) -> float:
    """scipy's continuity- and tie-corrected two-sided p-value for x - shift against y."""
    shifted = np.asarray(x, dtype=float) - shift
    return float(stats.mannwhitneyu(shifted, y, method="asymptotic", use_continuity=True).pvalue)


@pytest.mark.parametrize(
    ("x", "y", "confidence"),
    [
        pytest.param(HW_X, HW_Y, 0.95, id="hollander-wolfe-95"),
        pytest.param(HW_X, HW_Y, 0.98, id="hollander-wolfe-98"),
        pytest.param(OZONE_MAY, OZONE_AUGUST, 0.95, id="airquality-with-ties"),
        pytest.param(OZONE_AUGUST, OZONE_MAY, 0.98, id="airquality-swapped"),
    ],
)
def test_interval_endpoints_are_where_scipys_p_value_crosses_alpha(
    x: list[float], y: list[float], confidence: float
) -> None:
    # Inverting the test: just outside an endpoint scipy rejects (p < alpha), just inside it
    # does not. The root finder stops within its tolerance of the jump, hence the margin.
    alpha = 1 - confidence
    lower, upper = wilcox_test(x, y, confidence=confidence).interval
    margin = 1.01 * R_UNIROOT_TOLERANCE
    assert scipy_p_value_at_shift(x, y, lower - margin) < alpha
    assert scipy_p_value_at_shift(x, y, lower + margin) >= alpha
    assert scipy_p_value_at_shift(x, y, upper - margin) >= alpha
    assert scipy_p_value_at_shift(x, y, upper + margin) < alpha


def test_an_interval_beyond_the_search_range_returns_its_endpoint_as_r_does() -> None:
    # R's own comment cites wilcox.test(1, 2:60, conf.int=TRUE). At d = max x - min y = -1 the
    # lone x ties the smallest y: W - E[W] = 1.5 - 1 - 29.5 = -29, sd = 17.318, so the
    # corrected z = -28.5/17.318 = -1.646 never reaches -1.960 and the upper end is -1; the
    # mirror image at d = min x - max y = -59 gives z = +1.646 < 1.960 and the lower end -59.
    result = wilcox_test([1.0], np.arange(2.0, 61.0))
    assert result.interval == (-59.0, -1.0)


@pytest.mark.parametrize(
    ("experiment", "control", "message"),
    [
        pytest.param([], [1.0], "not enough experiment", id="empty-experiment"),
        pytest.param([1.0], [], "not enough control", id="empty-control"),
        pytest.param([2.0, 2.0], [2.0, 2.0], "all observations are tied", id="all-tied"),
        pytest.param([1.0, 1.0], [3.0, 3.0], "all observations are tied", id="two-constants"),
        pytest.param([1.0, np.nan], [3.0], "must be finite", id="nan"),
    ],
)
def test_impossible_inputs_raise_a_mann_whitney_error(
    experiment: list[float], control: list[float], message: str
) -> None:
    with pytest.raises(MannWhitneyError, match=message):
        wilcox_test(experiment, control)


def test_the_exact_root_finder_fixes_kayentas_problem_case() -> None:
    # Metrics near 0.0333 that differ by 2e-6: the whole search range is narrower than R's
    # absolute tolerance of 1e-4, so R's uniroot stops almost at once, far from the true ends.
    rng = np.random.default_rng(7)
    control = 0.0333 + rng.normal(0, 1e-6, 60)
    experiment = 0.0333 + 2e-6 + rng.normal(0, 1e-6, 60)
    width = (experiment.max() - control.min()) - (experiment.min() - control.max())
    assert width < R_UNIROOT_TOLERANCE

    def straddles(lower: float, margin: float) -> bool:
        p_out = scipy_p_value_at_shift(list(experiment), list(control), lower - margin)
        p_in = scipy_p_value_at_shift(list(experiment), list(control), lower + margin)
        return p_out < 0.02 <= p_in

    r_lower = wilcox_test(experiment, control, confidence=0.98).interval[0]
    exact = wilcox_test(experiment, control, confidence=0.98, root_finder=SCALE_AWARE_ROOT_FINDER)
    margin = 1e-9 * width
    assert straddles(exact.interval[0], margin)
    assert not straddles(r_lower, 1e-3 * width)
    assert exact.interval[0] > 0  # the canary is higher, which R's interval cannot show


def test_the_exact_root_finder_gives_the_textbook_hodges_lehmann_answer() -> None:
    # The exact interval ends are pairwise differences (-0.15 and 0.76 for Hollander & Wolfe) and
    # the estimate is the midpoint of the zero plateau [0.30, 0.31]: 0.305, the estimate R's
    # exact test prints. R's asymptotic answer lies within its 1e-4 tolerance of these.
    exact = wilcox_test(HW_X, HW_Y, root_finder=SCALE_AWARE_ROOT_FINDER)
    assert exact.interval == pytest.approx((-0.15, 0.76), abs=1e-12)
    assert exact.estimate == pytest.approx(0.305, abs=1e-12)
    r = wilcox_test(HW_X, HW_Y)
    assert r.interval == pytest.approx(exact.interval, abs=R_UNIROOT_TOLERANCE)


samples = st.lists(
    st.integers(min_value=-50, max_value=50).map(lambda v: v / 4), min_size=2, max_size=12
)


@settings(max_examples=60, deadline=None)
@given(x=samples, y=samples)
def test_the_p_value_matches_scipy(x: list[float], y: list[float]) -> None:
    assume(not (len(set(x)) == 1 and len(set(y)) == 1))  # R cannot find an interval then
    expected = stats.mannwhitneyu(x, y, method="asymptotic", use_continuity=True).pvalue
    assert wilcox_test(x, y).p_value == pytest.approx(expected, rel=1e-9, abs=1e-12)


@settings(max_examples=60, deadline=None)
@given(x=samples, y=samples)
def test_swapping_experiment_and_control_mirrors_the_interval(
    x: list[float], y: list[float]
) -> None:
    assume(not (len(set(x)) == 1 and len(set(y)) == 1))
    forward = wilcox_test(x, y)
    backward = wilcox_test(y, x)
    tolerance = 2 * R_UNIROOT_TOLERANCE
    assert backward.interval[0] == pytest.approx(-forward.interval[1], abs=tolerance)
    assert backward.interval[1] == pytest.approx(-forward.interval[0], abs=tolerance)
    assert backward.p_value == pytest.approx(forward.p_value, rel=1e-12)


@settings(max_examples=60, deadline=None)
@given(x=samples, y=samples)
def test_the_interval_contains_the_estimate(x: list[float], y: list[float]) -> None:
    assume(not (len(set(x)) == 1 and len(set(y)) == 1))
    result = wilcox_test(x, y)
    lower, upper = result.interval
    assert lower - R_UNIROOT_TOLERANCE <= result.estimate <= upper + R_UNIROOT_TOLERANCE
    exact = wilcox_test(x, y, root_finder=SCALE_AWARE_ROOT_FINDER)
    assert exact.interval[0] <= exact.estimate <= exact.interval[1]


@settings(max_examples=60, deadline=None)
@given(x=samples, y=samples)
def test_rs_roots_lie_within_its_tolerance_of_the_exact_jumps(
    x: list[float], y: list[float]
) -> None:
    assume(not (len(set(x)) == 1 and len(set(y)) == 1))
    r = wilcox_test(x, y)
    exact = wilcox_test(x, y, root_finder=SCALE_AWARE_ROOT_FINDER)
    differences = {a - b for a in x for b in y}
    assert set(exact.interval) <= differences  # every end is a jump of the step function
    assert r.interval == pytest.approx(exact.interval, abs=1.01 * R_UNIROOT_TOLERANCE)
