"""`python -m bench.scale`: one controller and N Canaries against the emulator; delays, intervals,
CPU, memory and API requests per Canary per interval, at rest and while rolling; prints a table.

Two processes: this one runs only the controller (a real threaded Controller, 4 workers), so its
CPU time and resident memory are the controller's; a child process (`--serve`, pinned to CPU 0
when there are two) runs the emulator, the Deployment-status simulator (every workload ready 0.5 s
after a change), the driver that creates the Canaries and changes their images, a watch that
timestamps each Canary's weight and phase, and the audit counter of the controller's requests (by
verb, and by verb, resource, cause and answer: the breakdown table).

    python -m bench.scale --quick                      # 100 Canaries, 10 s interval (~2 min)
    python -m bench.scale --canaries 1000 --interval 60 --json scale.json
    python -m bench.scale --timers                     # timers: APScheduler vs a heap, 1k/5k keys
"""

from __future__ import annotations

import argparse
import heapq
import itertools
import json
import logging
import os
import platform
import random
import resource
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any, Generic, TypeVar

import structlog
from kubernetes import client, watch
from rich.console import Console
from rich.table import Table

from bench.objects import IMAGE, deployment
from canary.api.crdgen import write_crds
from canary.controller.queue import WorkQueue
from canary.controller.reconcile import Reconciler
from canary.controller.runtime import Controller, Options
from canary.controller.scheduling import SchedulerTimers, Timers
from canary.kube.client import Kube, raw
from canary.kube.istio import IstioRouter
from canary.sandbox import crds as sandbox_crds
from canary.sandbox.audit import Attributes, attributes

CONTROLLER_AGENT = "canary-controller/bench-scale"
NAMESPACE = "scale"
READS = ("get", "list")
WRITES = ("create", "update", "patch", "delete", "deletecollection")
K = TypeVar("K", bound=Hashable)
WATCHED = {"canaries", "deployments", "services", "virtualservices", "destinationrules"}
"""The kinds the controller's caches hold whole."""
METADATA_WATCHED = {"configmaps", "secrets"}
"""The kinds the controller watches as metadata only: a read of the object asks the API."""

# Targets (issue #16): 1,000 Canaries at a 1-minute interval on 2 cores.
TARGET_CANARIES, TARGET_INTERVAL = 1000, 60.0
TARGET_P99_DELAY, TARGET_INTERVAL_SLACK, TARGET_RSS_MB, TARGET_READS_AT_REST = 2.0, 0.10, 300, 0.0


# The child process: emulator, Deployment simulator, driver, weight watch, audit counter


def _canary(name: str, interval: float) -> dict[str, Any]:
    return {
        "apiVersion": "canary.dev/v1alpha1",
        "kind": "Canary",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {
            "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
            "service": {"port": 9898},
            "progressDeadlineSeconds": 3600,
            "analysis": {
                "interval": f"{interval:g}s",
                "threshold": 2,
                "metrics": [{"name": "request-success-rate", "thresholdRange": {"min": 99}}],
            },
            "strategy": {"canary": {"stepWeight": 25, "maxWeight": 50}},
        },
    }


def _detail(seen: Attributes, code: int, conflicted: set[tuple[str, str, str]]) -> str:
    """ "verb resource cause code" for the breakdown of the controller's requests.

    The cause of a read: "conflict" for a GET of an object whose last write by the controller
    met a 409 (the one refresh a conflict costs), "uncached" for a read of a kind the controller
    has no watch of, "metadata only" for a read of a kind watched as metadata only (ConfigMaps,
    Secrets), and "cached kind" for a read of a kind cached whole (a cache miss: its namespace
    not listed yet, or the object not in the cache). Writes have no cause ("-").
    `conflicted` holds the objects whose last write met a 409; updated in place.
    """
    key = (seen.rbac_resource, seen.namespace, seen.name)
    cause = "-"
    if seen.verb in WRITES and seen.name:
        if code == 409:
            conflicted.add(key)
        else:
            conflicted.discard(key)
    elif seen.verb in READS:
        if key in conflicted:
            conflicted.discard(key)
            cause = "conflict"
        elif seen.rbac_resource in WATCHED:
            cause = "cached kind"
        elif seen.rbac_resource in METADATA_WATCHED:
            cause = "metadata only"
        else:
            cause = "uncached"
    return f"{seen.verb} {seen.rbac_resource} {cause} {code}"


