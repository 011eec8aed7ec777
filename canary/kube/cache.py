"""Informer-style caches: in-memory copies of watched objects, read without a request, written through."""

from __future__ import annotations

import copy
import threading
from collections import OrderedDict
from collections.abc import Iterable
from typing import Any

JSON = dict[str, Any]
Key = tuple[str, str]
"""(namespace, name)."""
ALL = ""
"""The scope of a cluster-wide watch."""


def _version(obj: JSON | None) -> int | None:
    """The resourceVersion as an integer, or None when absent or opaque."""
    text = ((obj or {}).get("metadata") or {}).get("resourceVersion")
    if not isinstance(text, str | int):
        return None
    try:
        return int(text)
    except (TypeError, ValueError):
        return None


def older(candidate: JSON, held: JSON | None) -> bool:
    """True when `candidate` is known to be older than `held`, so must not replace it.

    resourceVersions are opaque to clients (API conventions, "Concurrency Control and
    Consistency"); like client-go's MutationCache, only versions that both parse as integers are
    compared, and anything else lets the newcomer win (the watch is the authority).
    """
    new, old = _version(candidate), _version(held)
    return new is not None and old is not None and new < old


def _key(obj: JSON) -> Key:
    meta = obj.get("metadata") or {}
    return str(meta.get("namespace") or ""), str(meta.get("name") or "")


class Store:
    """One resource's objects in the namespaces its watches cover (every namespace for `ALL`).

    Fed by the watch (`replace` after each list, `apply` per event) and by the controller's own
    writes (`remember`, read-your-writes). A key marked `stale` (its write met a 409) is not
    answered from memory until an API read or a successful write refreshes it.
    """

    def __init__(self, plural: str) -> None:
        self.plural = plural
        self._lock = threading.Lock()
        self._objects: dict[Key, JSON] = {}
        self._synced: set[str] = set()
        self._stale: set[Key] = set()
        self._tombstones: dict[Key, JSON] = {}
        """The metadata of deleted objects, so a late answer to a write of ours cannot revive one
        (dropped by the next listing of their namespace)."""

    def covers(self, namespace: str) -> bool:
        """Whether a listing of `namespace` (or of every namespace) has been loaded."""
        with self._lock:
            return ALL in self._synced or namespace in self._synced

    def lookup(self, namespace: str, name: str) -> tuple[bool, JSON | None]:
        """(known, a copy of the object or None when it does not exist); not known: ask the API."""
        key = (namespace, name)
        with self._lock:
            if key in self._stale or not (ALL in self._synced or namespace in self._synced):
                return False, None
            held = self._objects.get(key)
            return True, copy.deepcopy(held) if held is not None else None

    def replace(self, scope: str, items: Iterable[JSON], version: str) -> None:
        """Load a full listing of `scope` taken at resourceVersion `version`.

        Objects missing from it are dropped, unless written by us after the listing was taken.
        """
        listed = {_key(item): item for item in items}
        at = _version({"metadata": {"resourceVersion": version}})
        with self._lock:
            for key in [k for k in self._objects if scope in (ALL, k[0]) and k not in listed]:
                held = _version(self._objects[key])
                if at is None or held is None or held <= at:
                    del self._objects[key]
            for key, item in listed.items():
                if not older(item, self._objects.get(key)):
                    self._objects[key] = item
            for key in [k for k in self._tombstones if scope in (ALL, k[0])]:
                del self._tombstones[key]
            self._synced.add(scope)

    def apply(self, event: str, obj: JSON) -> None:
        """A watch event: ADDED and MODIFIED replace, DELETED removes, unless ours is newer."""
        key = _key(obj)
        with self._lock:
            if self._older(key, obj):
                return
            if event == "DELETED":
                self._objects.pop(key, None)
                self._tombstones[key] = {"metadata": dict(obj.get("metadata") or {})}
            elif event in ("ADDED", "MODIFIED"):
                self._objects[key] = obj
                self._tombstones.pop(key, None)

    def _older(self, key: Key, obj: JSON) -> bool:
        return older(obj, self._objects.get(key) or self._tombstones.get(key))

    def remember(self, obj: JSON) -> None:
        """An object as the API server answered a read or a write of ours."""
        key = _key(obj)
        with self._lock:
            self._stale.discard(key)
            if not self._older(key, obj):
                self._objects[key] = copy.deepcopy(obj)
                self._tombstones.pop(key, None)

    def gone(self, namespace: str, name: str) -> None:
        """The API server answered 404 to a read of ours."""
        with self._lock:
            self._stale.discard((namespace, name))
            self._objects.pop((namespace, name), None)

    def mark_stale(self, namespace: str, name: str) -> None:
        with self._lock:
            self._stale.add((namespace, name))

    def keys(self) -> list[Key]:
        with self._lock:
            return list(self._objects)

    def __len__(self) -> int:
        with self._lock:
            return len(self._objects)


