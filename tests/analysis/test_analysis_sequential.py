"""The always-valid SPRT on canary vs primary failures: worked examples, decision paths, the mixture,
simulated error rates."""

from __future__ import annotations

import math

import numpy as np
import pytest

from canary.analysis.results import Verdict
from canary.analysis.sequential import (
    Interval,
    SequentialConfig,
    decide_state,
    expected_sample_size,
    first_crossing,
    grid_llr_increments,
    llr_increments,
    mixture_llr,
    sequential_test,
)

CONFIG = SequentialConfig()  # alpha 0.01, beta 0.05, min effect 2, tolerated ratio 1

# With a 20% canary share (1000 vs 4000 requests): pi0 = 0.2, pi1 = 2*0.2/(2*0.2 + 0.8) = 1/3,
# so a canary failure adds log((1/3)/0.2) = log(5/3) and a primary one log((2/3)/0.8) = log(5/6).
UP, DOWN = math.log(5 / 3), math.log(5 / 6)


def test_the_bounds_are_villes() -> None:
    # log(1/alpha) = log(100) = 4.60517, log(beta) = log(0.05) = -2.99573.
    assert CONFIG.upper_bound == pytest.approx(4.605170, abs=1e-6)
    assert CONFIG.lower_bound == pytest.approx(-2.995732, abs=1e-6)


def test_the_mixture_grid_doubles_from_min_effect_with_half_the_weight_on_it() -> None:
    assert CONFIG.ratios == (2, 4, 8, 16, 32, 64, 128, 256)
    weights = np.exp(CONFIG.log_weights)
    assert weights.sum() == pytest.approx(1.0)
    assert weights[0] == pytest.approx(0.5)
    assert weights[1:] == pytest.approx(np.full(7, 0.5 / 7))


def test_the_mixture_is_the_weighted_mean_of_the_likelihood_ratios() -> None:
    grid = np.log([4.0, 100.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0])
    expected = 0.5 * 4 + (0.5 / 7) * (100 + 6)
    assert float(mixture_llr(grid, CONFIG)) == pytest.approx(math.log(expected))


@pytest.mark.parametrize(
    ("grid", "decision"),
    [
        pytest.param([5.4] + [-50.0] * 7, "regression", id="min-effect-alone-above-log-200"),
        pytest.param([0.0, 0.0, 0.0, 8.0, 0.0, 0.0, 0.0, 0.0], "regression", id="large-ratio"),
        pytest.param([4.7] + [-50.0] * 7, "continue", id="the-mixture-costs-log-2-at-min-effect"),
        pytest.param([-3.0] + [-50.0] * 7, "no_regression", id="at-most-log-beta"),
        pytest.param([0.0] * 8, "continue", id="no-evidence"),
    ],
)
def test_the_state_decides_on_the_mixture_above_and_on_min_effect_below(
    grid: list[float], decision: str
) -> None:
    assert decide_state(grid, CONFIG) == decision


def test_a_200x_regression_crosses_the_mixture_after_far_fewer_failures_than_the_sprt() -> None:
    # 10% canary share, every failure the canary's. At r = 128 and 256 a canary failure adds
    # log(0.934/0.1) = 2.23 and log(0.966/0.1) = 2.27, so after 3 of them the mixture is about
    # log((0.5/7) * (e^6.7 + e^6.8)) = 5.5 >= log(100); at r = 2 each adds only
    # log(0.1818/0.1) = 0.598, and the simple SPRT needs ceil(4.605/0.598) = 8.
    windows = [(100, 1, 900, 0)] * 20
    mixture = sequential_test(windows, CONFIG)
    n_c, f_c, n_p, f_p = np.array(windows, dtype=float).T
    simple = np.cumsum(llr_increments(n_c, f_c, n_p, f_p, CONFIG))
    simple_at = int(np.argmax(simple >= CONFIG.upper_bound))
    assert mixture.decision == "regression"
    assert mixture.evidence["decidedAtInterval"] == 2
    assert simple_at == 7


