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

from canary.kube.client import RETRIED_CODES, raw, retry_after

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
    ) -> None:
        self.name = name
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
        for item in listing.get("items") or []:
            self.handler("ADDED", item)
        return str(listing.get("metadata", {}).get("resourceVersion", ""))

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
