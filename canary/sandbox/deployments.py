"""A stand-in for the Deployment controller: it writes Deployment `/status` as a rollout would.

No API server runs the Deployment controller, so tests drive its visible effect instead: the status
fields the canary controller reads (observedGeneration, replicas, updatedReplicas, readyReplicas,
availableReplicas, conditions). Everything goes through the official client and the `/status`
subresource, so the helpers work against the emulator and against a real cluster alike.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from kubernetes import client

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
    """Plays the Deployment controller in a background thread.

    Every `tick` seconds it lists Deployments (in `namespace`, or all) and, for each new generation,
    writes `/status` according to the Deployment's behaviour: `behaviour(name)` when a callable,
    else the one behaviour for all. `set_behaviour(name, b)` changes one Deployment's behaviour.

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
        self._seen: dict[tuple[str, str], tuple[int, float]] = {}  # key -> (generation, seen at)
        self._written: dict[tuple[str, str], tuple[int, str]] = {}  # key -> (generation, phase)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.errors: list[Exception] = []

    def set_behaviour(self, name: str, behaviour: Behaviour) -> None:
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
        listed: Any
        if self.namespace:
            listed = self._apps.list_namespaced_deployment(self.namespace, _preload_content=False)
        else:
            listed = self._apps.list_deployment_for_all_namespaces(_preload_content=False)
        now = time.monotonic()
        for item in json.loads(listed.data)["items"]:
            meta = item["metadata"]
            key = (meta["namespace"], meta["name"])
            generation = meta.get("generation", 1)
            seen = self._seen.get(key)
            if seen is None or seen[0] != generation:
                self._seen[key] = seen = (generation, now)
            phase = self.phase(meta["name"], now - seen[1])
            if self._written.get(key) != (generation, phase):
                self._apps.patch_namespaced_deployment_status(
                    meta["name"], meta["namespace"], {"status": status_for(item, phase)},
                    _content_type=MERGE)  # fmt: skip
                self._written[key] = (generation, phase)

    def _run(self) -> None:
        while not self._stop.wait(self.tick):
            try:
                self.step()
            except Exception as exc:  # keep simulating; tests can inspect `errors`
                log.warning("deployment simulator: %s", exc)
                self.errors.append(exc)

    def start(self) -> DeploymentSimulator:
        self._thread = threading.Thread(target=self._run, name="deployment-simulator", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> DeploymentSimulator:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:  # fmt: skip
        self.stop()