def test_each_interval_adds_its_own_log_likelihood_ratio_with_its_own_weight() -> None:
    # Interval 1 as above: 20*log(5/3) + 40*log(5/6) = 2.92365.
    # Interval 2 at a 50% share: pi0 = 0.5, pi1 = 2/3; 6 canary and 4 primary failures add
    # 6*log(4/3) + 4*log(2/3) = 0.10423.
    increments = llr_increments([1000, 500], [20, 6], [4000, 500], [40, 4], CONFIG)
    assert increments[0] == pytest.approx(20 * UP + 40 * DOWN, rel=1e-12)
    assert increments[1] == pytest.approx(6 * math.log(4 / 3) + 4 * math.log(2 / 3), rel=1e-12)
    assert increments[0] == pytest.approx(2.923650, abs=1e-6)


@pytest.mark.parametrize(
    ("intervals", "decision", "decided_at", "reason_part"),
    [
        pytest.param(
            [(1000, 20, 4000, 40)] * 3, "regression", 1, "regression: the canary's error rate",
            id="twice-the-errors-is-a-regression-after-two-intervals",
        ),
        pytest.param(
            [(1000, 10, 4000, 40)] * 3, "no_regression", 1, "no regression: an error-rate ratio",
            id="equal-errors-rule-out-a-regression",
        ),
        pytest.param(
            [(1000, 2, 4000, 8)], "continue", None, "inconclusive: LLR",
            id="too-few-failures-is-inconclusive",
        ),
        pytest.param(
            [(1000, 0, 4000, 0)] * 5, "continue", None, "no failures on either side yet",
            id="no-failures-is-no-evidence",
        ),
        pytest.param([], "continue", None, "no intervals observed yet", id="no-intervals"),
        pytest.param(
            [(0, 0, 5000, 50), (1000, 20, 4000, 40)], "continue", None, "inconclusive",
            id="an-interval-without-canary-traffic-adds-nothing",
        ),
        pytest.param(
            [(1000, 20, 4000, 40), (1000, 20, 4000, 40), (1000, 0, 4000, 200)],
            "regression", 1, "after 2 intervals",
            id="the-first-crossing-decides-even-if-later-data-disagrees",
        ),
    ],
)  # fmt: skip
def test_decision_paths(
    intervals: list[tuple[float, float, float, float]],
    decision: str,
    decided_at: int | None,
    reason_part: str,
) -> None:
    result = sequential_test(intervals, CONFIG)
    assert result.decision == decision
    assert result.evidence["decidedAtInterval"] == decided_at
    assert reason_part in result.reason
    assert (result.lower_bound, result.upper_bound) == (CONFIG.lower_bound, CONFIG.upper_bound)


def test_the_regression_example_reports_its_llr_and_evidence() -> None:
    result = sequential_test([Interval(1000, 20, 4000, 40)] * 2, CONFIG)
    assert result.llr == pytest.approx(2 * (20 * UP + 40 * DOWN))
    assert result.evidence["canaryFailures"] == 40
    assert result.evidence["primaryErrorRate"] == pytest.approx(0.01)


@pytest.mark.parametrize(
    ("decision_intervals", "verdict"),
    [
        pytest.param([(1000, 20, 4000, 40)] * 2, Verdict.FAIL, id="regression-fails"),
        pytest.param([(1000, 10, 4000, 40)] * 2, Verdict.PASS, id="no-regression-passes"),
        pytest.param([(1000, 1, 4000, 4)], Verdict.HOLD, id="continue-holds"),
    ],
)
def test_decisions_become_check_results(
    decision_intervals: list[tuple[float, float, float, float]], verdict: Verdict
) -> None:
    check = sequential_test(decision_intervals, CONFIG).to_check()
    assert check.verdict is verdict
    assert check.to_dict()["evidence"]["decision"] in {"regression", "no_regression", "continue"}