def metadata_of(plural: str) -> str:
    """The name of the store of a kind watched as metadata only (PartialObjectMetadata): never
    answers a read of the object itself, only whether it exists and at which version."""
    return f"{plural}:metadata"


class RecordedEvents:
    """The count of each Event this controller recorded, by (namespace, name), so that a repeat
    is counted on the existing Event with one patch and no read.

    Like client-go's event correlator (`EventCorrelator`, whose LRU holds 4,096 entries), the
    memory is bounded: the least recently recorded are forgotten first, and a forgotten or
    never-seen Event costs a create, then one read if the API server already holds it.
    `size` entries of a few dozen bytes each.
    """

    def __init__(self, size: int = 16384) -> None:
        self.size = size
        self._lock = threading.Lock()
        self._counts: OrderedDict[Key, int] = OrderedDict()

    def count(self, namespace: str, name: str) -> int | None:
        """The count last written to the Event, or None when not remembered."""
        with self._lock:
            found = self._counts.get((namespace, name))
            if found is not None:
                self._counts.move_to_end((namespace, name))
            return found

    def remember(self, namespace: str, name: str, count: int) -> None:
        with self._lock:
            self._counts[(namespace, name)] = count
            self._counts.move_to_end((namespace, name))
            while len(self._counts) > self.size:
                self._counts.popitem(last=False)

    def forget(self, namespace: str, name: str) -> None:
        with self._lock:
            self._counts.pop((namespace, name), None)

    def __len__(self) -> int:
        with self._lock:
            return len(self._counts)


class Cache:
    """The stores by resource plural; a plural without a store is always read from the API."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._stores: dict[str, Store] = {}
        self._contents: dict[tuple[str, str, str], JSON] = {}
        self.events = RecordedEvents()
        """What the controller's own Event writes answered (no watch feeds it)."""

    def keep(self, plural: str, obj: JSON) -> None:
        """Hold a full object read from the API of a kind watched as metadata only."""
        namespace, name = _key(obj)
        with self._lock:
            self._contents[(plural, namespace, name)] = copy.deepcopy(obj)

    def kept(self, plural: str, namespace: str, name: str) -> tuple[bool, JSON | None]:
        """(known, object) for a kind watched as metadata only: known when its metadata store is
        synced for `namespace`; the object when it is absent (None) or a copy `keep` holds has
        the version the watch last reported."""
        store = self.get(metadata_of(plural))
        if store is None:
            return False, None
        known, meta = store.lookup(namespace, name)
        with self._lock:
            if known and meta is None:
                self._contents.pop((plural, namespace, name), None)
                return True, None
            held = self._contents.get((plural, namespace, name))
        if not known or held is None or meta is None:
            return False, None
        version = meta.get("metadata", {}).get("resourceVersion")
        if version is None or held.get("metadata", {}).get("resourceVersion") != version:
            return False, None
        return True, copy.deepcopy(held)

    def store(self, plural: str) -> Store:
        """The store of `plural`, made on first use (a watch will feed it)."""
        with self._lock:
            return self._stores.setdefault(plural, Store(plural))

    def get(self, plural: str) -> Store | None:
        with self._lock:
            return self._stores.get(plural)

    def sizes(self) -> dict[str, int]:
        """Objects held, by plural (for metrics and tests)."""
        with self._lock:
            stores = dict(self._stores)
        return {plural: len(store) for plural, store in stores.items()}
