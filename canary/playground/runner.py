"""The workload runner: plays the Deployment controller and the kubelet with local processes.

Every pod of a Deployment with replicas > 0 runs as a local process (images.py maps the image to a
command) on a free loopback port, and is published as a core/v1 Pod (the playground contract):
labels of the pod template plus `pod-template-hash`, annotations `playground.canary.dev/port` and
`playground.canary.dev/workload`, `status.podIP: 127.0.0.1`, phase and the Ready condition from
the app's readiness endpoint (`GET /healthz/ready`, every `probe_period` s; ready after one
success, unready after 3 failures in a row, Kubernetes' default `failureThreshold`).

Level-triggered: every `tick` seconds it lists Deployments and makes the processes match them.
- **Rolling update** (the default strategy): new pods are started up to `replicas + maxSurge`; an
  old pod goes once enough pods are ready (`replicas - maxUnavailable`); unready old pods go first.
  `Recreate` stops every old pod before starting new ones.
- **Scaling and scale to zero**: surplus pods are stopped (unready, then newest first).
- **Stopping a pod** is graceful as in Kubernetes: the Pod turns Ready=False at once (so the mesh
  drops the endpoint), the process gets SIGTERM `drain` s later, then the Pod object is deleted.
- **Crashes**: the process is restarted on a new port after a back-off (0.5 s doubling, at most
  10 s); `restartCount` counts the restarts, and the Pod is not ready meanwhile.
- **Status** (through `/status`): observedGeneration, replicas, updatedReplicas, readyReplicas,
  availableReplicas (ready for `minReadySeconds`), unavailableReplicas and the Available and
  Progressing conditions (ProgressDeadlineExceeded after `progressDeadlineSeconds` without progress).
- An image without a mapping leaves its pods Pending and records a Warning Event `NoLocalCommand`
  on the Deployment, once per generation.

`lifecycle` (and the JSON-lines file `lifecycle_log`, if given) records every pod's started, ready,
unready, crashed, terminating, sigterm and stopped moments with its port: the end-to-end test checks from it
that no request was served by a pod that was not ready.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import json
import logging
import math
import os
import socket
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from kubernetes import client

from canary.playground.images import Command, NoLocalCommand, command_for
from canary.playground.supervisor import Supervisor
from canary.sandbox.deployments import _condition

JSON = dict[str, Any]
log = logging.getLogger(__name__)
MERGE = "application/merge-patch+json"
PORT_ANNOTATION = "playground.canary.dev/port"
WORKLOAD_ANNOTATION = "playground.canary.dev/workload"
FAILURE_THRESHOLD = 3
"""Consecutive failed readiness probes that make a ready pod unready (Kubernetes' default)."""


def template_hash(template: JSON) -> str:
    """The pod-template-hash label: 10 hex digits of the SHA-256 of the template's canonical JSON."""
    return hashlib.sha256(json.dumps(template, sort_keys=True).encode()).hexdigest()[:10]


def free_port() -> int:
    """A loopback port that is free now (the OS picks it)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _count(value: Any, replicas: int, default: str, round_up: bool) -> int:
    """maxSurge/maxUnavailable: an int, or a percentage of replicas (surge rounds up, else down)."""
    value = default if value is None else value
    if isinstance(value, str) and value.endswith("%"):
        exact = float(value[:-1]) * replicas / 100
        return math.ceil(exact) if round_up else math.floor(exact)
    return int(value)


@dataclass
class Pod:
    """One pod the runner keeps: its process, port and what was last published."""

    namespace: str
    deployment: str
    name: str
    hash: str
    labels: dict[str, str]
    owner: JSON
    command: Command | None
    port: int = 0
    process: subprocess.Popen[bytes] | None = None
    ready: bool = False
    ready_since: float = 0.0
    restarts: int = 0
    not_before: float = 0.0
    probed: float = 0.0
    failed_probes: int = 0
    terminating: bool = False
    created: float = field(default_factory=time.monotonic)
    published: tuple[Any, ...] | None = None

    @property
    def phase(self) -> str:
        return "Running" if self.process is not None else "Pending"


class WorkloadRunner:
    """Runs Deployments' pods as local processes; `start()` runs it in a thread, `stop()` ends all.

    `supervisor` owns the processes (pass the playground's, so its stop ends them too; by default
    the runner has its own). `log_dir` receives each pod's stdout/stderr as `<pod>.log`.
    """

    def __init__(self, api_client: client.ApiClient, *, namespace: str | None = None,
                 supervisor: Supervisor | None = None, tick: float = 0.2,
                 probe_period: float = 0.3, drain: float = 1.5, log_dir: Path | None = None,
                 lifecycle_log: Path | None = None) -> None:  # fmt: skip
        self._apps = client.AppsV1Api(api_client)
        self._core = client.CoreV1Api(api_client)
        self.namespace = namespace
        self.supervisor = supervisor or Supervisor(grace=5)
        self._own_supervisor = supervisor is None
        self.tick, self.probe_period, self.drain = tick, probe_period, drain
        self.log_dir = log_dir
        self.pods: dict[tuple[str, str], list[Pod]] = {}
        self.lifecycle: list[JSON] = []
        self._lifecycle_file: IO[str] | None = open(lifecycle_log, "a") if lifecycle_log else None  # noqa: SIM115
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._drainers: list[threading.Thread] = []
        self._warned: set[tuple[str, str, int]] = set()
        self._progress: dict[tuple[str, str], tuple[tuple[int, ...], float]] = {}
        self._written: dict[tuple[str, str], JSON] = {}
        self._counter = 0
        self.errors: list[Exception] = []

    # -- the loop -----------------------------------------------------------------------------

    def start(self) -> WorkloadRunner:
        self._thread = threading.Thread(target=self._run, name="workload-runner", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        # Processes are spawned from this thread: it lives until stop(), so PR_SET_PDEATHSIG
        # (which follows the spawning thread) only fires when the whole playground goes.
        while not self._stop.is_set():
            try:
                self.step()
            except Exception as exc:  # keep running; report once per kind of failure
                if self._stop.is_set():
                    return
                log.warning("workload runner: %s", exc)
                self.errors.append(exc)
            self._stop.wait(self.tick)

    def step(self) -> None:
        """One pass: list Deployments, start/stop/restart/probe pods, write what changed."""
        if self.namespace:
            listed: Any = self._apps.list_namespaced_deployment(
                self.namespace, _preload_content=False, _request_timeout=10)  # fmt: skip
        else:
            listed = self._apps.list_deployment_for_all_namespaces(
                _preload_content=False, _request_timeout=10)  # fmt: skip
        items = json.loads(listed.data)["items"]
        seen = set()
        for deployment in items:
            key = (deployment["metadata"]["namespace"], deployment["metadata"]["name"])
            seen.add(key)
            self._reconcile(key, deployment)
        with self._lock:
            gone = [k for k in self.pods if k not in seen]
        for key in gone:
            for pod in self._live(key):
                self._terminate(pod)
            self._written.pop(key, None)

    def _live(self, key: tuple[str, str]) -> list[Pod]:
        with self._lock:
            return [p for p in self.pods.get(key, []) if not p.terminating]

    def _reconcile(self, key: tuple[str, str], deployment: JSON) -> None:
        spec = deployment.get("spec") or {}
        template = spec.get("template") or {}
        replicas = int(spec.get("replicas", 1) if spec.get("replicas") is not None else 1)
        current = template_hash(template)
        strategy = spec.get("strategy") or {}
        rolling = strategy.get("rollingUpdate") or {}
        recreate = strategy.get("type") == "Recreate"
        surge = 0 if recreate else _count(rolling.get("maxSurge"), replicas, "25%", True)
        unavailable = replicas if recreate else _count(rolling.get("maxUnavailable"), replicas, "25%", False)  # fmt: skip
        if surge == 0 and unavailable == 0:
            surge = 1
        live = self._live(key)
        new = [p for p in live if p.hash == current]
        old = [p for p in live if p.hash != current]

        # Surplus new pods go: unready first, then the newest.
        for pod in sorted(new, key=lambda p: (p.ready, -p.created))[: max(0, len(new) - replicas)]:
            self._terminate(pod)
        new = [p for p in new if not p.terminating]

        # Old pods go while enough pods stay ready; unready ones first.
        ready_total = sum(p.ready for p in new) + sum(p.ready for p in old)
        floor = replicas - unavailable
        for pod in sorted(old, key=lambda p: (p.ready, -p.created)):
            if replicas == 0 or not pod.ready:
                self._terminate(pod)
            elif ready_total - 1 >= floor:
                self._terminate(pod)
                ready_total -= 1
        old = [p for p in old if not p.terminating]
        terminating_old = any(p.terminating and p.hash != current for p in self.pods.get(key, []))

        # New pods come up to replicas, within replicas + maxSurge (Recreate: once old are gone).
        if not (recreate and (old or terminating_old)):
            room = min(replicas - len(new), replicas + surge - len(new) - len(old))
            for _ in range(max(0, room)):
                self._create(key, deployment, template, current)

        now = time.monotonic()
        for pod in self._live(key):
            self._drive(pod, now)
        self._publish_pods(key)
        self._write_status(key, deployment, current, replicas, unavailable)

    # -- pods ---------------------------------------------------------------------------------

    def _create(self, key: tuple[str, str], deployment: JSON, template: JSON, current: str) -> None:
        meta = deployment["metadata"]
        containers = (template.get("spec") or {}).get("containers") or [{}]
        try:
            command: Command | None = command_for(containers[0])
        except NoLocalCommand as exc:
            command = None
            self._warn_once(deployment, str(exc))
        with self._lock:
            self._counter += 1
            labels = {**((template.get("metadata") or {}).get("labels") or {})}
            labels["pod-template-hash"] = current
            owner = {"apiVersion": "apps/v1", "kind": "Deployment", "name": meta["name"],
                     "uid": meta["uid"], "controller": True, "blockOwnerDeletion": True}  # fmt: skip
            pod = Pod(key[0], key[1], f"{key[1]}-{current}-{self._counter}", current, labels,
                      owner, command)  # fmt: skip
            self.pods.setdefault(key, []).append(pod)
        body: Any = {"apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": pod.name, "namespace": pod.namespace, "labels": labels,
                             "annotations": {WORKLOAD_ANNOTATION: key[1]},
                             "ownerReferences": [owner]},
                "spec": {"containers": [{"name": c.get("name", "app"), "image": c.get("image", "")}
                                        for c in containers]}}  # fmt: skip
        self._core.create_namespaced_pod(pod.namespace, body, _request_timeout=10)

    def _drive(self, pod: Pod, now: float) -> None:
        """Start, restart or probe one pod's process."""
        if pod.command is None:
            return
        if pod.process is not None and pod.process.poll() is not None:
            code = pod.process.returncode
            pod.process = None
            pod.restarts += 1
            pod.not_before = now + min(10.0, 0.5 * 2 ** (pod.restarts - 1))
            self._record(pod, "crashed", returncode=code)
            self._set_ready(pod, False)
        if pod.process is None:
            if now >= pod.not_before:
                self._spawn(pod)
            return
        if now - pod.probed >= self.probe_period:
            pod.probed = now
            if self._probe(pod.port):
                pod.failed_probes = 0
                self._set_ready(pod, True)
            else:
                # Kubernetes' default failureThreshold: one slow answer on a busy machine does not
                # take a ready pod out of the endpoints.
                pod.failed_probes += 1
                if pod.failed_probes >= FAILURE_THRESHOLD or not pod.ready:
                    self._set_ready(pod, False)

    def _spawn(self, pod: Pod) -> None:
        assert pod.command is not None
        pod.port = free_port()
        env = {**_base_env(), **pod.command.env, "PORT": str(pod.port)}
        out: Any = subprocess.DEVNULL
        if self.log_dir is not None:
            self.log_dir.mkdir(parents=True, exist_ok=True)
            out = open(self.log_dir / f"{pod.name}.log", "ab")  # noqa: SIM115 - the child keeps it
        try:
            pod.process = self.supervisor.spawn(
                f"pod/{pod.namespace}/{pod.name}", pod.command.argv, critical=False, env=env,
                stdout=out, stderr=subprocess.STDOUT)  # fmt: skip
        finally:
            if out is not subprocess.DEVNULL:
                out.close()
        pod.probed = 0.0
        pod.failed_probes = 0
        self._record(pod, "started")

    @staticmethod
    def _probe(port: int) -> bool:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=0.5)
        try:
            connection.request("GET", "/healthz/ready")
            return connection.getresponse().status == 200
        except (OSError, http.client.HTTPException):
            return False
        finally:
            connection.close()

    def _set_ready(self, pod: Pod, ready: bool) -> None:
        if ready == pod.ready:
            return
        pod.ready = ready
        pod.ready_since = time.monotonic() if ready else 0.0
        self._record(pod, "ready" if ready else "unready")

    def _terminate(self, pod: Pod) -> None:
        """Graceful stop: Ready=False now, SIGTERM after `drain` s, then delete the Pod."""
        with self._lock:
            if pod.terminating:
                return
            pod.terminating = True
        self._set_ready(pod, False)
        self._record(pod, "terminating")
        with contextlib.suppress(client.ApiException):
            self._publish(pod)
        thread = threading.Thread(target=self._finish, args=(pod,), daemon=True)
        self._drainers.append(thread)
        thread.start()

    def _finish(self, pod: Pod) -> None:
        self._stop.wait(self.drain)
        if pod.process is not None:
            self._record(pod, "sigterm")
            self.supervisor.stop_child(pod.process)
        self._record(pod, "stopped")
        with contextlib.suppress(client.ApiException):
            self._core.delete_namespaced_pod(pod.name, pod.namespace, grace_period_seconds=0,
                                             _request_timeout=10)  # fmt: skip
        with self._lock:
            pods = self.pods.get((pod.namespace, pod.deployment), [])
            if pod in pods:
                pods.remove(pod)
            if not pods:
                self.pods.pop((pod.namespace, pod.deployment), None)

    def _publish_pods(self, key: tuple[str, str]) -> None:
        for pod in self._live(key):
            self._publish(pod)

    def _publish(self, pod: Pod) -> None:
        """Write the Pod's port annotation and status when they changed."""
        state = (pod.port, pod.phase, pod.ready, pod.restarts)
        if state == pod.published:
            return
        if pod.port and (pod.published is None or pod.published[0] != pod.port):
            self._core.patch_namespaced_pod(
                pod.name, pod.namespace,
                {"metadata": {"annotations": {PORT_ANNOTATION: str(pod.port)}}},
                _request_timeout=10)  # fmt: skip
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        ready = "True" if pod.ready else "False"
        status = {"phase": pod.phase, "podIP": "127.0.0.1" if pod.port else None,
                  "conditions": [{"type": "Ready", "status": ready, "lastTransitionTime": stamp},
                                 {"type": "ContainersReady", "status": ready,
                                  "lastTransitionTime": stamp}],
                  "containerStatuses": [{"name": "app", "ready": pod.ready,
                                         "restartCount": pod.restarts, "image": "",
                                         "imageID": "", "started": pod.process is not None}]}  # fmt: skip
        self._core.patch_namespaced_pod_status(pod.name, pod.namespace, {"status": status},
                                               _request_timeout=10)  # fmt: skip
        pod.published = state

    # -- Deployment status and events ---------------------------------------------------------

    def _write_status(self, key: tuple[str, str], deployment: JSON, current: str, replicas: int,
                      unavailable: int) -> None:  # fmt: skip
        meta, spec = deployment["metadata"], deployment.get("spec") or {}
        live = self._live(key)
        min_ready = float(spec.get("minReadySeconds") or 0)
        now = time.monotonic()
        updated = sum(p.hash == current for p in live)
        ready = sum(p.ready for p in live)
        available = sum(p.ready and now - p.ready_since >= min_ready for p in live)
        counts = (meta.get("generation", 1), len(live), updated, ready, available)
        last, since = self._progress.get(key, ((), now))
        if counts != last:
            since = now
            self._progress[key] = (counts, now)
        complete = updated == replicas == len(live) and available == replicas
        deadline = float(spec.get("progressDeadlineSeconds") or 600)
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        name = meta["name"]
        if complete:
            progressing = ("True", "NewReplicaSetAvailable", f'ReplicaSet "{name}-{current}" has successfully progressed.')  # fmt: skip
        elif now - since > deadline:
            progressing = ("False", "ProgressDeadlineExceeded", f'ReplicaSet "{name}-{current}" has timed out progressing.')  # fmt: skip
        else:
            progressing = ("True", "ReplicaSetUpdated", f'ReplicaSet "{name}-{current}" is progressing.')  # fmt: skip
        is_available = available >= replicas - unavailable
        status: JSON = {
            "observedGeneration": meta.get("generation", 1),
            "replicas": len(live),
            "updatedReplicas": updated,
            "readyReplicas": ready,
            "availableReplicas": available,
            "unavailableReplicas": max(0, replicas - available),
        }
        fingerprint = {**status, "available": is_available, "progressing": progressing}
        if self._written.get(key) == fingerprint:
            return
        status["conditions"] = [
            _condition("Available", is_available, "MinimumReplicasAvailable" if is_available
                       else "MinimumReplicasUnavailable", "Deployment has minimum availability."
                       if is_available else "Deployment does not have minimum availability.",
                       stamp),
            _condition("Progressing", progressing[0] == "True", progressing[1], progressing[2],
                       stamp),
        ]  # fmt: skip
        try:
            self._apps.patch_namespaced_deployment_status(
                key[1], key[0], {"status": status}, _content_type=MERGE, _request_timeout=10)  # fmt: skip
        except client.ApiException as exc:
            if exc.status != 404:  # deleted meanwhile: the next pass stops its pods
                raise
            return
        self._written[key] = fingerprint

    def _warn_once(self, deployment: JSON, message: str) -> None:
        meta = deployment["metadata"]
        key = (meta["namespace"], meta["name"], int(meta.get("generation", 1)))
        if key in self._warned:
            return
        self._warned.add(key)
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        event: Any = {"apiVersion": "v1", "kind": "Event",
                 "metadata": {"generateName": f"{meta['name']}.", "namespace": meta["namespace"]},
                 "involvedObject": {"apiVersion": "apps/v1", "kind": "Deployment",
                                    "name": meta["name"], "namespace": meta["namespace"],
                                    "uid": meta.get("uid")},
                 "type": "Warning", "reason": "NoLocalCommand", "message": message, "count": 1,
                 "firstTimestamp": stamp, "lastTimestamp": stamp,
                 "source": {"component": "playground-runner"}}  # fmt: skip
        log.warning("%s/%s: %s", meta["namespace"], meta["name"], message)
        with contextlib.suppress(client.ApiException):
            self._core.create_namespaced_event(meta["namespace"], event, _request_timeout=10)

    def _record(self, pod: Pod, event: str, **extra: Any) -> None:
        entry = {"time": time.time(), "event": event, "namespace": pod.namespace,
                 "deployment": pod.deployment, "pod": pod.name, "hash": pod.hash,
                 "port": pod.port, "version": (pod.command.env.get("APP_VERSION")
                                               if pod.command else None), **extra}  # fmt: skip
        with self._lock:
            self.lifecycle.append(entry)
            if self._lifecycle_file is not None:
                self._lifecycle_file.write(json.dumps(entry) + "\n")
                self._lifecycle_file.flush()

    # -- stopping -----------------------------------------------------------------------------

    def stop(self) -> None:
        """Stop the loop and every pod process (at once: no drain), and close the lifecycle log."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        with self._lock:
            pods = [p for ps in self.pods.values() for p in ps]
        for pod in pods:
            if pod.process is not None:
                self.supervisor.stop_child(pod.process, grace=2)
        for thread in self._drainers:
            thread.join(timeout=10)
        if self._own_supervisor:
            self.supervisor.stop()
        with self._lock:
            if self._lifecycle_file is not None:
                self._lifecycle_file.close()
                self._lifecycle_file = None

    def __enter__(self) -> WorkloadRunner:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:  # fmt: skip
        self.stop()


def _base_env() -> dict[str, str]:
    """The environment a pod gets: PATH and locale from ours, nothing else of the host's."""
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "SYSTEMROOT")
    return {k: os.environ[k] for k in keep if k in os.environ}
