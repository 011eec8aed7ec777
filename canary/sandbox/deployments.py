"""A stand-in for the Deployment controller: it writes Deployment `/status` as a rollout would.

No API server runs the Deployment controller, so tests drive its visible effect instead: the status
fields the canary controller reads (observedGeneration, replicas, updatedReplicas, readyReplicas,
availableReplicas, conditions). Everything goes through the official client and the `/status`
subresource, so the helpers work against the emulator and against a real cluster alike.
"""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from kubernetes import client
from kubernetes.watch.watch import iter_resp_lines

JSON = dict[str, Any]
log = logging.getLogger(__name__)
MERGE = "application/merge-patch+json"


@dataclass(frozen=True)
class Ready:
    """Progressing for `delay` seconds after each new generation, then ready."""

    delay: float = 0.0


@dataclass(frozen=True)
class NeverReady:
    """Progressing forever; after `deadline` seconds (if given) Progressing=False, as on a stall."""

    deadline: float | None = None


@dataclass(frozen=True)
class Flapping:
    """Ready and not ready in turn, switching every `period` seconds."""

    period: float = 0.5


Behaviour = Ready | NeverReady | Flapping


def _condition(kind: str, status: bool, reason: str, message: str, stamp: str) -> JSON:
    return {"type": kind, "status": "True" if status else "False", "reason": reason,
            "message": message, "lastUpdateTime": stamp, "lastTransitionTime": stamp}  # fmt: skip


def status_for(deployment: JSON, phase: str, stamp: str = "") -> JSON:
    """The status a Deployment has in `phase`: progressing, ready, unready or stalled."""
    stamp = stamp or time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    meta, spec = deployment["metadata"], deployment.get("spec") or {}
    replicas = int(spec.get("replicas", 1))
    name = meta["name"]
    ready = {"ready": replicas, "unready": max(replicas - 1, 0)}.get(phase, 0)
    updated = 0 if phase in ("progressing", "stalled") else replicas
    status: JSON = {
        "observedGeneration": meta.get("generation", 1),
        "replicas": replicas,
        "updatedReplicas": updated,
        "readyReplicas": ready,
        "availableReplicas": ready,
        "unavailableReplicas": replicas - ready,
    }
    available = _condition(
        "Available", ready >= replicas, "MinimumReplicasAvailable" if ready >= replicas
        else "MinimumReplicasUnavailable", "Deployment has minimum availability." if ready >= replicas
        else "Deployment does not have minimum availability.", stamp)  # fmt: skip
    if phase == "stalled":
        progressing = _condition(
            "Progressing",
            False,
            "ProgressDeadlineExceeded",
            f'ReplicaSet "{name}" has timed out progressing.',
            stamp,
        )
    elif phase == "progressing":
        progressing = _condition(
            "Progressing", True, "ReplicaSetUpdated", f'ReplicaSet "{name}" is progressing.', stamp
        )
    else:
        progressing = _condition(
            "Progressing",
            True,
            "NewReplicaSetAvailable",
            f'ReplicaSet "{name}" has successfully progressed.',
            stamp,
        )
    status["conditions"] = [available, progressing]
    return status


def set_status(api_client: client.ApiClient, name: str, namespace: str, phase: str) -> JSON:
    """Write one phase's status to a Deployment now (merge patch of `/status`); the patched object."""
    apps = client.AppsV1Api(api_client)
    current: Any = apps.read_namespaced_deployment(name, namespace, _preload_content=False)
    deployment = json.loads(current.data)
    patched: Any = apps.patch_namespaced_deployment_status(
        name, namespace, {"status": status_for(deployment, phase)}, _content_type=MERGE,
        _preload_content=False)  # fmt: skip
    result: JSON = json.loads(patched.data)
    return result


def mark_progressing(api_client: client.ApiClient, name: str, namespace: str = "default") -> JSON:
    return set_status(api_client, name, namespace, "progressing")


def mark_ready(api_client: client.ApiClient, name: str, namespace: str = "default") -> JSON:
    return set_status(api_client, name, namespace, "ready")


def mark_stalled(api_client: client.ApiClient, name: str, namespace: str = "default") -> JSON:
    return set_status(api_client, name, namespace, "stalled")