class World:
    """The child's side: everything but the controller."""

    def __init__(self) -> None:
        from canary.sandbox.deployments import DeploymentSimulator, Ready
        from canary.sandbox.server import ApiServer

        self.scratch = tempfile.TemporaryDirectory(prefix="bench-scale-")
        write_crds(Path(self.scratch.name))
        self.server = ApiServer(
            crd_paths=[sandbox_crds.shipped_istio(), self.scratch.name], history=1_000_000
        )
        self.counts: Counter[str] = Counter()
        """By verb, and by "verb resource cause code" (see `_detail`)."""
        self._conflicted: set[tuple[str, str, str]] = set()
        self._count_lock = threading.Lock()
        handle = self.server.api.handle

        def counted(method: str, path: str, query: str, headers: Any, body: bytes,
                    alive: Callable[[], bool] | None = None) -> Any:  # fmt: skip
            answer = handle(method, path, query, headers, body, alive)
            if headers.get("user-agent", "").startswith("canary-controller"):
                seen = attributes(method, path, query)
                with self._count_lock:
                    self.counts[seen.verb] += 1
                    self.counts[_detail(seen, answer.code, self._conflicted)] += 1
            return answer

        self.server.api.handle = counted  # type: ignore[method-assign]
        self.server.start()
        configuration = client.Configuration(host=self.server.url)
        configuration.connection_pool_maxsize = 16
        self.api = client.ApiClient(configuration)
        self.kube = Kube.of(self.api)
        self.simulator = DeploymentSimulator(self.api, behaviour=Ready(0.5), tick=0.1).start()
        self.names: list[str] = []
        self.lock = threading.Lock()
        self.state: dict[str, tuple[str | None, int]] = {}
        self.events: dict[str, list[tuple[float, str | None, int]]] = {}
        threading.Thread(target=self._watch, daemon=True).start()

    def _watch(self) -> None:
        """Timestamps every change of a Canary's phase or weight (the controller's status writes)."""
        custom = self.kube.custom
        version = ""
        while True:
            try:
                stream = watch.Watch().stream(  # type: ignore[no-untyped-call]
                    custom.list_namespaced_custom_object, "canary.dev", "v1alpha1", NAMESPACE,
                    "canaries", resource_version=version, timeout_seconds=3600,
                )  # fmt: skip
                for event in stream:
                    obj = event["raw_object"]
                    version = obj["metadata"].get("resourceVersion", version)
                    status = obj.get("status") or {}
                    seen = (status.get("phase"), int(status.get("canaryWeight") or 0))
                    name = obj["metadata"]["name"]
                    with self.lock:
                        if self.state.get(name) != seen:
                            self.state[name] = seen
                            self.events.setdefault(name, []).append((time.monotonic(), *seen))
            except Exception:
                time.sleep(0.5)

    def setup(self, canaries: int, interval: float, timeout: float) -> dict[str, Any]:
        raw(self.kube.core.create_namespace, {"metadata": {"name": NAMESPACE}})
        started = time.monotonic()
        self.names = [f"app-{i:05d}" for i in range(canaries)]
        for name in self.names:
            raw(
                self.kube.apps.create_namespaced_deployment,
                NAMESPACE,
                deployment(name, NAMESPACE, f"{IMAGE}:6.0.0"),
            )
            raw(self.kube.custom.create_namespaced_custom_object, "canary.dev", "v1alpha1",
                NAMESPACE, "canaries", _canary(name, interval))  # fmt: skip
        ready = self._wait(lambda phase, _: phase == "Initialized", started + timeout)
        return {"initialized": ready, "seconds": time.monotonic() - started}

    def _wait(self, done: Callable[[str | None, int], bool], deadline: float) -> int:
        while True:
            with self.lock:
                finished = sum(done(*self.state.get(n, (None, 0))) for n in self.names)
            if finished == len(self.names) or time.monotonic() > deadline:
                return finished
            time.sleep(0.5)

    def roll(self, tag: str, spread: float, timeout: float) -> dict[str, Any]:
        """New image `tag` on every target, spread evenly over `spread` seconds (0: at once); waits
        for every rollout to succeed; per Canary: seconds to the first weight, and the times of
        each later step (a new weight, then promotion)."""
        patch = {"spec": {"template": {"spec": {"containers": [{"name": "app",
                 "image": f"{IMAGE}:{tag}"}]}}}}  # fmt: skip
        started = time.monotonic()
        changed: dict[str, float] = {}
        for i, name in enumerate(self.names):
            if spread:
                time.sleep(max(0.0, started + spread * i / len(self.names) - time.monotonic()))
            changed[name] = time.monotonic()
            raw(self.kube.apps.patch_namespaced_deployment, name, NAMESPACE, patch,
                _content_type="application/strategic-merge-patch+json")  # fmt: skip

        # Succeeded after our change: the phase went through Progressing first.
        def succeeded(name: str) -> bool:
            return any(t >= changed[name] and p == "Succeeded" for t, p, _ in
                       self.events.get(name, []))  # fmt: skip

        deadline = started + spread + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if all(succeeded(n) for n in self.names):
                    break
            time.sleep(0.5)
        delays, steps = [], []
        with self.lock:
            for name in self.names:
                after = [(t, p, w) for t, p, w in self.events.get(name, []) if t >= changed[name]]
                marks, last_weight = [], 0
                for at, phase, weight in after:
                    if weight and weight != last_weight:
                        marks.append(at)
                    elif phase == "Promoting" and last_weight:
                        marks.append(at)
                        break
                    last_weight = weight or last_weight
                if marks:
                    delays.append(marks[0] - changed[name])
                steps.append([b - a for a, b in itertools.pairwise(marks)])
            done = sum(succeeded(n) for n in self.names)
        return {"delays": delays, "gaps": steps, "succeeded": done,
                "seconds": time.monotonic() - started}  # fmt: skip

    def snapshot(self) -> dict[str, Any]:
        with self._count_lock:
            return {"counts": dict(self.counts), "at": time.monotonic(), "cpu": _cpu()}


