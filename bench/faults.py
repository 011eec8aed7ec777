"""`python -m bench.faults`: rollouts run by the real controller against the emulator, without and
with API faults (10% of the controller's requests failing, watches cut); prints a table."""

from __future__ import annotations

import argparse
import logging
import statistics
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import structlog
from kubernetes import client
from rich.console import Console
from rich.table import Table

from bench.objects import IMAGE, deployment
from canary.analysis.results import CheckResult, Verdict
from canary.api.canary import Canary
from canary.api.crdgen import write_crds
from canary.controller.reconcile import Reconciler
from canary.controller.runtime import Controller, Options
from canary.engine.types import TrafficSample
from canary.kube.client import Kube, raw, read
from canary.kube.istio import IstioRouter
from canary.protocols import AnalysisOutcome
from canary.sandbox import testing
from canary.sandbox.faults import OUTCOMES, FaultPlan

CONTROLLER_AGENT = "canary-controller/bench"
NAMESPACE = "bench"
TERMINAL = ("Succeeded", "Failed")


def fault_plan(rate: float, seed: int) -> FaultPlan:
    """`rate` of the controller's requests fail with an even mix of 500, 503, 429 (Retry-After 1),
    409 (writes only) and connections cut before or after the request is carried out; every
    watch of the controller is cut within 5 s."""
    return FaultPlan(
        rate=rate,
        outcomes=OUTCOMES,
        clients=(CONTROLLER_AGENT.split("/")[0],),
        retry_after=1,
        watch_cut=5.0 if rate else 0.0,
        seed=seed,
    )


class VerdictByName:
    """Canaries named `bad-*` fail every check; the others pass."""

    def traffic(
        self, canary: Canary, at: datetime, *, since: datetime | None = None
    ) -> TrafficSample | None:
        return None  # the sequential test's guard sees no traffic here

    def analyze(
        self, canary: Canary, at: datetime, *, traffic_since: datetime | None = None
    ) -> AnalysisOutcome:
        verdict = Verdict.FAIL if canary.metadata.name.startswith("bad-") else Verdict.PASS
        value = 50.0 if verdict == Verdict.FAIL else 100.0
        results = [
            CheckResult(m.name, verdict, value, None, ">= 99", f"scripted {verdict}")
            for m in canary.spec.analysis.metrics
        ]
        return AnalysisOutcome(results=results, traffic=None)

    def check_metrics(
        self, canary: Canary, at: datetime, names: frozenset[str]
    ) -> list[CheckResult]:
        """A guard tick's checks: the scripted verdict, for the named metrics only."""
        return [r for r in self.analyze(canary, at).results if r.name in names]


@dataclass
class Rollout:
    """One rollout: the phase it should end in, the one it ended in, and how long it took."""

    name: str
    expected: str
    phase: str | None = None
    seconds: float | None = None

    @property
    def ended_as_expected(self) -> bool:
        return self.phase == self.expected


@dataclass
class Run:
    rate: float
    rollouts: list[Rollout]
    injected: Counter[str] = field(default_factory=Counter)


def _canary(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "canary.dev/v1alpha1",
        "kind": "Canary",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {
            "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
            "service": {"port": 9898},
            "progressDeadlineSeconds": 60,
            "analysis": {
                "interval": "1s",
                "threshold": 2,
                "metrics": [{"name": "request-success-rate", "thresholdRange": {"min": 99}}],
            },
            "strategy": {"canary": {"stepWeight": 25, "maxWeight": 50}},
        },
    }


def _phase(kube: Kube, name: str) -> str | None:
    obj = read(
        kube.custom.get_namespaced_custom_object,
        "canary.dev",
        "v1alpha1",
        NAMESPACE,
        "canaries",
        name,
    )
    return ((obj or {}).get("status") or {}).get("phase")


@contextmanager
def _controller(env: testing.Environment, workers: int) -> Iterator[Controller]:
    configuration = client.Configuration(host=env.url)
    configuration.connection_pool_maxsize = 32
    api = client.ApiClient(configuration)
    api.user_agent = CONTROLLER_AGENT
    kube = Kube.of(api)
    reconciler = Reconciler(kube, IstioRouter(kube), analyzer=VerdictByName())
    options = Options(namespaces=[NAMESPACE], workers=workers, metrics_addr=None, watch_timeout=30)
    controller = Controller(kube, reconciler, options)
    controller.start()
    try:
        yield controller
    finally:
        controller.stop()
        api.close()  # type: ignore[no-untyped-call]


