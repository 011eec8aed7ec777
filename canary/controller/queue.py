"""A work queue of Canary keys with requeue-after: each key is handed to one worker at a time."""

from __future__ import annotations

import functools
import threading
from collections.abc import Hashable
from typing import Any, Generic, TypeVar

from canary.controller.scheduling import SchedulerTimers, Timers

K = TypeVar("K", bound=Hashable)

FIRST_BACKOFF = 0.5
MAX_BACKOFF = 60.0


def backoff(failures: int, interval: float, recheck: float | None = None) -> float:
    """Seconds before retrying a Canary whose reconcile failed `failures` times in a row (>= 1).

    Doubles from FIRST_BACKOFF but never beyond the Canary's own analysis `interval` (seconds),
    nor beyond the re-check its last good reconcile asked for (`recheck`), nor MAX_BACKOFF: a
    failure must not make a Canary that waits for its pods sleep longer than a success would.
    """
    cap = min(MAX_BACKOFF, interval, recheck if recheck is not None else MAX_BACKOFF)
    return float(min(cap, FIRST_BACKOFF * 2 ** max(0, failures - 1)))


class WorkQueue(Generic[K]):
    """Keys become due at a time; `get` hands out due keys, never one that is being processed.

    Delays are kept by `timers` (APScheduler by default, see canary.controller.scheduling); the
    queue holds only the keys that are due. Adding a key that is already due or pending keeps
    the earlier time. Adding a key while a worker holds it defers it until `done`, so the same
    Canary is never reconciled twice at once and a change seen during a reconcile is not lost.
    """

    def __init__(self, timers: Timers[K] | None = None) -> None:
        self._cond = threading.Condition()
        self._timers: Timers[K] = timers if timers is not None else _started_timers()
        self._ready: dict[K, None] = {}
        """Due keys in the order they became due (a dict: ordered, O(1) removal)."""
        self._processing: set[K] = set()
        self._dirty: set[K] = set()
        """Keys that became due while a worker held them: due again at `done`."""
        self._closed = False

    @property
    def timers(self) -> Timers[K]:
        return self._timers

    def add(self, key: K, delay: float = 0.0) -> None:
        """Make `key` due in `delay` seconds (now when <= 0), unless it is due sooner already."""
        if delay > 0:
            with self._cond:
                if key in self._ready or key in self._dirty:
                    return
            # Outside our lock: a timer that fires at once calls back into `_due_now`.
            self._timers.call_later(key, delay, functools.partial(self._due_now, key))
            return
        self._timers.cancel(key)
        self._due_now(key)

    def _due_now(self, key: K) -> None:
        with self._cond:
            if key in self._processing:
                self._dirty.add(key)
            elif key not in self._ready:
                self._ready[key] = None
                self._cond.notify()

    def get(self, timeout: float | None = None) -> K | None:
        """The next due key (now held by the caller until `done`), or None after `timeout`."""
        with self._cond:
            if not self._cond.wait_for(lambda: self._ready or self._closed, timeout):
                return None
            if self._closed:
                return None
            key = next(iter(self._ready))
            del self._ready[key]
            self._processing.add(key)
            return key

    def done(self, key: K) -> None:
        with self._cond:
            self._processing.discard(key)
            if key in self._dirty:
                self._dirty.discard(key)
                self._ready[key] = None
                self._cond.notify()

    def forget(self, key: K) -> None:
        """Drop a key that no longer exists (its pending requeue included)."""
        self._timers.cancel(key)
        with self._cond:
            self._ready.pop(key, None)
            self._dirty.discard(key)

    def pending(self) -> set[K]:
        """Keys due now or later (for tests and debugging; `timers.due()` has the times)."""
        with self._cond:
            now = set(self._ready) | self._dirty
        return now | set(self._timers.due())

    def shutdown(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        stop = getattr(self._timers, "shutdown", None)
        if stop is not None:
            stop()


def _started_timers() -> Timers[Any]:
    timers: SchedulerTimers[Any] = SchedulerTimers()
    timers.start()
    return timers
