"""Benchmark of the CLI's start-up: `kubectl canary get NAME` against `kubectl get canary NAME -o json`.

Run: `python -m bench.cli [--runs 20]`. Both commands run against the same emulated API server
(in its own process) and the same Canary, which carries a realistic status (history, metrics,
a request); they alternate so that the machine's load falls on both alike. The target is
`kubectl canary get` within 4x of `kubectl get` (median wall time).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGET_RATIO = 4.0
NAME = "my-app"


@contextmanager
def emulator(workdir: Path) -> Iterator[tuple[str, Path]]:
    """The sandbox apiserver with the CRDs; yields its URL and kubeconfig."""
    kubeconfig = workdir / "kubeconfig"
    command = [sys.executable, "-m", "canary", "sandbox", "apiserver", "--port", "0",
               "--crd", str(ROOT / "crds"), "--kubeconfig-out", str(kubeconfig)]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=environment())
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        yield line.split("url=")[1].split()[0], kubeconfig
    finally:
        process.terminate()
        process.wait(timeout=10)


def environment(path: Path | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env["NO_COLOR"] = "1"
    if path is not None:
        env["PATH"] = f"{path}{os.pathsep}{env['PATH']}"
    return env


def plugin_dir(workdir: Path) -> Path:
    """A directory with `kubectl-canary`: the installed one when this interpreter has it."""
    installed = Path(sys.executable).parent / "kubectl-canary"
    if installed.exists():
        return installed.parent
    plugin = workdir / "kubectl-canary"
    plugin.write_text(
        f"#!{sys.executable}\nfrom canary.cli import main\nraise SystemExit(main())\n"
    )
    plugin.chmod(0o755)
    return workdir


def send(url: str, method: str, path: str, body: object, content_type: str) -> None:
    request = urllib.request.Request(
        url + path, method=method, data=json.dumps(body).encode(),
        headers={"Content-Type": content_type},
    )  # fmt: skip
    with urllib.request.urlopen(request, timeout=10):
        pass


def given_a_rollout(url: str, kubeconfig: Path) -> None:
    """The example Deployment and Canary, the primary, and a status mid-rollout."""
    env = {**environment(), "KUBECONFIG": str(kubeconfig)}
    subprocess.run(
        ["kubectl", "apply", "-f", str(ROOT / "examples" / "my-app.yaml")],
        env=env, check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    from tests.operate.fixtures import FIXTURES

    fixture = FIXTURES["failing-metric"].canary
    path = f"/apis/canary.dev/v1alpha1/namespaces/default/canaries/{NAME}/status"
    send(url, "PATCH", path, {"status": fixture["status"]}, "application/merge-patch+json")


def timed(command: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall time and CPU time (user + system of the child) of one run, in seconds."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, timeout=60)
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed: {done.stderr.decode()[-500:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return elapsed, cpu


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20, help="runs of each command")
    args = parser.parse_args(argv)
    if shutil.which("kubectl") is None:
        print("kubectl is not on PATH", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory() as tmp, emulator(Path(tmp)) as (url, kubeconfig):
        given_a_rollout(url, kubeconfig)
        env = {**environment(plugin_dir(Path(tmp))), "KUBECONFIG": str(kubeconfig)}
        commands = {
            f"kubectl canary get {NAME}": ["kubectl", "canary", "get", NAME],
            f"kubectl get canary {NAME} -o json": ["kubectl", "get", "canary", NAME, "-o", "json"],
            f"kubectl canary get {NAME} -o json": ["kubectl", "canary", "get", NAME, "-o", "json"],
        }
        for command in commands.values():
            timed(command, env)  # warm the page cache and kubectl's discovery cache
        wall: dict[str, list[float]] = {label: [] for label in commands}
        cpu: dict[str, list[float]] = {label: [] for label in commands}
        for _ in range(args.runs):
            for label, command in commands.items():
                elapsed, used = timed(command, env)
                wall[label].append(elapsed)
                cpu[label].append(used)
    print(f"{'command':<40} {'wall median':>12} {'wall p95':>9} {'CPU median':>11}")
    for label in commands:
        print(
            f"{label:<40} {ms(statistics.median(wall[label])):>12} {ms(p95(wall[label])):>9} "
            f"{ms(statistics.median(cpu[label])):>11}"
        )
    ours, theirs = list(commands)[:2]
    for measure, values in (("wall", wall), ("CPU", cpu)):
        ratio = statistics.median(values[ours]) / statistics.median(values[theirs])
        verdict = "met" if ratio <= TARGET_RATIO else "missed"
        print(f"ratio of medians ({measure}) {ratio:.2f}x, target <= {TARGET_RATIO:g}x: {verdict}")
    print(f"{args.runs} runs each, alternating; load average {os.getloadavg()[0]:.1f}")
    return 0


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f}ms"


if __name__ == "__main__":
    raise SystemExit(main())
