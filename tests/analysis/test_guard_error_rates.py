"""The guard's error rates under continuous monitoring: a seeded Monte Carlo over the statistic the
engine keeps (the grid of LLRs and its mixture), looked at every 10 seconds."""

from __future__ import annotations

import math

import numpy as np
import pytest

from canary.analysis.sequential import (
    SequentialConfig,
    first_crossing,
    grid_llr_increments,
    mixture_llr,
)

WINDOW = 10
"""Seconds between looks (the guard interval)."""
WINDOWS = 180
"""Half an hour of looks."""
RPS = 50
ERROR_RATE = 0.01
# The canary's share steps 20, 40, 60, 80% every minute, then stays at 80% (stepWeight 20).
SHARE = np.minimum(0.2 * (1 + np.arange(WINDOWS) // (60 // WINDOW)), 0.8)


def guarded_runs(
    ratio: float, runs: int, seed: int, config: SequentialConfig
) -> tuple[np.ndarray, np.ndarray]:
    """(side, window index) of each run's first crossing; side +1 is a rollback."""
    rng = np.random.default_rng(seed)
    requests = rng.poisson(RPS * WINDOW, size=(runs, WINDOWS))
    canary_requests = rng.binomial(requests, SHARE)
    primary_requests = requests - canary_requests
    canary_failures = rng.binomial(canary_requests, min(1.0, ERROR_RATE * ratio))
    primary_failures = rng.binomial(primary_requests, ERROR_RATE)
    grid = np.cumsum(
        grid_llr_increments(
            canary_requests, canary_failures, primary_requests, primary_failures, config
        ),
        axis=1,
    )
    index, side = first_crossing(grid[..., 0], config, mixture_llr(grid, config))
    return side, index


RUNS = 4_000


@pytest.mark.parametrize("alpha", [0.01, 0.05])
def test_the_false_rollback_rate_stays_within_alpha_when_looked_at_every_10s(alpha: float) -> None:
    # Healthy canaries (r = 1) looked at 180 times each: Ville's inequality bounds the chance of
    # ever crossing log(1/alpha) by alpha. Three binomial standard errors absorb sampling noise.
    config = SequentialConfig(false_rollback_rate=alpha)
    side, _ = guarded_runs(1.0, RUNS, seed=21, config=config)
    rollbacks = float(np.mean(side == 1))
    assert rollbacks <= alpha + 3 * math.sqrt(alpha * (1 - alpha) / RUNS)


def test_peeking_at_a_fixed_sample_test_every_10s_would_not_keep_alpha() -> None:
    # A contrast that shows the Monte Carlo can fail: a one-sided z-test of the canary's share of
    # failures at 1% looked at every 10s rolls back far more than 1% of healthy canaries.
    rng = np.random.default_rng(22)
    requests = rng.poisson(RPS * WINDOW, size=(RUNS, WINDOWS))
    canary_requests = rng.binomial(requests, SHARE)
    canary_failures = rng.binomial(canary_requests, ERROR_RATE)
    primary_failures = rng.binomial(requests - canary_requests, ERROR_RATE)
    failures = np.cumsum(canary_failures + primary_failures, axis=1)
    expected = np.cumsum((canary_failures + primary_failures) * SHARE, axis=1)
    variance = np.cumsum((canary_failures + primary_failures) * SHARE * (1 - SHARE), axis=1)
    z = (np.cumsum(canary_failures, axis=1) - expected) / np.sqrt(np.maximum(variance, 1e-9))
    peeked = float(np.mean((z >= 2.326).any(axis=1) & (failures > 0).any(axis=1)))
    assert peeked > 3 * 0.01


def test_the_guard_catches_most_regressions_of_min_effect() -> None:
    # Power, so that a guard that never rolls back cannot pass the test above: at r = 2 most runs
    # roll back within the half hour, and at r = 50 nearly all within a minute of traffic.
    config = SequentialConfig()
    side, _ = guarded_runs(2.0, 1_000, seed=23, config=config)
    assert np.mean(side == 1) > 0.8
    side, index = guarded_runs(50.0, 1_000, seed=24, config=config)
    assert np.mean((side == 1) & (index < 60 // WINDOW)) > 0.99
