"""A work queue of Canary keys with requeue-after: each key is handed to one worker at a time."""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

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

    Adding a key that is already queued keeps the earlier due time. Adding a key while a worker
    holds it defers it until `done`, so the same Canary is never reconciled twice at once and a
    change seen during a reconcile is not lost.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._cond = threading.Condition()
        self._due: dict[K, float] = {}
        self._heap: list[tuple[float, int, K]] = []
        self._order = itertools.count()
        self._processing: set[K] = set()
        self._deferred: dict[K, float] = {}
        self._closed = False

    def add(self, key: K, delay: float = 0.0) -> None:
        with self._cond:
            due = self._clock() + max(0.0, delay)
            if key in self._processing:
                self._deferred[key] = min(due, self._deferred.get(key, due))
                return
            self._schedule(key, due)

    def _schedule(self, key: K, due: float) -> None:
        if key in self._due and self._due[key] <= due:
            return
        self._due[key] = due
        heapq.heappush(self._heap, (due, next(self._order), key))
        self._cond.notify()

    def get(self, timeout: float | None = None) -> K | None:
        """The next due key (now held by the caller until `done`), or None after `timeout`."""
        deadline = None if timeout is None else self._clock() + timeout
        with self._cond:
            while not self._closed:
                self._drop_stale()
                now = self._clock()
                if self._heap and self._heap[0][0] <= now:
                    _, _, key = heapq.heappop(self._heap)
                    del self._due[key]
                    self._processing.add(key)
                    return key
                wait = self._heap[0][0] - now if self._heap else None
                if deadline is not None:
                    left = deadline - now
                    if left <= 0:
                        return None
                    wait = left if wait is None else min(wait, left)
                self._cond.wait(wait)
            return None

    def _drop_stale(self) -> None:
        while self._heap and self._due.get(self._heap[0][2]) != self._heap[0][0]:
            heapq.heappop(self._heap)

    def done(self, key: K) -> None:
        with self._cond:
            self._processing.discard(key)
            if key in self._deferred:
                self._schedule(key, self._deferred.pop(key))

    def forget(self, key: K) -> None:
        """Drop a key that no longer exists (its pending requeue included)."""
        with self._cond:
            self._due.pop(key, None)
            self._deferred.pop(key, None)

    def pending(self) -> dict[K, float]:
        """Queued keys and their due times (for tests and debugging)."""
        with self._cond:
            return {**self._due, **self._deferred}

    def shutdown(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
