"""Prometheus' rules as the model applies them: increase() extrapolation and histogram_quantile."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from canary.sim.prometheus import bucket_probabilities, bucket_quantile, extrapolated_increase

INF = math.inf


def increase(times: list[float], values: list[float], start: float, end: float) -> float | None:
    result = extrapolated_increase(
        np.array(times, dtype=float), np.array(values, dtype=float)[:, None], start, end
    )
    return None if result is None else float(result[0])


@pytest.mark.parametrize(
    ("times", "values", "window", "expected"),
    [
        pytest.param(
            [0, 10, 20, 30, 40, 50, 60],
            [0, 10, 20, 30, 40, 50, 60],
            (0, 60),
            60,
            id="at-both-edges",
        ),
        # 45 over 45 s, extrapolated by the 5 s and 10 s gaps (both < 1.1 x 15 s) to 60 s.
        pytest.param([5, 20, 35, 50], [100, 115, 130, 145], (0, 60), 60, id="gaps-extrapolated"),
        # The 40 s gap to the end exceeds 1.1 x 10 s: half an interval (5 s) only.
        pytest.param([0, 10, 20], [50, 60, 70], (0, 60), 25, id="far-end-half-interval"),
        # Extrapolating 10 s back would go below zero: stop where the counter was 0 (1 s back).
        pytest.param([10, 20, 30], [1, 11, 21], (0, 30), 21, id="zero-point"),
        # A reset (20 -> 5) adds the value before the drop: 15 - 10 + 20.
        pytest.param([0, 10, 20, 30], [10, 20, 5, 15], (0, 30), 25, id="counter-reset"),
        pytest.param([0, 10, 20], [5, 5, 5], (0, 30), 0, id="flat"),
        pytest.param([10], [5], (0, 30), None, id="one-sample-no-result"),
        # A series born with its only failure: that first count is the baseline, never seen.
        pytest.param([15, 30, 45, 60], [1, 1, 1, 1], (0, 60), 0, id="first-count-unseen"),
    ],
)
def test_increase_extrapolates_as_prometheus(
    times: list[float], values: list[float], window: tuple[float, float], expected: float | None
) -> None:
    result = increase(times, values, *window)
    assert result == pytest.approx(expected) if expected is not None else result is None


@pytest.mark.parametrize(
    ("q", "bounds", "counts", "expected"),
    [
        pytest.param(0.99, [100, 250, INF], [98, 100, 100], 175.0, id="linear-in-bucket"),
        pytest.param(0.5, [10, INF], [10, 10], 5.0, id="lowest-bucket-from-zero"),
        pytest.param(0.2, [0, 10, INF], [5, 10, 10], 0.0, id="lowest-bound-not-positive"),
        pytest.param(0.99, [10, 20, INF], [0, 0, 10], 20.0, id="in-inf-bucket-largest-finite"),
        pytest.param(0.5, [10, 20, INF], [5, 4.999, 10], 10.0, id="made-monotonic"),
        pytest.param(0.5, [1, 2], [1, 2], math.nan, id="no-inf-bucket"),
        pytest.param(0.5, [10, INF], [0, 0], math.nan, id="no-observations"),
        pytest.param(0.5, [INF], [5], math.nan, id="only-inf-bucket"),
        pytest.param(-0.1, [10, INF], [1, 2], -INF, id="q-below-0"),
        pytest.param(1.1, [10, INF], [1, 2], INF, id="q-above-1"),
    ],
)
def test_histogram_quantile_as_prometheus(
    q: float, bounds: list[float], counts: list[float], expected: float
) -> None:
    result = bucket_quantile(q, bounds, counts)
    if math.isnan(expected):
        assert math.isnan(result)
    else:
        assert result == pytest.approx(expected)


@given(
    increments=st.lists(st.integers(0, 1000), min_size=1, max_size=30),
    start=st.integers(0, 10**6),
)
def test_samples_on_the_range_edges_are_not_extrapolated(increments: list[int], start: int) -> None:
    """Given a counter sampled every 10 s from the start of the range to its end, increase() is
    exactly the last value minus the first."""
    values = np.cumsum([start, *increments])
    times = [10.0 * i for i in range(len(values))]
    result = increase(times, list(values), 0, times[-1])
    assert result == pytest.approx(float(values[-1] - values[0]))


@given(
    counts=st.lists(st.integers(0, 100), min_size=2, max_size=8),
    q1=st.floats(0, 1),
    q2=st.floats(0, 1),
)
def test_quantiles_are_ordered_and_within_the_finite_bounds(
    counts: list[int], q1: float, q2: float
) -> None:
    bounds = [*(10.0 * 2**i for i in range(len(counts) - 1)), INF]
    cumulative = list(np.cumsum(counts))
    low, high = sorted((q1, q2))
    a, b = bucket_quantile(low, bounds, cumulative), bucket_quantile(high, bounds, cumulative)
    if cumulative[-1] == 0:
        assert math.isnan(a)
        assert math.isnan(b)
        return
    if cumulative[0] == 0:
        # Rank 0 in an empty lowest bucket: Prometheus divides 0 by 0.
        a, b = (
            0.0 if q * cumulative[-1] == 0 and math.isnan(v) else v
            for q, v in ((low, a), (high, b))
        )
    assert 0 <= a <= b <= bounds[-2]


@pytest.mark.parametrize(("p50", "p99"), [(40, 150), (0.1, 0.4), (4e6, 9e6)])
def test_bucket_probabilities_are_a_distribution(p50: float, p99: float) -> None:
    sigma = (math.log(p99) - math.log(p50)) / 2.3263478740408408
    p = bucket_probabilities(math.log(p50), sigma)
    assert p.min() >= 0
    assert p.sum() == pytest.approx(1.0)
