"""Notice when one Canary changes: a watch in a thread of its own, polling when watching fails."""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING

from canary.operate.errors import ApiStatusError, CliError

if TYPE_CHECKING:
    from canary.operate.api import Api

WATCH_SECONDS = 60
"""How long each watch request lasts before the server ends it and a new one starts."""
RETRY_SECONDS = 1.0
FAILURES_BEFORE_POLLING = 3
"""Watches in a row that fail (not a 410 Gone) before falling back to reading the Canary."""


class CanaryChanges:
    """`wait(timeout)` returns True once the Canary changed since the last call.

    A daemon thread watches the Canary (a field selector on its name) from `resource_version`.
    A 410 Gone restarts the watch from the newest version (and counts as a change: something was
    missed); a watch refused or unreachable three times in a row (RBAC without `watch`, a proxy
    that cuts streams) gives way to reading the Canary's resourceVersion at every `wait`, the way
    `kubectl get -w` cannot but the user still gets a live view.
    """

    def __init__(self, api: Api, name: str, resource_version: str) -> None:
        self.api = api
        self.name = name
        self.version = resource_version
        self.polling = False
        self._changed = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="canary-watch", daemon=True)

    def start(self) -> CanaryChanges:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def wait(self, timeout: float) -> bool:
        """Whether the Canary changed, waiting at most `timeout` seconds to find out."""
        if self.polling:
            time.sleep(timeout)
            version = str(self.api.get_canary(self.name)["metadata"].get("resourceVersion") or "")
            changed, self.version = version != self.version, version
            return changed
        changed = self._changed.wait(timeout)
        self._changed.clear()
        return changed

    def _watch(self) -> None:
        failures = 0
        while not self._stop.is_set() and failures < FAILURES_BEFORE_POLLING:
            try:
                for event in self.api.watch_canary(self.name, self.version, WATCH_SECONDS):
                    failures = 0
                    if self._stop.is_set():
                        return
                    self._take(event)
            except ApiStatusError as exc:
                if exc.code == 410:
                    self.version = ""  # the newest: the first event is the Canary as it is now
                    self._changed.set()
                    continue
                failures += 1
            except CliError:
                failures += 1
            if failures:
                self._stop.wait(RETRY_SECONDS)
        if failures >= FAILURES_BEFORE_POLLING:
            self.polling = True
            self._changed.set()  # wake the reader, which polls from now on

    def _take(self, event: dict[str, object]) -> None:
        obj = event.get("object")
        metadata = obj.get("metadata") if isinstance(obj, dict) else None
        version = metadata.get("resourceVersion") if isinstance(metadata, dict) else None
        if isinstance(version, str) and version:
            self.version = version
        if event.get("type") == "ERROR":
            code = obj.get("code") if isinstance(obj, dict) else None
            if code == 410:
                self.version = ""
            self._changed.set()
            return
        if event.get("type") != "BOOKMARK":
            self._changed.set()
