"""The workload runner against the emulator: pods as processes, status, rolling update, scaling."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from canary.playground.runner import PORT_ANNOTATION, WORKLOAD_ANNOTATION, WorkloadRunner
from canary.playground.supervisor import alive
from canary.sandbox import testing
from canary.sandbox.testing import eventually


def deployment(image: str, replicas: int = 2) -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "labels": {"app": "web"}},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}},
                     "template": {"metadata": {"labels": {"app": "web"}},
                                  "spec": {"containers": [{"name": "web", "image": image,
                                           "env": [{"name": "APP_READY_DELAY",
                                                    "value": "0.3"}]}]}}}}  # fmt: skip


@pytest.fixture
def runner(env: testing.Environment, tmp_path: Path) -> Iterator[WorkloadRunner]:
    with WorkloadRunner(env.api_client, namespace="default", tick=0.05, probe_period=0.1,
                        drain=0.3, lifecycle_log=tmp_path / "pods.jsonl") as r:  # fmt: skip
        yield r


def status(env: testing.Environment) -> dict[str, Any]:
    d: Any = client.AppsV1Api(env.api_client).read_namespaced_deployment("web", "default")
    return d.to_dict()["status"] | {"generation": d.metadata.generation}  # type: ignore[no-any-return]


def pods(env: testing.Environment) -> list[Any]:
    return client.CoreV1Api(env.api_client).list_namespaced_pod("default").items  # type: ignore[no-any-return]


def settled(env: testing.Environment, replicas: int) -> bool:
    s = status(env)
    return bool(
        s["observed_generation"] == s["generation"]
        and s["replicas"] == s["updated_replicas"] == replicas
        and s["ready_replicas"] in (replicas, None if replicas == 0 else -1)
        and (s["available_replicas"] or 0) == replicas
        and len(pods(env)) == replicas
    )


def test_pods_run_as_processes_and_the_status_is_true(env: testing.Environment,
                                                      runner: WorkloadRunner) -> None:  # fmt: skip
    client.AppsV1Api(env.api_client).create_namespaced_deployment("default", deployment("my-app:1.0.0"))  # fmt: skip
    eventually(lambda: settled(env, 2), timeout=15)
    for pod in pods(env):
        assert pod.metadata.labels["app"] == "web"
        assert pod.metadata.labels["pod-template-hash"]
        assert pod.metadata.annotations[WORKLOAD_ANNOTATION] == "web"
        assert pod.metadata.owner_references[0].kind == "Deployment"
        assert pod.status.pod_ip == "127.0.0.1"
        assert pod.status.phase == "Running"
        assert {c.type: c.status for c in pod.status.conditions}["Ready"] == "True"
        import urllib.request

        port = pod.metadata.annotations[PORT_ANNOTATION]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as answer:
            assert answer.headers["x-app-version"] == "1.0.0"
    conditions = {c["type"]: c for c in status(env)["conditions"]}
    assert conditions["Available"]["status"] == "True"
    assert conditions["Progressing"]["reason"] == "NewReplicaSetAvailable"


def ready_counts(runner: WorkloadRunner) -> list[int]:
    """The number of ready pods after each lifecycle change, from the runner's record."""
    ready: set[str] = set()
    counts = []
    for entry in runner.lifecycle:
        if entry["event"] == "ready":
            ready.add(entry["pod"])
        elif entry["event"] in ("unready", "crashed", "terminating", "stopped"):
            ready.discard(entry["pod"])
        counts.append(len(ready))
    return counts


def test_a_rolling_update_keeps_every_replica_ready_and_replaces_every_pod(
    env: testing.Environment, runner: WorkloadRunner
) -> None:
    apps = client.AppsV1Api(env.api_client)
    apps.create_namespaced_deployment("default", deployment("my-app:1.0.0"))
    eventually(lambda: settled(env, 2), timeout=15)
    before = {p.metadata.name for p in pods(env)}
    old_processes = [p.process for ps in runner.pods.values() for p in ps]
    apps.patch_namespaced_deployment("web", "default", {"spec": {"template": {"spec": {
        "containers": [{"name": "web", "image": "my-app:2.0.0"}]}}}})  # fmt: skip
    eventually(lambda: settled(env, 2) and not before & {p.metadata.name for p in pods(env)},
               timeout=20)  # fmt: skip
    counts = ready_counts(runner)
    first_full = counts.index(2)
    # maxUnavailable 25% of 2 rounds down to 0: two pods stay ready throughout (maxSurge 1).
    assert min(counts[first_full:]) >= 2
    assert max(counts) <= 3
    versions = {e["version"] for e in runner.lifecycle if e["event"] == "ready"}
    assert versions == {"1.0.0", "2.0.0"}
    eventually(lambda: all(p is not None and not alive(p.pid) for p in old_processes))


