"""The controller's timers on APScheduler: one pending callback per key, the earliest wins."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from canary.controller.scheduling import SchedulerTimers
from canary.sandbox import testing


@pytest.fixture
def timers() -> Iterator[SchedulerTimers[str]]:
    scheduler: SchedulerTimers[str] = SchedulerTimers()
    scheduler.start()
    yield scheduler
    scheduler.shutdown()


def test_a_callback_runs_once_after_its_delay(timers: SchedulerTimers[str]) -> None:
    fired: list[str] = []
    timers.call_later("a", 0.05, lambda: fired.append("a"))
    testing.eventually(lambda: fired == ["a"])
    assert timers.due() == {}


def test_an_earlier_request_replaces_a_later_one(timers: SchedulerTimers[str]) -> None:
    fired: list[str] = []
    timers.call_later("a", 3600, lambda: fired.append("late"))
    timers.call_later("a", 0.05, lambda: fired.append("early"))
    testing.eventually(lambda: fired)
    assert fired == ["early"]
    assert timers.due() == {}, "the hour-long request was folded into the earlier one"


def test_a_later_request_does_not_postpone_an_earlier_one(timers: SchedulerTimers[str]) -> None:
    fired: list[str] = []
    timers.call_later("a", 0.05, lambda: fired.append("early"))
    timers.call_later("a", 3600, lambda: fired.append("late"))
    testing.eventually(lambda: fired)
    assert fired == ["early"]
    assert timers.due() == {}


def test_a_cancelled_callback_does_not_run(timers: SchedulerTimers[str]) -> None:
    fired: list[str] = []
    timers.call_later("gone", 0.05, lambda: fired.append("gone"))
    timers.cancel("gone")
    timers.call_later("witness", 0.2, lambda: fired.append("witness"))
    testing.eventually(lambda: fired)
    assert fired == ["witness"]


def test_a_periodic_job_repeats_and_never_overlaps_itself(timers: SchedulerTimers[str]) -> None:
    running, most, runs = 0, 0, 0
    lock = threading.Lock()

    def slow() -> None:
        nonlocal running, most, runs
        with lock:
            running += 1
            most = max(most, running)
        time.sleep(0.05)  # longer than the period: the next run must wait, not overlap
        with lock:
            running -= 1
            runs += 1

    timers.every("renew", 0.01, slow)
    testing.eventually(lambda: runs >= 3)
    timers.stop_every("renew")
    assert most == 1
