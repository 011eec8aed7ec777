"""List-then-watch loops that survive dropped streams and 410 Gone by listing again."""

from __future__ import annotations

import random
import threading
from collections.abc import Callable, Mapping
from typing import Any

import structlog
import urllib3
from kubernetes import watch
from kubernetes.client.exceptions import ApiException

from canary.kube.cache import ALL, Store, metadata_of
from canary.kube.client import ISTIO_GROUP, ISTIO_VERSION, RETRIED_CODES, Kube, raw, retry_after

JSON = dict[str, Any]
Handler = Callable[[str, JSON], None]
log = structlog.get_logger("canary.watch")

METADATA_ONLY = {"Accept": "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"}
"""Request headers of a list or watch that needs names and labels only (Secrets: no data)."""


class Watcher:
    """Keeps `handler(event_type, object)` fed for one resource (in one namespace, or all).

    It lists first (every object is handed over as ADDED), then watches from the list's
    resourceVersion. A stream that ends, or whose connection is cut, is resumed from the last
    resourceVersion seen (after a short jittered wait, so a cut loses no event and costs no list);
    an expired one (410 Gone), or one cut `RESUMES` times in a row, is replaced by a fresh list, as
    client-go's reflector does.

    With a `store`, every listing replaces the store's objects of `scope` (a namespace, or `ALL`)
    and every event updates it before the handler sees it, so a reconcile the handler queues
    reads the object the event carried, or a newer one.
    """

    RESUMES = 3

    def __init__(
        self,
        name: str,
        list_call: Callable[..., Any],
        args: tuple[Any, ...],
        handler: Handler,
        timeout_seconds: int = 300,
        backoff: float = 1.0,
        headers: Mapping[str, str] | None = None,
        store: Store | None = None,
        scope: str = ALL,
    ) -> None:
        self.name = name
        self.store, self.scope = store, scope
        self.headers = dict(headers or {})
        self.list_call = list_call
        self.args = args
        self.handler = handler
        self.timeout_seconds = timeout_seconds
        self.backoff = backoff
        self.synced = threading.Event()
        self.relists = 0
        self._watch: watch.Watch | None = None

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                version = self._list()
                self.synced.set()
                self._watch_from(version, stop)
            except Exception as error:
                if stop.is_set():
                    return
                log.warning("watch failed, listing again", watch=self.name, error=str(error))
                stop.wait(self.backoff)

    def stop(self) -> None:
        if self._watch is not None:
            self._watch.stop()  # type: ignore[no-untyped-call]

    def _list(self) -> str:
        listing = raw(self.list_call, *self.args, **self._extra())
        self.relists += 1
        items = listing.get("items") or []
        version = str(listing.get("metadata", {}).get("resourceVersion", ""))
        if self.store is not None:
            self.store.replace(self.scope, items, version)
        for item in items:
            self.handler("ADDED", item)
        return version

    def _extra(self) -> dict[str, Any]:
        return {"_headers": dict(self.headers)} if self.headers else {}

    def _watch_from(self, version: str, stop: threading.Event) -> None:
        """Watch until the history expires (return to list again) or `stop`."""
        cuts = 0
        while not stop.is_set():
            self._watch = watch.Watch()  # type: ignore[no-untyped-call]
            seen = version
            try:
                for event in self._watch.stream(  # type: ignore[no-untyped-call]
                    self.list_call,
                    *self.args,
                    resource_version=version,
                    timeout_seconds=self.timeout_seconds,
                    allow_watch_bookmarks=True,
                    # A connection that dies silently would otherwise block this thread forever.
                    _request_timeout=self.timeout_seconds + 30,
                    **self._extra(),
                ):
                    if stop.is_set():
                        return
                    kind, obj = event["type"], event.get("raw_object") or event["object"]
                    if kind == "ERROR":
                        if obj.get("code") == 410:
                            return
                        raise RuntimeError(f"watch error: {obj.get('message')}")
                    version = str(obj.get("metadata", {}).get("resourceVersion") or version)
                    if kind != "BOOKMARK":
                        if self.store is not None:
                            self.store.apply(kind, obj)
                        self.handler(kind, obj)
            except (ApiException, urllib3.exceptions.HTTPError, ConnectionError) as error:
                if isinstance(error, ApiException) and error.status == 410:
                    return
                if isinstance(error, ApiException) and error.status not in RETRIED_CODES:
                    raise
                # A cut stream, or a watch refused for now (429, 5xx): resume from `version`.
                cuts = 0 if version != seen else cuts + 1
                if cuts >= self.RESUMES:
                    raise
                log.debug("watch cut, resuming", watch=self.name, error=str(error)[:200])
                wait = retry_after(error)
                stop.wait(wait if wait is not None else random.uniform(0.05, 0.25) * self.backoff)


CACHED = ("canaries", "deployments")
"""Watched kinds whose full objects the reconcile reads: their watches feed the cache."""
METADATA_CACHED = ("configmaps", "secrets")
"""Watched as metadata only: their stores tell whether a config exists and at which version."""
CACHE_ONLY = ("services", "virtualservices", "destinationrules")
"""Kinds the reconcile reads at every interval but no event of theirs calls for a reconcile:
watched only to keep the cache (the Canary's own interval brings the next look)."""


def _ignore(event: str, obj: JSON) -> None:
    return


def _cache_only_calls(kube: Kube, plural: str) -> tuple[Callable[..., Any], ...]:
    """(list in a namespace, list in every namespace) for one of `CACHE_ONLY`."""
    if plural == "services":
        return kube.core.list_namespaced_service, kube.core.list_service_for_all_namespaces
    return (
        kube.custom.list_namespaced_custom_object,
        kube.custom.list_cluster_custom_object,
    )


def with_caches(
    kube: Kube, watchers: list[Watcher], namespaces: list[str], timeout: int
) -> list[Watcher]:
    """`watchers` feeding `kube.cache`, plus the watches of `CACHE_ONLY` in the same namespaces.

    A watcher's kind and scope come from its name: `<plural>` (every namespace) or
    `<plural>/<namespace>`. ConfigMaps and Secrets, watched as metadata only, feed stores that
    answer only whether a config exists and at which version (`Cache.kept`); reads of other
    kinds (HPAs, Events) keep asking the API.
    """
    for watcher in watchers:
        plural, _, namespace = watcher.name.partition("/")
        if plural in CACHED:
            watcher.store, watcher.scope = kube.cache.store(plural), namespace or ALL
        elif plural in METADATA_CACHED:
            watcher.store, watcher.scope = kube.cache.store(metadata_of(plural)), namespace or ALL
    extra = []
    for plural in CACHE_ONLY:
        namespaced, cluster = _cache_only_calls(kube, plural)
        prefix: tuple[Any, ...] = () if plural == "services" else (ISTIO_GROUP, ISTIO_VERSION)
        store = kube.cache.store(plural)
        if not namespaces:
            args = () if plural == "services" else (*prefix, plural)
            extra.append(Watcher(plural, cluster, args, _ignore, timeout, store=store))
        for namespace in namespaces:
            args = (namespace,) if plural == "services" else (*prefix, namespace, plural)
            extra.append(
                Watcher(
                    f"{plural}/{namespace}",
                    namespaced,
                    args,
                    _ignore,
                    timeout,
                    store=store,
                    scope=namespace,
                )
            )
    return [*watchers, *extra]