class DeploymentSimulator:
    """Plays the Deployment controller in background threads.

    It watches Deployments (in `namespace`, or all) and, every `tick` seconds, writes `/status`
    of each one whose phase changed, according to its behaviour: `behaviour(name)` when a
    callable, else the one behaviour for all. `set_behaviour(name, b)` changes one Deployment's
    behaviour. `step()` does one synchronous pass (list, then write) for tests that drive time.

        with DeploymentSimulator(api_client, behaviour=Ready(delay=0.2)):
            ...  # Deployments the controller writes become ready 0.2 s after each change
    """

    def __init__(self, api_client: client.ApiClient, namespace: str | None = None,
                 behaviour: Behaviour | Callable[[str], Behaviour] = Ready(),
                 tick: float = 0.02) -> None:  # fmt: skip
        self._apps = client.AppsV1Api(api_client)
        self._api_client = api_client
        self.namespace = namespace
        self._default = behaviour
        self._overrides: dict[str, Behaviour] = {}
        self.tick = tick
        self._lock = threading.Lock()
        self._cache: dict[tuple[str, str], JSON] = {}  # the latest Deployment seen, by key
        self._seen: dict[tuple[str, str], tuple[int, float]] = {}  # key -> (generation, seen at)
        self._written: dict[tuple[str, str], tuple[int, str]] = {}  # key -> (generation, phase)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._response: Any = None
        self.errors: list[Exception] = []

    def set_behaviour(self, name: str, behaviour: Behaviour) -> None:
        with self._lock:
            self._overrides[name] = behaviour
            self._written = {k: v for k, v in self._written.items() if k[1] != name}

    def behaviour(self, name: str) -> Behaviour:
        if name in self._overrides:
            return self._overrides[name]
        return self._default(name) if callable(self._default) else self._default

    def phase(self, name: str, elapsed: float) -> str:
        """The phase a Deployment is in `elapsed` seconds after its generation changed."""
        b = self.behaviour(name)
        if isinstance(b, Ready):
            return "ready" if elapsed >= b.delay else "progressing"
        if isinstance(b, NeverReady):
            stalled = b.deadline is not None and elapsed >= b.deadline
            return "stalled" if stalled else "progressing"
        return "ready" if int(elapsed / b.period) % 2 == 0 else "unready"

    def step(self) -> None:
        """One pass: list the Deployments and write each status whose phase changed."""
        listed = self._list()
        with self._lock:
            keys = {(i["metadata"]["namespace"], i["metadata"]["name"]) for i in listed["items"]}
            for key in set(self._cache) - keys:
                self._forget(key)
        for item in listed["items"]:
            self._observe(item)
        self._write_changes()

    def _list(self, **params: Any) -> JSON:
        response: Any
        if self.namespace:
            response = self._apps.list_namespaced_deployment(
                self.namespace, _preload_content=False, **params)  # fmt: skip
        else:
            response = self._apps.list_deployment_for_all_namespaces(
                _preload_content=False, **params)  # fmt: skip
        if params.get("watch"):
            return {"response": response}
        listed: JSON = json.loads(response.data)
        return listed

    def _observe(self, item: JSON) -> None:
        meta = item["metadata"]
        key = (meta["namespace"], meta["name"])
        generation = meta.get("generation", 1)
        with self._lock:
            cached = self._cache.get(key)
            if cached is not None and cached["metadata"].get("uid") != meta.get("uid"):
                self._forget(key)  # deleted and created again between two passes: a new object
            self._cache[key] = item
            seen = self._seen.get(key)
            if seen is None or seen[0] != generation:
                self._seen[key] = (generation, time.monotonic())

    def _forget(self, key: tuple[str, str]) -> None:
        self._cache.pop(key, None)
        self._seen.pop(key, None)
        self._written.pop(key, None)

    def _write_changes(self) -> None:
        now = time.monotonic()
        with self._lock:
            due = []
            for key, item in self._cache.items():
                generation, since = self._seen[key]
                phase = self.phase(key[1], now - since)
                if self._written.get(key) != (generation, phase):
                    due.append((key, item, generation, phase))
        for key, item, generation, phase in due:
            try:
                self._apps.patch_namespaced_deployment_status(
                    key[1], key[0], {"status": status_for(item, phase)}, _content_type=MERGE
                )
            except client.ApiException as exc:
                if exc.status != 404:  # deleted meanwhile: the watch will say so
                    raise
                continue
            with self._lock:
                self._written[key] = (generation, phase)

    def _watch(self) -> None:
        """List, then watch from the list's resourceVersion; again after 410 or a broken stream."""
        while not self._stop.is_set():
            try:
                listed = self._list()
                with self._lock:
                    for key in list(self._cache):
                        self._forget(key)
                for item in listed["items"]:
                    self._observe(item)
                self._follow(str(listed["metadata"]["resourceVersion"]))
            except Exception as exc:  # keep simulating; tests can inspect `errors`
                if self._stop.is_set():
                    return
                log.warning("deployment simulator watch: %s", exc)
                self.errors.append(exc)
                self._stop.wait(0.1)

    def _follow(self, version: str) -> None:
        while not self._stop.is_set():
            self._response = self._list(watch=True, resource_version=version, timeout_seconds=60,
                                        allow_watch_bookmarks=True)["response"]  # fmt: skip
            for line in iter_resp_lines(self._response):  # type: ignore[no-untyped-call]
                if not line.strip():
                    continue
                event = json.loads(line)
                kind, obj = event["type"], event["object"]
                if kind == "ERROR":
                    if obj.get("code") == 410:
                        return  # expired: list again
                    raise RuntimeError(f"watch error: {obj.get('message')}")
                version = obj["metadata"].get("resourceVersion") or version
                if kind == "DELETED":
                    with self._lock:
                        self._forget((obj["metadata"]["namespace"], obj["metadata"]["name"]))
                elif kind != "BOOKMARK":
                    self._observe(obj)

    def _tick(self) -> None:
        while not self._stop.wait(self.tick):
            try:
                self._write_changes()
            except Exception as exc:  # keep simulating; tests can inspect `errors`
                log.warning("deployment simulator: %s", exc)
                self.errors.append(exc)

    def start(self) -> DeploymentSimulator:
        for target, name in ((self._watch, "deployment-watch"), (self._tick, "deployment-tick")):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        self._stop.set()
        response = self._response
        sock = getattr(getattr(response, "connection", None), "sock", None)
        if sock is not None:
            # Unblock the watch's read at once, as kubernetes.watch.Watch.stop does.
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        for thread in self._threads:
            thread.join(timeout=5)

    def __enter__(self) -> DeploymentSimulator:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:  # fmt: skip
        self.stop()
