"""The work queue hands each Canary to one worker at a time, at the time it asked for."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from canary.controller.queue import WorkQueue
from canary.controller.scheduling import ManualTimers
from tests.controller.kube_harness import FakeMonotonic


def _queue() -> tuple[WorkQueue[str], ManualTimers[str], FakeMonotonic]:
    clock = FakeMonotonic()
    timers: ManualTimers[str] = ManualTimers(clock)
    return WorkQueue(timers), timers, clock


def _advance(clock: FakeMonotonic, timers: ManualTimers[str], seconds: float) -> None:
    clock.advance(seconds)
    timers.run_due()


def test_a_key_is_handed_out_when_it_is_due() -> None:
    queue, timers, clock = _queue()
    queue.add("a", delay=5)
    assert queue.get(timeout=0) is None
    _advance(clock, timers, 5)
    assert queue.get(timeout=0) == "a"


def test_adding_a_queued_key_keeps_the_earlier_time() -> None:
    queue, timers, clock = _queue()
    queue.add("a", delay=10)
    queue.add("a", delay=1)
    queue.add("a", delay=30)
    _advance(clock, timers, 1)
    assert queue.get(timeout=0) == "a"
    queue.done("a")
    _advance(clock, timers, 60)
    assert queue.get(timeout=0) is None, "the later requests were folded into the earlier one"


def test_a_due_key_is_not_postponed_by_a_later_request() -> None:
    queue, timers, clock = _queue()
    queue.add("a")
    queue.add("a", delay=30)
    assert queue.get(timeout=0) == "a"
    queue.done("a")
    _advance(clock, timers, 60)
    assert queue.get(timeout=0) is None


def test_a_key_being_processed_is_not_handed_out_again_until_done() -> None:
    queue, _, _ = _queue()
    queue.add("a")
    assert queue.get(timeout=0) == "a"
    queue.add("a")
    assert queue.get(timeout=0) is None, "a second worker must not get the same Canary"
    queue.done("a")
    assert queue.get(timeout=0) == "a", "the change seen meanwhile is not lost"


def test_a_requeue_that_falls_due_while_processing_runs_after_done() -> None:
    queue, timers, clock = _queue()
    queue.add("a")
    assert queue.get(timeout=0) == "a"
    queue.add("a", delay=1)
    _advance(clock, timers, 2)
    assert queue.get(timeout=0) is None
    queue.done("a")
    assert queue.get(timeout=0) == "a"


def test_different_keys_are_handed_out_in_due_order() -> None:
    queue, timers, clock = _queue()
    queue.add("late", delay=2)
    queue.add("early", delay=1)
    _advance(clock, timers, 3)
    assert [queue.get(timeout=0), queue.get(timeout=0)] == ["early", "late"]


def test_a_forgotten_key_is_not_handed_out() -> None:
    queue, timers, clock = _queue()
    queue.add("gone")
    queue.add("later", delay=5)
    queue.forget("gone")
    queue.forget("later")
    _advance(clock, timers, 10)
    assert queue.get(timeout=0) is None
    assert queue.pending() == set()


Step = tuple[str, str, float]
steps = st.lists(
    st.tuples(
        st.sampled_from(["add", "get", "done", "advance"]),
        st.sampled_from(["a", "b", "c"]),
        st.sampled_from([0.0, 0.5, 1.0, 3.0]),
    ),
    max_size=40,
)


@settings(max_examples=200, deadline=None)
@given(steps)
def test_no_key_is_held_twice_and_every_request_is_served(script: list[Step]) -> None:
    """Safety: a key is never handed out while held. Liveness: once every worker is done and
    time has run on, each key that was requested after it was last handed out is handed out."""
    queue, timers, clock = _queue()
    held: set[str] = set()
    owed: set[str] = set()  # requested since last handed out
    for action, key, amount in script:
        if action == "add":
            queue.add(key, delay=amount)
            owed.add(key)
        elif action == "get":
            got = queue.get(timeout=0)
            if got is not None:
                assert got not in held, f"{got} handed out while held"
                held.add(got)
                owed.discard(got)
        elif action == "done" and key in held:
            held.discard(key)
            queue.done(key)
        elif action == "advance":
            _advance(clock, timers, amount)
    for key in list(held):
        queue.done(key)
    _advance(clock, timers, 10)
    served = set()
    while (got := queue.get(timeout=0)) is not None:
        assert got not in served, "one request, one hand-out"
        served.add(got)
        queue.done(got)
    assert owed <= served
