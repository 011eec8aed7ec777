"""The work queue hands each Canary to one worker at a time, at the time it asked for."""

from __future__ import annotations

from canary.controller.queue import WorkQueue
from tests.controller.kube_harness import FakeMonotonic


def test_a_key_is_handed_out_when_it_is_due() -> None:
    clock = FakeMonotonic()
    queue: WorkQueue[str] = WorkQueue(clock)
    queue.add("a", delay=5)
    assert queue.get(timeout=0) is None
    clock.advance(5)
    assert queue.get(timeout=0) == "a"


def test_adding_a_queued_key_keeps_the_earlier_time() -> None:
    clock = FakeMonotonic()
    queue: WorkQueue[str] = WorkQueue(clock)
    queue.add("a", delay=10)
    queue.add("a", delay=1)
    queue.add("a", delay=30)
    clock.advance(1)
    assert queue.get(timeout=0) == "a"
    assert queue.get(timeout=0) is None


def test_a_key_being_processed_is_not_handed_out_again_until_done() -> None:
    clock = FakeMonotonic()
    queue: WorkQueue[str] = WorkQueue(clock)
    queue.add("a")
    assert queue.get(timeout=0) == "a"
    queue.add("a")
    assert queue.get(timeout=0) is None, "a second worker must not get the same Canary"
    queue.done("a")
    assert queue.get(timeout=0) == "a", "the change seen meanwhile is not lost"


def test_different_keys_are_handed_out_in_due_order() -> None:
    clock = FakeMonotonic()
    queue: WorkQueue[str] = WorkQueue(clock)
    queue.add("late", delay=2)
    queue.add("early", delay=1)
    clock.advance(3)
    assert [queue.get(timeout=0), queue.get(timeout=0)] == ["early", "late"]


def test_a_forgotten_key_is_not_handed_out() -> None:
    clock = FakeMonotonic()
    queue: WorkQueue[str] = WorkQueue(clock)
    queue.add("gone")
    queue.forget("gone")
    assert queue.get(timeout=0) is None