def test_scale_to_zero_stops_every_process_and_scale_up_starts_them(
    env: testing.Environment, runner: WorkloadRunner
) -> None:
    apps = client.AppsV1Api(env.api_client)
    apps.create_namespaced_deployment("default", deployment("my-app:1.0.0", replicas=3))
    eventually(lambda: settled(env, 3), timeout=15)
    processes = [p.process for ps in runner.pods.values() for p in ps]
    apps.patch_namespaced_deployment_scale("web", "default", {"spec": {"replicas": 0}})
    eventually(lambda: settled(env, 0), timeout=15)
    eventually(lambda: all(p is not None and not alive(p.pid) for p in processes))
    assert status(env)["ready_replicas"] in (0, None)
    apps.patch_namespaced_deployment_scale("web", "default", {"spec": {"replicas": 1}})
    eventually(lambda: settled(env, 1), timeout=15)


def test_a_crashed_pod_is_restarted_and_is_unready_meanwhile(
    env: testing.Environment, runner: WorkloadRunner
) -> None:
    client.AppsV1Api(env.api_client).create_namespaced_deployment(
        "default", deployment("my-app:1.0.0", replicas=1))  # fmt: skip
    eventually(lambda: settled(env, 1), timeout=15)
    (pod,) = [p for ps in runner.pods.values() for p in ps]
    assert pod.process is not None
    os.kill(pod.process.pid, signal.SIGKILL)
    eventually(lambda: status(env)["ready_replicas"] in (0, None), timeout=5)
    eventually(lambda: settled(env, 1) and pod.restarts == 1, timeout=15)
    (published,) = pods(env)
    assert published.status.container_statuses[0].restart_count == 1
    assert published.metadata.annotations[PORT_ANNOTATION] == str(pod.port)
    events = [e["event"] for e in runner.lifecycle]
    assert events == ["started", "ready", "crashed", "unready", "started", "ready"]


def test_an_image_without_a_mapping_stays_pending_with_a_warning(
    env: testing.Environment, runner: WorkloadRunner
) -> None:
    client.AppsV1Api(env.api_client).create_namespaced_deployment(
        "default", deployment("nginx:1.27", replicas=1))  # fmt: skip

    def warning() -> Any:
        events = client.CoreV1Api(env.api_client).list_namespaced_event("default").items
        return [e for e in events if e.reason == "NoLocalCommand"]

    (event,) = eventually(warning, timeout=10)
    assert event.type == "Warning"
    assert "nginx:1.27" in event.message
    (pod,) = eventually(lambda: pods(env), timeout=5)
    assert pod.status.phase == "Pending"
    assert (status(env)["ready_replicas"] or 0) == 0


def test_readiness_follows_the_probe_after_three_failures(
    env: testing.Environment, runner: WorkloadRunner
) -> None:
    """A frozen process (SIGSTOP) fails its probes: unready after 3, ready again once it answers."""
    client.AppsV1Api(env.api_client).create_namespaced_deployment(
        "default", deployment("my-app:1.0.0", replicas=1))  # fmt: skip
    eventually(lambda: settled(env, 1), timeout=15)
    (pod,) = [p for ps in runner.pods.values() for p in ps]
    assert pod.process is not None
    os.kill(pod.process.pid, signal.SIGSTOP)
    try:
        eventually(lambda: status(env)["ready_replicas"] in (0, None), timeout=10)
        (published,) = pods(env)
        assert {c.type: c.status for c in published.status.conditions}["Ready"] == "False"
        assert pod.restarts == 0  # not ready is not crashed
    finally:
        os.kill(pod.process.pid, signal.SIGCONT)
    eventually(lambda: settled(env, 1), timeout=10)
    assert [e["event"] for e in runner.lifecycle] == ["started", "ready", "unready", "ready"]
