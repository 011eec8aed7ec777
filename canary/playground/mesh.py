"""The playground's mesh: polls the Kubernetes API for Istio routing and serves it on a real Envoy.

API (what the playground runner calls):
    mesh = Mesh(api_client, workdir=Path(...), listen_port=15001, admin_port=15000, spawn=None)
    mesh.start()               # launches Envoy, applies the first translation, waits until LIVE
    mesh.run_in_background()   # polls every `poll_interval` (0.2 s): a weight change is live < 1 s
    mesh.url                   # http://127.0.0.1:<listen_port>; route by the Host header
    mesh.access_log_path       # downstream log: one JSON line per user request
    mesh.upstream_log_path     # router upstream log: one per upstream attempt, mirrors included
    mesh.sync() -> SyncResult  # one pass (what the background loop does), for tests
    mesh.stop()                # stops the loop and Envoy

Each pass lists Services, Pods, DestinationRules and VirtualServices (the official client, every
call with a timeout), translates them with `mesh_translate.translate` and, when the result
changed, writes CDS, then RDS (LDS when the listener changed), then CDS again without the
clusters no route names any more, each by atomic rename and each read back from the admin
`/stats` (`version_text`) before the next (see EnvoyProcess.apply). A VirtualService the
translator cannot honour keeps its last applied form (or none) and gets one Warning Event
(reason `UnsupportedVirtualService`) plus a log line per distinct message; a version Envoy
refuses is logged, the previous configuration stays in force (Envoy keeps it) and the next pass
writes it again. A DestinationRule's `trafficPolicy` is not applied (its subsets are): that too
is one Warning Event on it and a log line.

Why polling and not watches: five lists of a loopback emulator every 0.2 s cost little, cannot
miss an event or go stale after a 410, and keep a weight change live well within 1 s (measured:
0.2-0.6 s, docs/internals/playground.md).
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from canary.kube.client import ISTIO_GROUP, ISTIO_VERSION, raw
from canary.playground.envoy_process import EnvoyProcess, Spawn, config_path
from canary.playground.mesh_translate import (
    LogPaths,
    Problem,
    VirtualHosts,
    World,
    ignored_policies,
    translate,
)

JSON = dict[str, Any]
log = logging.getLogger("canary.playground.mesh")

EVENT_REASON = "UnsupportedVirtualService"
"""The reason of the Warning Event on a VirtualService not applied (DestinationRules whose
trafficPolicy is ignored get `UnsupportedDestinationRule`)."""
ACCEPT_TIMEOUT = 5.0
"""Seconds to wait for Envoy to report a written version as accepted."""


@dataclass
class SyncResult:
    """What one pass did: the version written (None when nothing changed) and its problems."""

    version: str | None
    accepted: bool
    problems: list[Problem] = field(default_factory=list)


class Mesh:
    """One Envoy routing by Host for every VirtualService in the API (see module docstring)."""

    def __init__(
        self,
        api_client: client.ApiClient,
        *,
        workdir: Path,
        listen_port: int,
        admin_port: int,
        spawn: Spawn | None = None,
        poll_interval: float = 0.2,
    ) -> None:
        self.workdir = workdir
        self.listen_port = listen_port
        self.poll_interval = poll_interval
        self.envoy = EnvoyProcess(workdir, admin_port=admin_port, spawn=spawn)
        self._core = client.CoreV1Api(api_client)
        self._custom = client.CustomObjectsApi(api_client)
        self._applied: dict[tuple[str, str], VirtualHosts] = {}
        self._fingerprint = ""
        self._refused = ""
        self._version = 0
        self._reported: set[tuple[str, str, str, str]] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.last_error = ""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.listen_port}"

    @property
    def access_log_path(self) -> Path:
        return self.workdir / "access.log"

    @property
    def upstream_log_path(self) -> Path:
        return self.workdir / "upstream.log"

    @property
    def admin_url(self) -> str:
        return self.envoy.admin_url

    def start(self, timeout: float = 30.0) -> None:
        """Launch Envoy and apply the current routing; RuntimeError when Envoy does not come up."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        for path in (self.access_log_path, self.upstream_log_path):
            path.touch()
        self.envoy.start()
        self.envoy.wait_ready(timeout)
        self.sync()

    def run_in_background(self) -> None:
        """Poll and apply in a daemon thread until stop()."""
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._loop, name="mesh-sync", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(self.poll_interval):
            try:
                self.sync()
                self.last_error = ""
            except Exception as error:  # API or Envoy hiccup: keep polling, say it once
                message = f"{type(error).__name__}: {error}"
                if message != self.last_error:
                    log.warning("mesh sync failed: %s", message)
                self.last_error = message

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.envoy.stop()

    def read_world(self) -> World:
        """Services, Pods, DestinationRules and VirtualServices of all namespaces."""
        return World(
            services=raw(self._core.list_service_for_all_namespaces).get("items", []),
            pods=raw(self._core.list_pod_for_all_namespaces).get("items", []),
            destination_rules=self._list_istio("destinationrules"),
            virtual_services=self._list_istio("virtualservices"),
        )

    def _list_istio(self, plural: str) -> list[JSON]:
        try:
            listed = raw(
                self._custom.list_cluster_custom_object, ISTIO_GROUP, ISTIO_VERSION, plural
            )
        except ApiException as error:
            if error.status == 404:  # Istio CRDs not installed: no routing
                return []
            raise
        items: list[JSON] = listed.get("items", [])
        return items

    def sync(self) -> SyncResult:
        """One pass: read, translate, write if changed, confirm; report unsupported VSs."""
        with self._lock:
            world = self.read_world()
            logs = LogPaths(str(self.access_log_path), str(self.upstream_log_path))
            result = translate(
                world,
                logs,
                listen_port=self.listen_port,
                rds_path=str(config_path(self.workdir, "rds")),
                previous=self._applied,
            )
            self._report([*result.problems, *ignored_policies(world)], world)
            fingerprint = hashlib.sha256(
                json.dumps(
                    [result.clusters, result.listener, result.route_config], sort_keys=True
                ).encode()
            ).hexdigest()
            if fingerprint == self._fingerprint:
                return SyncResult(None, True, result.problems)
            self._version += 1
            version = str(self._version)
            accepted = self.envoy.apply(
                result.clusters, [result.listener], result.route_config, version, ACCEPT_TIMEOUT
            )
            if accepted:
                self._fingerprint = fingerprint
                self._applied = result.applied
            elif fingerprint != self._refused:
                # Not remembered as applied: the next pass writes it again (a new version).
                self._refused = fingerprint
                log.error(
                    "envoy did not accept mesh config version %s; the previous one stays (%s)",
                    version,
                    self.envoy.log_tail(2),
                )
            return SyncResult(version, accepted, result.problems)

    def _report(self, problems: list[Problem], world: World) -> None:
        for problem in problems:
            key = (problem.kind, problem.namespace, problem.name, problem.message)
            if key in self._reported:
                continue
            self._reported.add(key)
            log.warning("playground mesh: %s", problem.message)
            objects = (
                world.virtual_services
                if problem.kind == "VirtualService"
                else world.destination_rules
            )
            found = next(
                (
                    o
                    for o in objects
                    if (o["metadata"].get("namespace"), o["metadata"]["name"])
                    == (problem.namespace, problem.name)
                ),
                None,
            )
            try:
                self._event(problem, (found or {}).get("metadata", {}).get("uid", ""))
            except ApiException as error:
                log.warning("could not record the Event: %s", error.reason)

    def _event(self, problem: Problem, uid: str) -> None:
        stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        digest = hashlib.sha256(f"{uid}\0{problem.message}".encode()).hexdigest()[:16]
        body = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": f"{problem.name}.{digest}", "namespace": problem.namespace},
            "involvedObject": {
                "apiVersion": f"{ISTIO_GROUP}/{ISTIO_VERSION}",
                "kind": problem.kind,
                "name": problem.name,
                "namespace": problem.namespace,
                "uid": uid,
            },
            "reason": f"Unsupported{problem.kind}",
            "message": problem.message[:1024],
            "type": "Warning",
            "count": 1,
            "firstTimestamp": stamp,
            "lastTimestamp": stamp,
            "source": {"component": "canary-playground-mesh"},
            "reportingComponent": "canary-playground-mesh",
        }
        try:
            raw(self._core.create_namespaced_event, problem.namespace, body)
        except ApiException as error:
            if error.status != 409:  # already recorded (same VS, same message)
                raise