def serve() -> int:
    """The child: answer one JSON command per line on stdin with one JSON line on stdout."""
    logging.disable(logging.WARNING)
    world = World()
    print(json.dumps({"url": world.server.url}), flush=True)
    for line in sys.stdin:
        command = json.loads(line)
        what = command.pop("do")
        if what == "stop":
            break
        answer = getattr(world, what)(**command)
        print(json.dumps(answer), flush=True)
    world.simulator.stop()
    world.server.stop()
    return 0


# The parent: the controller, and the measurements


class Child:
    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.process = process
        assert process.stdin is not None
        assert process.stdout is not None
        self._in: IO[str] = process.stdin
        self._out: IO[str] = process.stdout

    def read(self) -> Any:
        line = self._out.readline()
        if not line:
            raise RuntimeError("the emulator process ended")
        return json.loads(line)

    def ask(self, what: str, **args: Any) -> Any:
        self._in.write(json.dumps({"do": what, **args}) + "\n")
        self._in.flush()
        return self.read()


@contextmanager
def world_process() -> Iterator[tuple[Child, str]]:
    command = [sys.executable, "-m", "bench.scale", "--serve"]
    process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        child = Child(process)
        url = child.read()["url"]
        if hasattr(os, "sched_setaffinity") and len(os.sched_getaffinity(0)) > 1:
            # The emulator's threads on CPU 0, the controller elsewhere, as in bench/apiserver.py.
            for task in os.listdir(f"/proc/{process.pid}/task"):
                os.sched_setaffinity(int(task), {0})
            os.sched_setaffinity(0, os.sched_getaffinity(0) - {0})
        yield child, url
    finally:
        with suppress(Exception):
            child.ask("stop")
        process.terminate()
        process.wait(timeout=30)


class PassAll:
    """Every check passes (no Prometheus): the bench measures the controller, not the analysis."""

    def analyze(self, canary: Any, at: Any, *, traffic_since: Any = None) -> Any:
        from canary.analysis.results import CheckResult, Verdict
        from canary.protocols import AnalysisOutcome

        results = [CheckResult(m.name, Verdict.PASS, 100.0, None, ">= 99", "bench")
                   for m in canary.spec.analysis.metrics]  # fmt: skip
        return AnalysisOutcome(results=results, traffic=None)

    def traffic(self, canary: Any, at: Any, *, since: Any = None) -> None:
        """No traffic counts: the sequential test collects no evidence and holds nothing."""
        return None

    def check_metrics(self, canary: Any, at: Any, names: frozenset[str]) -> Any:
        """A guard tick's checks: the named metrics pass."""
        return [r for r in self.analyze(canary, at).results if r.name in names]


