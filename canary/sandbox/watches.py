"""Watches: the bounded history of changes, and what one watch sees of it."""

from __future__ import annotations

import bisect
import collections
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from canary.sandbox import errors
from canary.sandbox.objects import as_version
from canary.sandbox.resources import ResourceType

if TYPE_CHECKING:
    from canary.sandbox.store import Store

JSON = dict[str, Any]


@dataclass(frozen=True)
class Event:
    """One change in the history that watches replay."""

    rv: int
    type: str
    resource: str
    namespace: str
    obj: JSON
    old: JSON | None


@dataclass
class WatchRequest:
    """A watch: which objects, from which resourceVersion (None: current state first), how long."""

    rt: ResourceType
    namespace: str
    match: Callable[[JSON], bool]
    since: int | None
    timeout: float
    bookmarks: bool = False
    version: str = ""
    alive: Callable[[], bool] | None = None
    """Checked about once a second while idle: False (the client hung up) ends the watch."""


class History:
    """The retained changes, oldest first; a watch from before them gets 410 Expired."""

    def __init__(self, size: int) -> None:
        self._events: collections.deque[Event] = collections.deque(maxlen=max(size, 1))
        self.compacted = 0
        """The newest resourceVersion no longer retained."""

    def append(self, event: Event) -> None:
        if len(self._events) == self._events.maxlen:
            self.compacted = self._events[0].rv
        self._events.append(event)

    def after(self, rv: int) -> list[Event]:
        events = self._events
        if not events or events[-1].rv <= rv:
            return []
        start = bisect.bisect_right(events, rv, key=lambda e: e.rv)
        return [events[i] for i in range(start, len(events))]

    def compact(self) -> None:
        """Forget everything retained (a test knob)."""
        if self._events:
            self.compacted = self._events[-1].rv
        self._events.clear()


def stream(store: Store, req: WatchRequest) -> Generator[tuple[str, JSON], None, None]:
    """Yield (type, object) from `req.since` on, until the timeout or `close()`.

    Without a start resourceVersion the watch first replays the current state as ADDED. A
    start older than the retained history yields one ERROR event with a 410 Expired Status.
    Nothing is yielded with the lock held: a slow client must not stall the writers.
    """
    deadline = time.monotonic() + req.timeout
    if req.since is None:
        initial, cursor = store.list_objects(req.rt, req.namespace, req.match, req.version)
        for obj in initial:
            yield "ADDED", obj
    else:
        cursor = req.since
    last_sent = time.monotonic()
    while True:
        send_bookmark = False
        with store.lock:
            if store.closed:
                return
            if cursor < store.history.compacted:
                expired = errors.expired(cursor, store.history.compacted + 1)
                batch = None
            else:
                batch = store.history.after(cursor)
                if not batch:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        break
                    if req.bookmarks:
                        remaining = min(remaining, store.bookmark_interval)
                    woken = store.changed.wait(min(remaining, 1.0))
                    if not woken and req.alive is not None and not req.alive():
                        return
                    quiet = time.monotonic() - last_sent >= store.bookmark_interval
                    if req.bookmarks and quiet and not store.history.after(cursor):
                        cursor, send_bookmark = store.resource_version, True
        if batch is None:
            yield "ERROR", expired.status()
            return
        if send_bookmark:
            last_sent = time.monotonic()
            yield "BOOKMARK", bookmark(req.rt, cursor, req.version)
        for event in batch:
            cursor = event.rv
            out = visible(req, event)
            if out is not None:
                last_sent = time.monotonic()
                yield out
    if req.bookmarks:
        # Like the watch cache, tell the client how far it got before the stream ends.
        with store.lock:
            if not store.history.after(cursor):
                cursor = store.resource_version
        yield "BOOKMARK", bookmark(req.rt, cursor, req.version)


def bookmark(rt: ResourceType, rv: int, version: str) -> JSON:
    return {
        "kind": rt.kind,
        "apiVersion": rt.api_version(version),
        "metadata": {"resourceVersion": str(rv)},
    }


def visible(req: WatchRequest, event: Event) -> tuple[str, JSON] | None:
    """The event as this watch sees it: leaving the selector is DELETED, entering it ADDED."""
    if event.resource != req.rt.key or (req.namespace and event.namespace != req.namespace):
        return None
    now_matches = req.match(event.obj)
    if event.type in ("ADDED", "DELETED"):
        return (event.type, as_version(req.rt, event.obj, req.version)) if now_matches else None
    was_matching = event.old is not None and req.match(event.old)
    if now_matches:
        kind = "MODIFIED" if was_matching else "ADDED"
    elif was_matching:
        kind = "DELETED"
    else:
        return None
    return kind, as_version(req.rt, event.obj, req.version)
