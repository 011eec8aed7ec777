"""`canary sandbox up`: kubectl works against it; SIGTERM or a crashed child stops every process."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from canary.playground.supervisor import alive
from canary.sandbox.testing import eventually

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

DEPLOYMENT = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, labels: {app: web}}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: web, image: "canary-demo-app:1.0.0"}]}
"""


def descendants(pid: int) -> set[int]:
    """Every live process below `pid` (from /proc's parent pids)."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    parents[int(entry)] = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
    found, frontier = set(), {pid}
    while frontier:
        children = {p for p, parent in parents.items() if parent in frontier}
        found |= children
        frontier = children
    return found


def cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode()
    except OSError:
        return ""


@pytest.fixture
def sandbox_up(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], str]]:
    if not sys.platform.startswith("linux"):
        pytest.skip("/proc needed to find the descendants")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])}
    process = subprocess.Popen(
        [sys.executable, "-m", "canary", "sandbox", "up", "--metrics", "embedded",
         "--workdir", str(tmp_path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=env)  # fmt: skip
    assert process.stdout is not None
    kubeconfig = ""
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and not kubeconfig:
        line = process.stdout.readline()
        if not line:
            break
        if line.startswith("export KUBECONFIG="):
            kubeconfig = line.strip().split("=", 1)[1]
    if not kubeconfig:
        process.kill()
        pytest.fail(
            f"sandbox up did not come up: {process.stderr.read() if process.stderr else ''}"
        )
    yield process, kubeconfig
    if process.poll() is None:
        process.kill()
        process.wait()


def kubectl(kubeconfig: str, *args: str, stdin: str = "") -> str:
    done = subprocess.run(["kubectl", "--kubeconfig", kubeconfig, *args], input=stdin,
                          capture_output=True, text=True, timeout=30, check=True)  # fmt: skip
    return done.stdout


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="needs kubectl")
def test_kubectl_runs_pods_and_sigterm_stops_every_process(
    sandbox_up: tuple[subprocess.Popen[str], str],
) -> None:
    process, kubeconfig = sandbox_up
    kubectl(kubeconfig, "apply", "-f", "-", stdin=DEPLOYMENT)
    eventually(lambda: kubectl(kubeconfig, "get", "deployment", "web", "-o",
                               "jsonpath={.status.readyReplicas}") == "2", timeout=30)  # fmt: skip
    below = descendants(process.pid)
    commands = [cmdline(p) for p in below]
    assert sum("examples/app/server.py" in c for c in commands) == 2
    assert any("envoy" in c for c in commands)
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) == 0
    eventually(lambda: not [p for p in below if alive(p)], timeout=10)


def test_a_crashed_child_is_reported_and_stops_the_rest(
    sandbox_up: tuple[subprocess.Popen[str], str],
) -> None:
    process, _ = sandbox_up
    below = descendants(process.pid)
    (envoy,) = [p for p in below if "envoy" in cmdline(p).split(" ")[0]]
    os.kill(envoy, signal.SIGKILL)
    assert process.wait(timeout=30) == 1
    assert process.stderr is not None
    err = process.stderr.read()
    assert "killed by SIGKILL" in err
    assert "Traceback" not in err
    eventually(lambda: not [p for p in below if alive(p)], timeout=10)


def test_sigterm_during_the_demo_stops_every_process(tmp_path: Path) -> None:
    if not sys.platform.startswith("linux"):
        pytest.skip("/proc needed to find the descendants")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])}
    process = subprocess.Popen(
        [sys.executable, "-m", "canary", "demo", "--quick", "--workdir", str(tmp_path)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)  # fmt: skip
    assert process.stdout is not None
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line or "v2 released" in line:
            break
    below = descendants(process.pid)
    assert sum("examples/app/server.py" in cmdline(p) for p in below) >= 2
    process.send_signal(signal.SIGTERM)
    code = process.wait(timeout=30)
    assert process.stderr is not None
    err = process.stderr.read()
    assert code == 130, err
    assert "interrupted; every process stopped" in err
    assert "Traceback" not in err
    eventually(lambda: not [p for p in below if alive(p)], timeout=10)