@contextmanager
def controller(url: str, workers: int) -> Iterator[Controller]:
    configuration = client.Configuration(host=url)
    configuration.connection_pool_maxsize = max(16, workers * 2 + 12)
    api = client.ApiClient(configuration)
    api.user_agent = CONTROLLER_AGENT
    kube = Kube.of(api)
    options = Options(namespaces=[NAMESPACE], workers=workers, metrics_addr=None)
    running = Controller(kube, Reconciler(kube, IstioRouter(kube), analyzer=PassAll()), options)
    running.start()
    try:
        yield running
    finally:
        running.stop()
        api.close()  # type: ignore[no-untyped-call]


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class PeakRss:
    """Samples the resident set every 0.5 s; `take()` returns the peak since the last take."""

    def __init__(self) -> None:
        self.peak = _rss_mb()
        self._stop = threading.Event()
        threading.Thread(target=self._sample, daemon=True).start()

    def _sample(self) -> None:
        while not self._stop.wait(0.5):
            self.peak = max(self.peak, _rss_mb())

    def take(self) -> float:
        peak, self.peak = max(self.peak, _rss_mb()), _rss_mb()
        return peak


@dataclass
class Phase:
    """One measured window."""

    name: str
    seconds: float
    cpu_per_canary_interval_ms: float
    reads_per_canary_interval: float
    writes_per_canary_interval: float
    watches_started: int
    rss_mb: float
    controller_cores: float
    """The controller's CPU seconds per second of the window."""
    emulator_cores: float
    """The child's (emulator, simulator, driver) CPU seconds per second of the window."""
    requests_per_second: float
    """The controller's requests (watches aside) per second."""
    delay_p50: float | None = None
    delay_p99: float | None = None
    ratio_p50: float | None = None
    ratio_p99: float | None = None
    rolled: str = ""
    breakdown: dict[str, float] = field(default_factory=dict)
    """Requests per Canary per interval by "verb resource cause code" (`_detail`), watches aside."""


def _pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _phase(name: str, canaries: int, interval: float, before: dict[str, Any],
           after: dict[str, Any], cpu: float, rss: float) -> Phase:  # fmt: skip
    seconds = after["at"] - before["at"]
    counted = Counter(after["counts"])
    counted.subtract(before["counts"])
    per = canaries * seconds / interval  # Canary-intervals in the window
    return Phase(
        name=name,
        seconds=seconds,
        cpu_per_canary_interval_ms=1000 * cpu / per,
        reads_per_canary_interval=sum(counted[v] for v in READS) / per,
        writes_per_canary_interval=sum(counted[v] for v in WRITES) / per,
        watches_started=counted["watch"],
        rss_mb=rss,
        controller_cores=cpu / seconds,
        emulator_cores=(after["cpu"] - before["cpu"]) / seconds,
        requests_per_second=sum(counted[v] for v in (*READS, *WRITES)) / seconds,
        breakdown=_breakdown(counted, per),
    )


def _breakdown(counted: Counter[str], per: float) -> dict[str, float]:
    """The "verb resource cause code" counts per Canary-interval, watches aside."""
    return {
        k: n / per
        for k, n in sorted(counted.items())
        if " " in k and n > 0 and not k.startswith("watch ")
    }