def run(rate: float, healthy: int = 4, failing: int = 2, seed: int = 1,
        timeout: float = 120.0, workers: int = 4) -> Run:  # fmt: skip
    """Initialise `healthy + failing` Canaries, then give every target a new image at once and
    time each rollout until Succeeded or Failed (or `timeout` seconds, leaving `phase` as last
    seen and `seconds` None). The faults (`rate`) hit the controller from its start."""
    rollouts = [Rollout(f"ok-{i}", "Succeeded") for i in range(healthy)]
    rollouts += [Rollout(f"bad-{i}", "Failed") for i in range(failing)]
    with tempfile.TemporaryDirectory(prefix="bench-faults-") as scratch:
        write_crds(Path(scratch))
        with (
            testing.sandbox(
                crds=[testing.ISTIO_CRDS, scratch], faults=fault_plan(rate, seed)
            ) as env,
            testing.DeploymentSimulator(env.api_client, behaviour=testing.Ready(0.2), tick=0.05),
            _controller(env, workers),
        ):
            server = env.require_emulator()
            kube = Kube.of(env.api_client)
            raw(kube.core.create_namespace, {"metadata": {"name": NAMESPACE}})
            for rollout in rollouts:
                raw(
                    kube.apps.create_namespaced_deployment,
                    NAMESPACE,
                    deployment(rollout.name, NAMESPACE, f"{IMAGE}:6.0.0"),
                )
                raw(
                    kube.custom.create_namespaced_custom_object,
                    "canary.dev",
                    "v1alpha1",
                    NAMESPACE,
                    "canaries",
                    _canary(rollout.name),
                )
            testing.eventually(
                lambda: all(_phase(kube, r.name) == "Initialized" for r in rollouts),
                timeout=timeout,
                interval=0.2,
            )
            started = time.monotonic()
            for rollout in rollouts:
                patch = {"spec": {"template": {"spec": {"containers": [
                    {"name": "app", "image": f"{IMAGE}:6.0.1"}]}}}}  # fmt: skip
                raw(
                    kube.apps.patch_namespaced_deployment,
                    rollout.name,
                    NAMESPACE,
                    patch,
                    _content_type="application/strategic-merge-patch+json",
                )
            _wait_for_ends(kube, rollouts, started, timeout)
            injected = Counter(server.api.faults.injected)
            server.api.faults.clear()
    return Run(rate, rollouts, injected)


def _wait_for_ends(kube: Kube, rollouts: list[Rollout], started: float, timeout: float) -> None:
    pending = list(rollouts)
    while pending and time.monotonic() - started < timeout:
        for rollout in list(pending):
            rollout.phase = _phase(kube, rollout.name)
            if rollout.phase in TERMINAL:
                rollout.seconds = time.monotonic() - started
                pending.remove(rollout)
        time.sleep(0.1)


def _summary(outcome: Run, expected: str) -> tuple[str, str, str, str]:
    chosen = [r for r in outcome.rollouts if r.expected == expected]
    ended = [r.seconds for r in chosen if r.seconds is not None]
    right = sum(r.ended_as_expected for r in chosen)
    median = f"{statistics.median(ended):.1f}" if ended else "-"
    longest = f"{max(ended):.1f}" if len(ended) == len(chosen) and ended else "timeout"
    return f"{right}/{len(chosen)} {expected}", median, longest, str(len(ended))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rate", type=float, default=0.1, help="share of requests that fail")
    parser.add_argument("--healthy", type=int, default=4, help="healthy rollouts per run")
    parser.add_argument("--failing", type=int, default=2, help="failing rollouts per run")
    parser.add_argument("--runs", type=int, default=3, help="runs per setting (seeds 1..N)")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds per run")
    args = parser.parse_args()
    # The controller logs every decision and every failed reconcile; the table is what counts.
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.ERROR))
    table = Table(title="rollouts by the controller against the emulator (seconds from new image)")
    for column in ("API faults", "rollouts", "outcome", "median s", "max s"):
        table.add_column(column, justify="right" if column != "outcome" else "left")
    notes = []
    for rate in (0.0, args.rate):
        merged = Run(rate, [])
        for seed in range(1, args.runs + 1):
            outcome = run(rate, args.healthy, args.failing, seed, args.timeout)
            merged.rollouts += outcome.rollouts
            merged.injected += outcome.injected
        injected = ", ".join(f"{k} x{v}" for k, v in sorted(merged.injected.items())) or "none"
        notes.append(f"faults injected at {rate:.0%} over {args.runs} runs: {injected}")
        for expected in TERMINAL:
            right, median, longest, _ = _summary(merged, expected)
            count = sum(r.expected == expected for r in merged.rollouts)
            table.add_row(f"{rate:.0%}", str(count), right, median, longest)
    console = Console()
    console.print(table)
    for note in notes:
        console.print(note)


if __name__ == "__main__":
    main()
