"""The operator commands against the running controller (watches, queue, workers, real time):
each request is acknowledged through the status, and changes the rollout."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from canary.kube.client import ISTIO_GROUP, ISTIO_VERSION, Kube, raw, read
from canary.sandbox import testing
from tests.controller.kube_fixtures import canary_body, deployment
from tests.controller.kube_harness import ON_A_CLUSTER
from tests.controller.test_operate_cli import cli_env
from tests.controller.test_runtime import _phase, _set_image, patience, running

pytestmark = [*ON_A_CLUSTER, pytest.mark.slow]
SLOW_STEPS = {"canary": {"stepWeight": 10, "maxWeight": 90}}


@pytest.fixture
def simulated(env: testing.Environment) -> Iterator[None]:
    if not env.is_emulator:
        yield
        return
    with testing.DeploymentSimulator(env.api_client, tick=0.05):
        yield


def canary_weight(kube: Kube, namespace: str) -> int:
    vs = read(
        kube.custom.get_namespaced_custom_object,
        ISTIO_GROUP,
        ISTIO_VERSION,
        namespace,
        "virtualservices",
        "podinfo",
    )
    routes = (vs or {}).get("spec", {}).get("http", [{}])[-1].get("route", [])
    return sum(int(r.get("weight", 0)) for r in routes if "canary" in r["destination"]["host"])


def canary_cli(env: testing.Environment, namespace: str, *args: str) -> tuple[int, str]:
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "canary", *args, "-n", namespace,
         "--kubeconfig", str(env.kubeconfig)],
        capture_output=True, text=True, timeout=120, env=cli_env(),
    )  # fmt: skip
    return done.returncode, done.stdout + done.stderr


def test_pause_and_abort_are_acknowledged_by_the_running_controller(
    env: testing.Environment, namespace: str, simulated: None
) -> None:
    kube = Kube.of(env.api_client)
    raw(kube.apps.create_namespaced_deployment, namespace, deployment("podinfo", namespace))
    body: dict[str, Any] = canary_body(
        "podinfo", namespace, strategy=SLOW_STEPS, analysis={"interval": "2s", "threshold": 2}
    )
    raw(
        kube.custom.create_namespaced_custom_object,
        "canary.dev", "v1alpha1", namespace, "canaries", body,
    )  # fmt: skip
    with running(env, namespace):
        testing.eventually(lambda: _phase(kube, namespace) == "Initialized", patience(env, 20))
        _set_image(kube, namespace, "ghcr.io/stefanprodan/podinfo:6.0.1")
        testing.eventually(lambda: canary_weight(kube, namespace) >= 10, patience(env, 30))

        code, output = canary_cli(env, namespace, "pause", "podinfo", "--wait-timeout", "30")
        assert code == 0, output
        assert "pause: accepted by the controller" in output
        paused_at = canary_weight(kube, namespace)
        time.sleep(5)  # more than two intervals
        assert (_phase(kube, namespace), canary_weight(kube, namespace)) == ("Paused", paused_at)

        code, output = canary_cli(env, namespace, "abort", "podinfo", "--wait-timeout", "30")
        assert code == 0, output
        testing.eventually(lambda: _phase(kube, namespace) == "Aborted", patience(env, 10))
        assert canary_weight(kube, namespace) == 0