@dataclass
class Report:
    machine: dict[str, Any]
    canaries: int
    interval: float
    workers: int
    setup_seconds: float
    initialized: int
    rss_idle_mb: float
    phases: list[Phase] = field(default_factory=list)

    def targets(self) -> list[tuple[str, str, bool | None]]:
        """(target, measured, met); met is None when this run is not the target's setting."""
        comparable = (self.canaries, self.interval) == (TARGET_CANARIES, TARGET_INTERVAL)
        rolling = [p for p in self.phases if p.delay_p99 is not None]
        rest = [p for p in self.phases if p.name == "at rest"]
        delay = max((p.delay_p99 or 0.0) for p in rolling) if rolling else None
        ratio = max((p.ratio_p99 or 0.0) for p in rolling) if rolling else None
        rss = max([self.rss_idle_mb, *(p.rss_mb for p in self.phases)])
        reads = rest[0].reads_per_canary_interval if rest else None

        def met(ok: bool) -> bool | None:
            return ok if comparable else None

        return [
            (f"p99 delay to first weight < {TARGET_P99_DELAY:g} s",
             f"{delay:.2f} s" if delay is not None else "-",
             met(delay is not None and delay < TARGET_P99_DELAY)),
            (f"interval honoured within {TARGET_INTERVAL_SLACK:.0%} (p99 ratio)",
             f"{ratio:.2f}x" if ratio is not None else "-",
             met(ratio is not None and abs(ratio - 1) <= TARGET_INTERVAL_SLACK)),
            (f"resident memory < {TARGET_RSS_MB} MB", f"{rss:.0f} MB",
             met(rss < TARGET_RSS_MB)),
            ("0 reads per Canary per interval at rest",
             f"{reads:.2f}" if reads is not None else "-",
             met(reads is not None and reads <= TARGET_READS_AT_REST)),
        ]  # fmt: skip


def machine() -> dict[str, Any]:
    model = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        here = Path(__file__).parent
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=here, text=True,
                                capture_output=True, timeout=10).stdout.strip()  # fmt: skip
        dirty = subprocess.run(["git", "status", "--porcelain"], cwd=here, text=True,
                               capture_output=True, timeout=10).stdout.strip()  # fmt: skip
        commit += "+dirty" if dirty else ""
    except (OSError, subprocess.SubprocessError):
        commit = "unknown"
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    return {"cores": os.cpu_count(), "cpu": model, "commit": commit,
            "python": platform.python_version(), "load_before": load}  # fmt: skip


