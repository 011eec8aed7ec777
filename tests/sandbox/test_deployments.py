"""The Deployment-controller stand-in: ready after a delay, never ready, stalled, flapping."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client

from canary.sandbox import deployments, testing

MERGE = "application/merge-patch+json"


@pytest.fixture(scope="module")
def env() -> Iterator[testing.Environment]:
    # Emulator only: on a real cluster the Deployment controller would overwrite the status.
    with testing.sandbox() as environment:
        yield environment


@pytest.fixture
def apps(env: testing.Environment) -> client.AppsV1Api:
    return client.AppsV1Api(env.api_client)


def make(apps: client.AppsV1Api, namespace: str, name: str, replicas: int = 3) -> None:
    apps.create_namespaced_deployment(namespace, {
        "metadata": {"name": name},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                 "template": {"metadata": {"labels": {"app": name}},
                              "spec": {"containers": [{"name": "app", "image": "nginx:1"}]}}},
    })  # fmt: skip


def status(apps: client.AppsV1Api, namespace: str, name: str) -> Any:
    return apps.read_namespaced_deployment_status(name, namespace).status


def conditions(st: Any) -> dict[str, str]:
    return {c.type: f"{c.status}/{c.reason}" for c in st.conditions or []}


def is_ready(apps: client.AppsV1Api, namespace: str, name: str) -> bool:
    st = status(apps, namespace, name)
    return bool(st.ready_replicas == 3 and st.available_replicas == 3 and st.updated_replicas == 3)


def test_ready_after_delay_reports_progress_then_full_availability(
    env: testing.Environment, apps: client.AppsV1Api, namespace: str
) -> None:
    make(apps, namespace, "web")
    with deployments.DeploymentSimulator(env.api_client, namespace, deployments.Ready(delay=0.3)):
        progressing = testing.eventually(lambda: status(apps, namespace, "web").observed_generation)
        assert progressing == 1
        assert not is_ready(apps, namespace, "web")
        testing.eventually(lambda: is_ready(apps, namespace, "web"))
        assert conditions(status(apps, namespace, "web")) == {
            "Available": "True/MinimumReplicasAvailable",
            "Progressing": "True/NewReplicaSetAvailable",
        }
        apps.patch_namespaced_deployment("web", namespace, {"spec": {"template": {"metadata": {
            "annotations": {"rev": "2"}}}}}, _content_type=MERGE)  # fmt: skip
        testing.eventually(lambda: status(apps, namespace, "web").observed_generation == 2)
        testing.eventually(lambda: is_ready(apps, namespace, "web"))


def test_never_ready_stays_progressing_and_stalls_after_the_deadline(
    env: testing.Environment, apps: client.AppsV1Api, namespace: str
) -> None:
    make(apps, namespace, "stuck")
    behaviour = deployments.NeverReady(deadline=0.3)
    with deployments.DeploymentSimulator(env.api_client, namespace, behaviour):
        testing.eventually(lambda: conditions(status(apps, namespace, "stuck")).get("Progressing")
                           == "False/ProgressDeadlineExceeded")  # fmt: skip
        assert not status(apps, namespace, "stuck").ready_replicas


def test_flapping_alternates_between_ready_and_unready(
    env: testing.Environment, apps: client.AppsV1Api, namespace: str
) -> None:
    make(apps, namespace, "flappy")
    seen: set[int] = set()

    def both_seen() -> bool:
        seen.add(status(apps, namespace, "flappy").ready_replicas or 0)
        return {2, 3} <= seen

    with deployments.DeploymentSimulator(env.api_client, namespace, deployments.Flapping(0.15)):
        testing.eventually(both_seen)


def test_behaviour_can_be_chosen_per_deployment(
    env: testing.Environment, apps: client.AppsV1Api, namespace: str
) -> None:
    make(apps, namespace, "good")
    make(apps, namespace, "bad")
    simulator = deployments.DeploymentSimulator(env.api_client, namespace)
    simulator.set_behaviour("bad", deployments.NeverReady())
    with simulator:
        testing.eventually(lambda: is_ready(apps, namespace, "good"))
        testing.eventually(lambda: status(apps, namespace, "bad").observed_generation == 1)
        assert not is_ready(apps, namespace, "bad")
    assert simulator.errors == []


@pytest.mark.parametrize(("mark", "ready"), [
    pytest.param(deployments.mark_progressing, 0, id="progressing"),
    pytest.param(deployments.mark_ready, 3, id="ready"),
    pytest.param(deployments.mark_stalled, 0, id="stalled"),
])  # fmt: skip
def test_one_shot_status_helpers(env: testing.Environment, apps: client.AppsV1Api, namespace: str,
                                 mark: Any, ready: int) -> None:  # fmt: skip
    make(apps, namespace, "once")
    result = mark(env.api_client, "once", namespace)
    assert result["status"]["readyReplicas"] == ready
    assert result["status"]["observedGeneration"] == 1


def test_the_simulator_watches_instead_of_polling(env: testing.Environment,
                                                  apps: client.AppsV1Api, namespace: str) -> None:  # fmt: skip
    server = env.require_emulator()
    for i in range(20):
        make(apps, namespace, f"d{i}", replicas=1)
    before = len(server.api.requests)
    with deployments.DeploymentSimulator(env.api_client, namespace, tick=0.01):
        testing.eventually(
            lambda: all(status(apps, namespace, f"d{i}").ready_replicas == 1 for i in range(20))
        )
        apps.delete_namespaced_deployment("d0", namespace)
        make(apps, namespace, "late", replicas=1)
        testing.eventually(lambda: status(apps, namespace, "late").ready_replicas == 1)
    requests = list(server.api.requests)[before:]
    lists = [r for r in requests if r.method == "GET" and r.path.endswith("/deployments")
             and "watch=true" not in r.query]  # fmt: skip
    assert len(lists) == 1
