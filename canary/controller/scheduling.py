"""The controller's timers: per-key one-shot callbacks (earliest wins) and periodic jobs, on APScheduler."""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Hashable
from datetime import UTC, datetime, timedelta
from typing import Generic, Protocol, TypeVar

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger

K = TypeVar("K", bound=Hashable)

# APScheduler logs every job run at INFO: at a thousand Canaries that is noise, not news.
logging.getLogger("apscheduler").setLevel(logging.WARNING)


class Timers(Protocol[K]):
    """One pending callback per key; a key's earlier due time wins over a later one."""

    def call_later(self, key: K, delay: float, callback: Callable[[], None]) -> None:
        """Run `callback()` in `delay` seconds, unless the key already fires sooner."""

    def cancel(self, key: K) -> None:
        """Drop the key's pending callback (if any)."""

    def due(self) -> dict[K, float]:
        """Pending keys and when they fire (the timers' monotonic clock, seconds)."""


class SchedulerTimers(Generic[K]):
    """`Timers` on an APScheduler BackgroundScheduler: one date-triggered job per key.

    Choices, deliberately: `misfire_grace_time=None` runs a late job however late (a dropped
    requeue would leave a Canary waiting for an event that may never come), `coalesce=True` so a
    periodic job that fell behind runs once rather than once per missed period, `max_instances=1`
    so a slow lease renewal is never overlapped by the next. Key callbacks (they only put a key on
    the work queue) run on their own small pool; periodic jobs (lease renewal makes API calls that
    may take seconds) on another, so a slow API call never delays a Canary's requeue.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._due: dict[K, float] = {}
        self._ids: dict[K, str] = {}
        self._scheduler = BackgroundScheduler(
            timezone=UTC,
            executors={
                "default": ThreadPoolExecutor(max_workers=2),
                "periodic": ThreadPoolExecutor(max_workers=2),
            },
            job_defaults={"misfire_grace_time": None, "coalesce": True, "max_instances": 1},
        )

    def start(self) -> None:
        if not self._scheduler.running:
            self._scheduler.start()

    def shutdown(self) -> None:
        """Stop firing; callbacks already running finish on their own."""
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)

    def call_later(self, key: K, delay: float, callback: Callable[[], None]) -> None:
        delay = max(0.0, delay)
        with self._lock:
            due = self._clock() + delay
            if key in self._due and self._due[key] <= due:
                return
            self._due[key] = due
            job_id = self._ids.setdefault(key, f"key:{key!r}")
            # Held under our lock so that two racing adds of one key leave the earlier job.
            self._scheduler.add_job(
                self._fire,
                DateTrigger(datetime.now(UTC) + timedelta(seconds=delay)),
                args=(key, due, callback),
                id=job_id,
                replace_existing=True,
            )

    def _fire(self, key: K, due: float, callback: Callable[[], None]) -> None:
        with self._lock:
            if self._due.get(key) != due:
                return  # replaced or cancelled after this run was submitted
            del self._due[key]
            self._ids.pop(key, None)
        callback()

    def cancel(self, key: K) -> None:
        with self._lock:
            if self._due.pop(key, None) is None:
                return
            job_id = self._ids.pop(key)
            # Already submitted when this fails: `_fire` then sees the key gone and does nothing.
            with contextlib.suppress(JobLookupError):
                self._scheduler.remove_job(job_id)

    def due(self) -> dict[K, float]:
        with self._lock:
            return dict(self._due)

    def every(self, name: str, seconds: float, job: Callable[[], None]) -> None:
        """Run `job()` now and then every `seconds`, never two at once; replaces `name`'s job."""
        self._scheduler.add_job(
            job,
            IntervalTrigger(seconds=seconds),
            id=f"every:{name}",
            next_run_time=datetime.now(UTC),
            executor="periodic",
            replace_existing=True,
        )

    def stop_every(self, name: str) -> None:
        with contextlib.suppress(JobLookupError):
            self._scheduler.remove_job(f"every:{name}")


class ManualTimers(Generic[K]):
    """`Timers` that fire only when told (`run_due`), on a clock the caller moves: for tests and
    simulations that drive time themselves."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._pending: dict[K, tuple[float, Callable[[], None]]] = {}

    def call_later(self, key: K, delay: float, callback: Callable[[], None]) -> None:
        due = self._clock() + max(0.0, delay)
        if key not in self._pending or due < self._pending[key][0]:
            self._pending[key] = (due, callback)

    def cancel(self, key: K) -> None:
        self._pending.pop(key, None)

    def due(self) -> dict[K, float]:
        return {key: due for key, (due, _) in self._pending.items()}

    def run_due(self) -> int:
        """Fire every callback due by now, earliest first; how many fired."""
        now = self._clock()
        ready = sorted(
            ((due, n, key) for n, (key, (due, _)) in enumerate(self._pending.items())
             if due <= now),
        )  # fmt: skip
        for _, _, key in ready:
            _, callback = self._pending.pop(key)
            callback()
        return len(ready)