def _progress(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def run(canaries: int, interval: float, workers: int = 4, modes: tuple[str, ...] = ("at once",
        "staggered"), rest_intervals: float = 1.0) -> Report:  # fmt: skip
    """Set up `canaries` Canaries, measure a window at rest (`rest_intervals` intervals), then
    each rollout mode: every image changed at once, or spread evenly over one interval."""
    peak = PeakRss()
    timeout = max(120.0, 8 * interval + canaries * 0.2)
    with world_process() as (child, url), controller(url, workers):
        time.sleep(1.0)
        idle = peak.take()
        _progress(f"creating {canaries} Canaries and waiting for them to initialise")
        setup = child.ask("setup", canaries=canaries, interval=interval, timeout=timeout)
        _progress(f"{setup['initialized']} initialised in {setup['seconds']:.0f} s; at rest")
        report = Report(machine(), canaries, interval, workers, setup["seconds"],
                        setup["initialized"], idle)  # fmt: skip
        time.sleep(min(interval, 5.0))  # the last initialisations' follow-up reconciles
        peak.take()
        before, cpu = child.ask("snapshot"), _cpu()
        time.sleep(interval * rest_intervals)
        after = child.ask("snapshot")
        report.phases.append(
            _phase("at rest", canaries, interval, before, after, _cpu() - cpu, peak.take())
        )
        for number, mode in enumerate(modes):
            spread = interval if mode == "staggered" else 0.0
            _progress(f"rolling, {mode}")
            before, cpu = child.ask("snapshot"), _cpu()
            rolled = child.ask("roll", tag=f"6.1.{number}", spread=spread, timeout=timeout)
            after = child.ask("snapshot")
            phase = _phase(f"rolling, {mode}", canaries, interval, before, after,
                           _cpu() - cpu, peak.take())  # fmt: skip
            ratios = [gap / interval for gaps in rolled["gaps"] for gap in gaps]
            phase.delay_p50, phase.delay_p99 = (
                _pct(rolled["delays"], 0.5),
                _pct(rolled["delays"], 0.99),
            )
            phase.ratio_p50, phase.ratio_p99 = _pct(ratios, 0.5), _pct(ratios, 0.99)
            phase.rolled = f"{rolled['succeeded']}/{canaries}"
            report.phases.append(phase)
    return report


def _f(value: float | None, unit: str = "", digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}{unit}"


def print_report(report: Report, console: Console) -> None:
    m = report.machine
    console.print(
        f"[bold]bench/scale[/]: {report.canaries} Canaries, {report.interval:g} s interval, "
        f"{report.workers} workers; {m['cores']} cores ({m['cpu']}), commit {m['commit']}, "
        f"Python {m['python']}, load {m['load_before']}; {report.initialized}/{report.canaries} initialised in "
        f"{report.setup_seconds:.0f} s; controller resident {report.rss_idle_mb:.0f} MB empty"
    )
    table = Table(title="one controller against the emulator (the emulator in its own process)")
    for column in ("phase", "s", "delay p50", "delay p99", "interval p50", "interval p99",
                   "CPU ms /Canary /interval", "reads /Canary /interval",
                   "writes /Canary /interval", "requests /s", "controller cores",
                   "emulator cores", "RSS MB", "succeeded"):  # fmt: skip
        table.add_column(column, justify="left" if column == "phase" else "right")
    for p in report.phases:
        table.add_row(p.name, f"{p.seconds:.0f}", _f(p.delay_p50, " s"), _f(p.delay_p99, " s"),
                      _f(p.ratio_p50, "x"), _f(p.ratio_p99, "x"),
                      f"{p.cpu_per_canary_interval_ms:.1f}", f"{p.reads_per_canary_interval:.1f}",
                      f"{p.writes_per_canary_interval:.1f}", f"{p.requests_per_second:.0f}",
                      f"{p.controller_cores:.2f}", f"{p.emulator_cores:.2f}", f"{p.rss_mb:.0f}",
                      p.rolled or "-")  # fmt: skip
    console.print(table)
    breakdown = Table(
        title="requests /Canary /interval by verb, resource and cause (watches aside)"
    )
    kinds = sorted({k for p in report.phases for k in p.breakdown})
    breakdown.add_column("verb resource cause code")
    for p in report.phases:
        breakdown.add_column(p.name, justify="right")
    for kind in kinds:
        breakdown.add_row(kind, *(f"{p.breakdown.get(kind, 0.0):.3f}" for p in report.phases))
    console.print(breakdown)
    targets = Table(title=f"targets ({TARGET_CANARIES:,} Canaries, {TARGET_INTERVAL:g} s "
                          "interval, 2 cores)")  # fmt: skip
    for column in ("target", "measured", ""):
        targets.add_column(column)
    for name, measured, met in report.targets():
        verdict = {True: "[green]met", False: "[red]not met", None: "n/a (other setting)"}[met]
        targets.add_row(name, measured, verdict)
    console.print(targets)


# Timers: APScheduler (what the controller uses) against a plain heap with one thread


class HeapTimers(Generic[K]):
    """The baseline: the heap the work queue kept before APScheduler, on a thread of its own."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int, K]] = []
        self._due: dict[K, tuple[float, Callable[[], None]]] = {}
        self._order = itertools.count()
        self._closed = False
        threading.Thread(target=self._run, daemon=True).start()

    def call_later(self, key: K, delay: float, callback: Callable[[], None]) -> None:
        with self._cond:
            due = time.monotonic() + max(0.0, delay)
            if key in self._due and self._due[key][0] <= due:
                return
            self._due[key] = (due, callback)
            heapq.heappush(self._heap, (due, next(self._order), key))
            self._cond.notify()

    def cancel(self, key: K) -> None:
        with self._cond:
            self._due.pop(key, None)

    def due(self) -> dict[K, float]:
        with self._cond:
            return {k: d for k, (d, _) in self._due.items()}

    def shutdown(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify()

    def _run(self) -> None:
        while True:
            with self._cond:
                if self._closed:
                    return
                now = time.monotonic()
                fire = None
                if self._heap and self._heap[0][0] <= now:
                    due, _, key = heapq.heappop(self._heap)
                    if key in self._due and self._due[key][0] == due:
                        fire = self._due.pop(key)[1]
                else:
                    self._cond.wait(self._heap[0][0] - now if self._heap else None)
            if fire is not None:
                fire()


def bench_timers(keys: int, interval: float, seconds: float, timers: Timers[int],
                 workers: int = 4) -> dict[str, float]:  # fmt: skip
    """Every key is requeued `interval` s after each hand-out (the controller's steady state);
    lateness = hand-out time - due time, after one warm-up interval."""
    queue: WorkQueue[int] = WorkQueue(timers)
    due: dict[int, float] = {}
    late: list[float] = []

    def later(key: int, delay: float) -> None:
        due[key] = time.monotonic() + delay
        queue.add(key, delay)

    rng = random.Random(1)
    for key in range(keys):
        later(key, rng.uniform(0, interval))
    warm, stop = time.monotonic() + interval, time.monotonic() + interval + seconds
    cpu = time.process_time()

    def work() -> None:
        while time.monotonic() < stop:
            key = queue.get(timeout=0.2)
            if key is None:
                continue
            if time.monotonic() > warm:
                late.append(time.monotonic() - due[key])
            later(key, interval)
            queue.done(key)

    threads = [threading.Thread(target=work) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    used = time.process_time() - cpu
    queue.shutdown()
    return {"keys": keys, "fired_per_s": len(late) / seconds,
            "late_p50_ms": 1000 * (_pct(late, 0.5) or 0), "late_p99_ms": 1000 * (_pct(late, 0.99)
            or 0), "late_max_ms": 1000 * max(late, default=0), "cpu_per_s": used / (interval +
            seconds)}  # fmt: skip


def main_timers(console: Console, interval: float, seconds: float) -> list[dict[str, Any]]:
    rows = []
    table = Table(title=f"timers: every key requeued each {interval:g} s, 4 workers")
    for column in ("timers", "keys", "fired /s", "late p50 ms", "late p99 ms", "late max ms",
                   "CPU core"):  # fmt: skip
        table.add_column(column, justify="left" if column == "timers" else "right")
    for keys in (1000, 5000):
        for name in ("APScheduler", "heap"):
            timers: Timers[int]
            if name == "APScheduler":
                scheduler: SchedulerTimers[int] = SchedulerTimers()
                scheduler.start()
                timers = scheduler
            else:
                timers = HeapTimers()
            row = {"timers": name, **bench_timers(keys, interval, seconds, timers)}
            rows.append(row)
            table.add_row(name, f"{keys}", f"{row['fired_per_s']:.0f}", f"{row['late_p50_ms']:.1f}",
                          f"{row['late_p99_ms']:.1f}", f"{row['late_max_ms']:.1f}",
                          f"{row['cpu_per_s']:.3f}")  # fmt: skip
    console.print(table)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--canaries", type=int, default=1000, help="Canaries (default 1000)")
    parser.add_argument("--interval", type=float, default=None,
                        help="each Canary's analysis interval, seconds (default 60; with "
                        "--timers, each key's requeue: default 5)")  # fmt: skip
    parser.add_argument("--workers", type=int, default=4, help="controller workers (default 4)")
    parser.add_argument("--quick", action="store_true",
                        help="100 Canaries at a 10 s interval (about two minutes)")  # fmt: skip
    parser.add_argument("--modes", default="at once,staggered",
                        help="rollout modes, comma-separated (default: 'at once,staggered')")  # fmt: skip
    parser.add_argument("--timers", action="store_true",
                        help="only the timers: APScheduler against a heap at 1,000 and 5,000 keys")  # fmt: skip
    parser.add_argument(
        "--json", metavar="FILE", help="also write the numbers as JSON ('-': stdout)"
    )
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        return serve()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.ERROR))
    console = Console(stderr=args.json == "-", width=170)
    result: dict[str, Any]
    if args.timers:
        interval = args.interval or 5.0
        rows = main_timers(console, interval, max(15.0, interval / 2))
        result = {"machine": machine(), "timers": rows}
    else:
        canaries, interval = (100, 10.0) if args.quick else (args.canaries, args.interval or 60.0)
        modes = tuple(m.strip() for m in args.modes.split(",") if m.strip())
        report = run(canaries, interval, args.workers, modes)
        print_report(report, console)
        result = {**asdict(report), "targets": [
            {"target": t, "measured": v, "met": m} for t, v, m in report.targets()]}  # fmt: skip
    if args.json == "-":
        print(json.dumps(result, indent=2))
    elif args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