@pytest.mark.parametrize(
    ("interval", "message"),
    [
        pytest.param((10, 11, 100, 0), "canary failures exceed", id="canary-failures"),
        pytest.param((10, 0, 100, 101), "primary failures exceed", id="primary-failures"),
        pytest.param((-1, 0, 100, 0), "finite and >= 0", id="negative"),
        pytest.param((math.nan, 0, 100, 0), "finite and >= 0", id="nan"),
    ],
)
def test_impossible_counts_raise(interval: tuple[float, float, float, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        sequential_test([interval], CONFIG)


@pytest.mark.parametrize(
    "kwargs",
    [
        pytest.param({"false_rollback_rate": 0.0}, id="zero-alpha"),
        pytest.param({"false_promotion_rate": 0.6}, id="large-beta"),
        pytest.param({"min_effect": 1.0}, id="effect-not-above-tolerance"),
        pytest.param({"tolerated_ratio": 0.0}, id="zero-tolerance"),
    ],
)
def test_invalid_configurations_are_rejected(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match=r"must be|need"):
        SequentialConfig(**kwargs)


def test_walds_operating_characteristic_keeps_the_configured_error_rates() -> None:
    # Wald's identities with bounds A = 1/alpha and B = beta (Ville's):
    # P(regression | r = r0) = (1 - B)/(A - B) = 0.95/99.95 <= alpha, and
    # P(regression | r = r1) = A (1 - B)/(A - B) = 95/99.95 >= 1 - beta.
    at_h0 = expected_sample_size(0.01, 0.2, CONFIG, ratio=1.0)
    at_h1 = expected_sample_size(0.01, 0.2, CONFIG)
    assert at_h0.regression_probability == pytest.approx(0.95 / 99.95, abs=1e-9)
    assert at_h1.regression_probability == pytest.approx(95 / 99.95, abs=1e-9)


def test_walds_expected_sample_size_at_the_minimum_effect_worked_by_hand() -> None:
    # E1[step] = (1/3)*log(5/3) + (2/3)*log(5/6) = 0.048722 per failure, so
    # E[N] = ((1 - L)*log A + L*log B) / 0.048722 with L = 1 - 95/99.95 (above) = 86.78
    # failures. Failures arrive at 0.01*(0.2*2 + 0.8) = 0.012 per request: 7232 requests, 1446
    # of them the canary's.
    drift = UP / 3 + 2 * DOWN / 3
    accept = 1 - 95 / 99.95
    failures = ((1 - accept) * CONFIG.upper_bound + accept * CONFIG.lower_bound) / drift
    expected = expected_sample_size(0.01, 0.2, CONFIG)
    assert expected.failures == pytest.approx(failures, rel=1e-9)
    assert expected.failures == pytest.approx(86.78, abs=0.01)
    assert expected.requests == pytest.approx(failures / 0.012, rel=1e-9)
    assert expected.canary_requests == pytest.approx(0.2 * failures / 0.012, rel=1e-9)


def test_the_expected_sample_size_peaks_between_the_hypotheses() -> None:
    sizes = [expected_sample_size(0.01, 0.2, CONFIG, ratio=r).failures for r in (0.5, 1, 1.4, 2, 4)]
    assert sizes[2] > max(sizes[1], sizes[3])
    assert sizes[0] < sizes[1]
    assert sizes[4] < sizes[3]


def simulate(
    ratio: float, canary_share: np.ndarray, runs: int, seed: int, error_rate: float = 0.01
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Seeded runs of the engine's own vectorised LLR and stopping rule, one interval per column.

    Returns (decision side, stopping interval, failures until the decision) per run.
    """
    rng = np.random.default_rng(seed)
    requests = 1000
    canary_requests = np.broadcast_to(np.rint(requests * canary_share), (runs, canary_share.size))
    primary_requests = requests - canary_requests
    canary_failures = rng.binomial(canary_requests.astype(int), error_rate * ratio)
    primary_failures = rng.binomial(primary_requests.astype(int), error_rate)
    grid = np.cumsum(
        grid_llr_increments(
            canary_requests, canary_failures, primary_requests, primary_failures, CONFIG
        ),
        axis=1,
    )
    index, side = first_crossing(grid[..., 0], CONFIG, mixture_llr(grid, CONFIG))
    failures = np.cumsum(canary_failures + primary_failures, axis=1)
    return side, index, np.take_along_axis(failures, index[:, None], axis=1)[:, 0]


RUNS = 20_000
CONSTANT_SHARE = np.full(120, 0.2)
# The split the engine might walk: 5%, 10%, 20%, 35%, 50%, 50%, ... of the requests.
CHANGING_SHARE = np.concatenate(([0.05, 0.1, 0.2, 0.35], np.full(116, 0.5)))


@pytest.mark.parametrize(
    "share",
    [pytest.param(CONSTANT_SHARE, id="constant-20%"), pytest.param(CHANGING_SHARE, id="stepped")],
)
def test_simulated_false_rollback_rate_is_at_most_alpha(share: np.ndarray) -> None:
    # Under H0 (r = 1) at most alpha = 1% of runs may roll back (Ville). Three standard errors of
    # slack (3*sqrt(0.01*0.99/20000) = 0.0021) absorb sampling noise; overshoot at interval ends
    # makes the true rate somewhat lower. A test that used the wrong share or bounds lands far
    # outside.
    side, _, _ = simulate(1.0, share, RUNS, seed=11)
    false_rollback = np.mean(side == 1)
    assert false_rollback <= 0.01 + 3 * math.sqrt(0.01 * 0.99 / RUNS)
    assert false_rollback >= 0.002  # not so conservative that it never detects anything
    assert np.mean(side == 0) < 0.001  # nearly every run decides within 120 intervals


@pytest.mark.parametrize(
    "share",
    [pytest.param(CONSTANT_SHARE, id="constant-20%"), pytest.param(CHANGING_SHARE, id="stepped")],
)
def test_simulated_false_promotion_rate_is_at_most_beta(share: np.ndarray) -> None:
    # Under H1 (r = min_effect = 2) at most beta = 5% of runs may conclude "no regression".
    side, _, _ = simulate(2.0, share, RUNS, seed=12)
    false_promotion = np.mean(side == -1)
    assert false_promotion <= 0.05 + 3 * math.sqrt(0.05 * 0.95 / RUNS)
    assert false_promotion >= 0.01
    assert np.mean(side == 0) < 0.001


def test_simulated_failures_to_a_decision_are_near_walds_expectation() -> None:
    # Wald ignores overshoot, so the simulated mean is a little above it, never far below.
    for ratio in (1.0, 2.0):
        _, _, failures = simulate(ratio, CONSTANT_SHARE, 5_000, seed=13)
        wald = expected_sample_size(0.01, 0.2, CONFIG, ratio=ratio).failures
        assert 0.9 * wald <= failures.mean() <= 1.6 * wald


def test_the_scalar_test_agrees_with_the_vectorised_simulation() -> None:
    rng = np.random.default_rng(14)
    for _ in range(50):
        canary_failures = rng.binomial(200, 0.015, size=40)
        primary_failures = rng.binomial(800, 0.01, size=40)
        intervals = [
            (200, c, 800, p) for c, p in zip(canary_failures, primary_failures, strict=True)
        ]
        grid = np.cumsum(
            grid_llr_increments(200, canary_failures, 800, primary_failures, CONFIG), 0
        )
        index, side = first_crossing(grid[None, :, 0], CONFIG, mixture_llr(grid, CONFIG)[None, :])
        result = sequential_test(intervals, CONFIG)
        expected = {1: "regression", -1: "no_regression", 0: "continue"}[int(side[0])]
        assert result.decision == expected
        if expected != "continue":
            assert result.evidence["decidedAtInterval"] == int(index[0])
