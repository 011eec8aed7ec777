"""What a cumulative read adds to the sequential test when increase() extrapolates each read a
little differently: no failure is marked as taken without being weighed with both sides' requests."""

from __future__ import annotations

from datetime import datetime
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from canary.analysis.sequential import SequentialConfig, grid_llr_increments
from canary.api.canary import SequentialState
from canary.engine.judging import feed, new_traffic
from canary.engine.types import TrafficSample
from canary.sim.simulator import EPOCH

CONFIG = SequentialConfig(false_rollback_rate=0.005, false_promotion_rate=0.005)
TAKEN = TrafficSample(
    canary_requests=4000, canary_failures=40, primary_requests=9000, primary_failures=30
)
"""What earlier reads of the run have fed the test (status.sequential's counts)."""
NOTHING = TrafficSample(0, 0, 0, 0)


def state_with(taken: TrafficSample) -> SequentialState:
    state = SequentialState(reading_since=EPOCH, read_until=EPOCH)
    feed(state, taken, CONFIG)
    return state


def tick(read: TrafficSample, state: SequentialState) -> Any:
    """The two things `new_traffic` looks at: this read and the test's state."""
    return SimpleNamespace(
        obs=SimpleNamespace(traffic=read), status=SimpleNamespace(sequential=state)
    )


@pytest.mark.parametrize(
    ("read", "added"),
    [
        pytest.param(
            TrafficSample(4800, 45, 9900, 32),
            TrafficSample(800, 5, 900, 2),
            id="both sides grow: the difference",
        ),
        pytest.param(
            TrafficSample(4800, 39, 9900, 29),
            TrafficSample(800, 0, 900, 0),
            id="failures extrapolated lower: none taken back",
        ),
        pytest.param(
            TrafficSample(4300, 41, 8800, 42),
            NOTHING,
            id="primary requests come back lower: its 12 new failures wait",
        ),
        pytest.param(
            TrafficSample(3900, 52, 9500, 31),
            NOTHING,
            id="canary requests come back lower: its 12 new failures wait",
        ),
        pytest.param(
            TrafficSample(4000, 41, 9900, 32),
            NOTHING,
            id="no new canary request: the primary's failures wait",
        ),
        pytest.param(TAKEN, NOTHING, id="nothing new"),
    ],
)
def test_what_a_read_adds(read: TrafficSample, added: TrafficSample) -> None:
    assert new_traffic(tick(read, state_with(TAKEN))) == added


def test_failures_held_back_are_weighed_at_the_next_read() -> None:
    # Given the run so far, a read whose primary requests extrapolate lower than what was taken
    # and which shows 12 new primary failures,
    state = state_with(TAKEN)
    dipped = TrafficSample(4300, 41, 8800, 42)
    # when it is followed by a read in which both sides grow,
    after = TrafficSample(4700, 43, 9600, 44)
    for read in (dipped, after):
        feed(state, new_traffic(tick(read, state)) or NOTHING, CONFIG)
    # then the test holds every failure read, and its LLR is that of the two windows taken.
    assert (state.canary_failures, state.primary_failures) == (43, 44)
    windows = [TAKEN, TrafficSample(700, 3, 600, 14)]
    expected = sum(
        grid_llr_increments(
            w.canary_requests, w.canary_failures, w.primary_requests, w.primary_failures, CONFIG
        )[0]
        for w in windows
    )
    assert state.log_likelihood_ratio == pytest.approx(float(expected))


reads = st.lists(
    st.tuples(*(st.integers(-200, 2000), st.integers(-3, 8)) * 2), min_size=1, max_size=30
)


@given(reads)
def test_every_failure_taken_is_weighed_with_both_sides_requests(
    steps: list[tuple[int, int, int, int]],
) -> None:
    # Given cumulative reads that mostly grow but may come back lower (extrapolation),
    state = SequentialState(
        reading_since=EPOCH, read_until=datetime.max.replace(tzinfo=EPOCH.tzinfo)
    )
    cumulative = [1000, 10, 1000, 10]
    weighed = [0, 0]
    for step in steps:
        cumulative = [max(0, c + d) for c, d in zip(cumulative, step, strict=True)]
        read = TrafficSample(*cumulative)
        added = new_traffic(tick(read, state))
        assert added is not None
        # every sample taken has requests on both sides (or is empty),
        if added != NOTHING:
            assert added.canary_requests > 0
            assert added.primary_requests > 0
            weighed[0] += added.canary_failures
            weighed[1] += added.primary_failures
        feed(state, added, CONFIG)
    # so the failures the test holds are exactly those it weighed.
    assert [state.canary_failures, state.primary_failures] == weighed
