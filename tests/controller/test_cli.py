"""`canary controller` as a process: it rolls out against the API, logs JSON lines and stops on SIGTERM."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import urllib.request
from typing import Any

import pytest

from canary.kube.client import Kube, raw, read
from canary.sandbox import testing
from tests.controller.kube_fixtures import canary_body, deployment
from tests.controller.kube_harness import ON_A_CLUSTER

pytestmark = ON_A_CLUSTER


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _phase(kube: Kube, namespace: str) -> Any:
    obj = read(
        kube.custom.get_namespaced_custom_object,
        "canary.dev",
        "v1alpha1",
        namespace,
        "canaries",
        "podinfo",
    )
    return ((obj or {}).get("status") or {}).get("phase")


@pytest.mark.timeout(900 if os.environ.get("KUBECONFIG") else 180)
def test_the_controller_command_initialises_a_canary_logs_json_serves_metrics_and_stops_on_sigterm(
    env: testing.Environment, namespace: str
) -> None:
    kube = Kube.of(env.api_client)
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "canary", "controller", "--kubeconfig", str(env.kubeconfig),
         "--namespace", namespace, "--metrics-addr", f"127.0.0.1:{port}"],
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        with (
            testing.DeploymentSimulator(env.api_client, tick=0.05)
            if env.is_emulator
            else contextlib.nullcontext()
        ):
            raw(kube.apps.create_namespaced_deployment, namespace, deployment("podinfo", namespace))
            body = canary_body("podinfo", namespace)
            raw(
                kube.custom.create_namespaced_custom_object,
                "canary.dev",
                "v1alpha1",
                namespace,
                "canaries",
                body,
            )
            # The process imports scipy and the client first: slow on a loaded CI machine.
            testing.eventually(lambda: _phase(kube, namespace) == "Initialized", timeout=60)
            metrics = testing.eventually(
                lambda: _get(f"http://127.0.0.1:{port}/metrics"), timeout=5
            )
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=15)

    assert process.returncode == 0, stderr
    assert "canary_info{" in metrics
    decisions = [json.loads(line) for line in stderr.splitlines() if '"decision"' in line]
    assert decisions, stderr
    assert {"canary", "namespace", "phase", "primary_weight", "canary_weight", "reason"} <= set(
        decisions[-1]
    )
    assert decisions[-1]["phase"] == "Initialized"


def _get(url: str) -> str:
    try:
        return str(urllib.request.urlopen(url, timeout=1).read().decode())
    except OSError:
        return ""
