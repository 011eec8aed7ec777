"""Benchmark of rollout decisions on the simulator: the documented default, Flagger's example, the SPRT limit."""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import subprocess
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from canary.analysis.sequential import SequentialConfig, expected_sample_size
from canary.api.canary import Canary, Phase
from canary.api.common import parse_duration
from canary.api.loading import load_canary
from canary.sim.scenario import Scenario
from canary.sim.simulator import simulate

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_POLICY = ROOT / "examples" / "my-app.yaml"
"""The documented default: the seed Canary every page starts from."""

Kind = Literal["healthy", "error", "latency"]

RPS = 100.0
"""Users' requests per second, unless a scenario says otherwise; the targets are about this rate."""
BASELINE_ERROR = 0.001
"""The primary's (and a healthy canary's) error rate: 0.1% of requests fail."""
LATENCY = {"p50": 40.0, "p99": 150.0}
"""The primary's latency in ms: a log-normal, Istio buckets 100 and 250 ms around its p99."""
ERROR_RATIOS = (1.5, 2.0, 5.0, 10.0, 50.0, 200.0)
LATENCY_RATIOS = (1.5, 2.0)
HORIZON = "1h"
"""Every scenario lasts this long; a bad canary promoted earlier fails users until the end."""
DEFAULT_SEEDS = 100
QUICK_SEEDS = 3
SEED_BASE = 1000
DEFAULT = "default"
FLAGGER = "flagger"
OBSERVE_MODES = ("prometheus", "exact")


@dataclass(frozen=True)
class BenchScenario:
    """A scenario of the suite and what a correct decision is."""

    scenario: Scenario
    kind: Kind
    rps: float
    ratio: float = 1.0
    """The canary's error rate (error kind) or latency (latency kind) over the primary's."""

    @property
    def name(self) -> str:
        return self.scenario.name

    @property
    def bad(self) -> bool:
        """True when promoting the canary is a missed regression."""
        return self.kind != "healthy"


def _side(error_rate: float = BASELINE_ERROR, slower: float = 1.0, **extra: Any) -> dict[str, Any]:
    latency = {key: value * slower for key, value in LATENCY.items()}
    return {"errorRate": error_rate, "latency": latency, "readyAfter": "20s", **extra}


def _bench(
    name: str,
    description: str,
    kind: Kind,
    *,
    rps: float = RPS,
    ratio: float = 1.0,
    traffic: list[dict[str, Any]] | None = None,
    primary: dict[str, Any] | None = None,
    canary: dict[str, Any] | None = None,
) -> BenchScenario:
    body = {
        "name": name,
        "description": description,
        "duration": HORIZON,
        "traffic": traffic or [{"rps": rps}],
        "primary": primary or _side(),
        "canary": canary or _side(),
    }
    return BenchScenario(Scenario.model_validate(body), kind, rps, ratio)


def suite() -> list[BenchScenario]:
    """The fixed suite: healthy canaries (plain, at 10 and 2 req/s, noisy, bursty, slow to become
    ready), error regressions 1.5x..200x and latency regressions 1.5x and 2x."""
    pct = f"{100 * BASELINE_ERROR:g}%"
    scenarios = [
        _bench("healthy", f"v2 behaves like v1: {pct} errors, p99 150 ms", "healthy"),
        _bench("healthy-10rps", "as healthy, 10 req/s", "healthy", rps=10),
        _bench("healthy-2rps", "as healthy, 2 req/s", "healthy", rps=2),
        _noisy(),
        _bursty(),
        _bench(
            "healthy-slow-ready",
            "as healthy; the canary's pods take 3 min to become ready",
            "healthy",
            canary=_side(readyAfter="3m"),
        ),
    ]
    for ratio in ERROR_RATIOS:
        scenarios.append(
            _bench(
                f"errors-{ratio:g}x",
                f"v2 fails {ratio:g}x as often as v1 ({100 * BASELINE_ERROR * ratio:g}%)",
                "error",
                ratio=ratio,
                canary=_side(min(1.0, BASELINE_ERROR * ratio)),
            )
        )
    for rps, ratio in ((10.0, 2.0), (10.0, 10.0), (2.0, 10.0)):
        scenarios.append(
            _bench(
                f"errors-{ratio:g}x-{rps:g}rps",
                f"v2 fails {ratio:g}x as often as v1, {rps:g} req/s",
                "error",
                rps=rps,
                ratio=ratio,
                canary=_side(BASELINE_ERROR * ratio),
            )
        )
    for ratio in LATENCY_RATIOS:
        scenarios.append(
            _bench(
                f"latency-{ratio:g}x",
                f"every v2 response takes {ratio:g}x as long (p99 {LATENCY['p99'] * ratio:g} ms)",
                "latency",
                ratio=ratio,
                canary=_side(slower=ratio),
            )
        )
    return scenarios


def _noisy() -> BenchScenario:
    """Wide latency (p99 10x the median), traffic swinging each minute between 60 and 160 req/s,
    and two shared incidents (a dependency failing or slowing both versions): healthy all the same."""
    wide = {"p50": 40.0, "p99": 400.0}
    swings = [
        {"at": f"{minute}m", "rps": rps} for minute, rps in enumerate([100, 160, 60, 140, 80] * 12)
    ]
    incidents = [
        {"at": "100s", "errorRate": 0.02},
        {"at": "190s", "errorRate": BASELINE_ERROR},
        {"at": "5m", "latency": {"p50": 80.0, "p99": 900.0}},
        {"at": "7m", "latency": wide},
    ]
    side = {"errorRate": BASELINE_ERROR, "latency": wide, "changes": incidents}
    return _bench(
        "healthy-noisy",
        "v2 behaves like v1; wide latency, traffic swings, shared error and latency incidents",
        "healthy",
        traffic=swings,
        primary={**side, "readyAfter": "20s"},
        canary={**side, "readyAfter": "20s"},
    )


def _bursty() -> BenchScenario:
    """Bursts of 5x the traffic for 20 s every 2 min, and a quiet 30 s at 5 req/s in between."""
    points: list[dict[str, Any]] = []
    for start in range(0, 3600, 120):
        points += [
            {"at": f"{start}s", "rps": RPS},
            {"at": f"{start + 40}s", "rps": 5 * RPS},
            {"at": f"{start + 60}s", "rps": RPS},
            {"at": f"{start + 80}s", "rps": 5.0},
            {"at": f"{start + 110}s", "rps": RPS},
        ]
    return _bench(
        "healthy-bursty",
        "v2 behaves like v1; bursts of 500 req/s for 20 s and lulls of 5 req/s, every 2 min",
        "healthy",
        traffic=points,
    )


def flagger_policy() -> Canary:
    """Flagger's documented example: 1m interval, threshold 5, 10% steps to 50%, success rate
    at least 99%, p99 at most 500 ms (docs.flagger.app, the Istio canary tutorial)."""
    return Canary.model_validate(
        {
            "metadata": {"name": FLAGGER, "namespace": "bench"},
            "spec": {
                "targetRef": {"name": "app"},
                "service": {"port": 80},
                "strategy": {"canary": {"stepWeight": 10, "maxWeight": 50}},
                "analysis": {
                    "interval": "1m",
                    "threshold": 5,
                    # Flagger has no sequential test; ours is on by default.
                    "sequential": {"enabled": False},
                    "metrics": [
                        {
                            "name": "request-success-rate",
                            "interval": "1m",
                            "thresholdRange": {"min": 99},
                        },
                        {
                            "name": "request-duration",
                            "interval": "1m",
                            "thresholdRange": {"max": 500},
                        },
                    ],
                },
            },
        }
    )


def policies(path: Path = DEFAULT_POLICY) -> dict[str, Canary]:
    """The policy under test (the documented default unless `path` says otherwise) and Flagger's."""
    return {DEFAULT: load_canary(path), FLAGGER: flagger_policy()}


def observed(bench: BenchScenario, mode: str) -> tuple[BenchScenario, str]:
    """The scenario observed through the simulated Prometheus (its default block) or exactly
    (`prometheus: {exact: true}`); returns the scenario and the mode used."""
    model = bench.scenario.prometheus.model_copy(update={"exact": mode == "exact"})
    scenario = bench.scenario.model_copy(update={"prometheus": model})
    return BenchScenario(scenario, bench.kind, bench.rps, bench.ratio), mode


@dataclass(frozen=True)
class Run:
    """One simulated rollout, reduced to what the benchmark aggregates."""

    policy: str
    scenario: str
    seed: int
    phase: str
    decision_seconds: int | None
    traffic_seconds: int | None
    """Seconds from the canary's first user traffic to the decision."""
    failed_requests: float
    """Failed user requests served by v2 within the horizon: as the canary, and after a promotion."""
    failed_before_decision: int


def run_one(job: tuple[str, Canary, BenchScenario, int]) -> Run:
    """Simulates one (policy name, Canary, scenario, seed) job; picklable for the process pool."""
    policy, canary, bench, seed = job
    outcome = simulate(canary, bench.scenario, seed)
    first_traffic = next((t.seconds for t in outcome.ticks if t.canary_weight > 0), None)
    decided = outcome.decision_seconds
    failed = float(outcome.canary_failed_requests)
    if bench.kind == "error" and outcome.phase == Phase.SUCCEEDED and decided is not None:
        # A promoted bad canary serves every user until the horizon: its expected failures count.
        left = max(0.0, parse_duration(bench.scenario.duration) - decided)
        failed += left * bench.rps * bench.scenario.canary.error_rate
    return Run(
        policy=policy,
        scenario=bench.name,
        seed=seed,
        phase=str(outcome.phase),
        decision_seconds=decided,
        traffic_seconds=None
        if decided is None or first_traffic is None
        else decided - first_traffic,
        failed_requests=failed,
        failed_before_decision=outcome.canary_failed_requests,
    )


def jobs(
    specs: dict[str, Canary], scenarios: Sequence[BenchScenario], seeds: int
) -> list[tuple[str, Canary, BenchScenario, int]]:
    """Seed i of a scenario is SEED_BASE + i for every policy: identical users and failures."""
    return [
        (name, canary, bench, SEED_BASE + i)
        for bench in scenarios
        for name, canary in specs.items()
        for i in range(seeds)
    ]


def run_all(
    specs: dict[str, Canary], scenarios: Sequence[BenchScenario], seeds: int, workers: int
) -> list[Run]:
    work = jobs(specs, scenarios, seeds)
    if workers <= 1:
        return [run_one(job) for job in work]
    with ProcessPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(run_one, work, chunksize=max(1, len(work) // (workers * 32))))


def sprt_limit(bench: BenchScenario, canary: Canary) -> dict[str, float] | None:
    """Wald's SPRT with the policy's falseRollbackRate, falsePromotionRate and minEffect, looking
    at every request of the scenario's error ratio at a constant canary weight, no overshoot.

    `seconds` is its expected time at the policy's top weight (the fastest the ladder allows);
    `failedRequests` the canary's expected failed requests at its first weight (the fewest). None
    for latency scenarios, which the error-rate test does not judge. Source: Wald (1947),
    `expected_sample_size` in canary/analysis/sequential.py."""
    if bench.kind == "latency":
        return None
    sequential = canary.spec.analysis.sequential
    config = SequentialConfig(
        false_rollback_rate=sequential.false_rollback_rate,
        false_promotion_rate=sequential.false_promotion_rate,
        min_effect=sequential.min_effect,
    )
    strategy = canary.spec.strategy.canary
    ladder = strategy.ladder() if strategy is not None else [50]
    first, top = ladder[0] / 100, min(ladder[-1], 99) / 100
    fast = expected_sample_size(BASELINE_ERROR, top, config, ratio=bench.ratio)
    cheap = expected_sample_size(BASELINE_ERROR, first, config, ratio=bench.ratio)
    canary_rate = BASELINE_ERROR * bench.ratio
    return {
        "topWeight": top,
        "firstWeight": first,
        "failures": fast.failures,
        "seconds": fast.requests / bench.rps,
        "failedRequestsAtTopWeight": fast.canary_requests * canary_rate,
        "secondsAtFirstWeight": cheap.requests / bench.rps,
        "failedRequests": cheap.canary_requests * canary_rate,
        "regressionProbability": fast.regression_probability,
    }


def wilson(successes: int, total: int, z: float = 1.959964) -> tuple[float, float]:
    """Wilson's 95% interval for a proportion (Wilson 1927): (low, high) in [0, 1]."""
    if total == 0:
        return 0.0, 1.0
    p = successes / total
    centre = (p + z * z / (2 * total)) / (1 + z * z / total)
    half = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / (1 + z * z / total)
    return max(0.0, centre - half), min(1.0, centre + half)


def _q(values: Sequence[float], q: float) -> float | None:
    return float(np.quantile(np.array(values, dtype=np.float64), q)) if values else None


def aggregate(
    runs: Sequence[Run], bench: BenchScenario, policy: str, limit: dict[str, float] | None
) -> dict[str, Any]:
    """One (policy, scenario) cell: outcomes, rollback % with its 95% interval, times, failures."""
    mine = [r for r in runs if r.policy == policy and r.scenario == bench.name]
    rolled_back = sum(r.phase == Phase.FAILED for r in mine)
    promoted = sum(r.phase == Phase.SUCCEEDED for r in mine)
    low, high = wilson(rolled_back, len(mine))
    times = [float(r.decision_seconds) for r in mine if r.decision_seconds is not None]
    traffic_times = [float(r.traffic_seconds) for r in mine if r.traffic_seconds is not None]
    failed = [r.failed_requests for r in mine]
    return {
        "policy": policy,
        "scenario": bench.name,
        "kind": bench.kind,
        "bad": bench.bad,
        "ratio": bench.ratio,
        "rps": bench.rps,
        "runs": len(mine),
        "promoted": promoted,
        "rolledBack": rolled_back,
        "undecided": len(mine) - promoted - rolled_back,
        "rollbackPercent": 100 * rolled_back / max(1, len(mine)),
        "rollbackPercentCi95": [100 * low, 100 * high],
        # A bad canary promoted, or still undecided at the horizon, is a missed regression.
        "missed": len(mine) - rolled_back if bench.bad else 0,
        "falseRollbacks": 0 if bench.bad else rolled_back,
        "decisionSecondsMedian": _q(times, 0.5),
        "decisionSecondsP95": _q(times, 0.95),
        "trafficSecondsMedian": _q(traffic_times, 0.5),
        "failedRequestsMedian": _q(failed, 0.5),
        "failedRequestsP95": _q(failed, 0.95),
        "failedBeforeDecisionMedian": _q([float(r.failed_before_decision) for r in mine], 0.5),
        "limit": limit,
    }


def cells_of(
    runs: Sequence[Run], scenarios: Sequence[BenchScenario], specs: dict[str, Canary]
) -> list[dict[str, Any]]:
    """Every cell, each with its ratios to Flagger's cell and to the SPRT limit."""
    cells = []
    for bench in scenarios:
        limit = sprt_limit(bench, specs[DEFAULT])
        for policy in specs:
            cells.append(aggregate(runs, bench, policy, limit))
    for cell in cells:
        flagger = find(cells, FLAGGER, cell["scenario"])
        limit = cell["limit"]
        cell["vsFlagger"] = {
            "time": ratio(cell["decisionSecondsMedian"], flagger["decisionSecondsMedian"]),
            "failedMedian": ratio(cell["failedRequestsMedian"], flagger["failedRequestsMedian"]),
            "failedP95": ratio(cell["failedRequestsP95"], flagger["failedRequestsP95"]),
        }
        cell["vsLimit"] = {
            # The limit looks at every request from the first one: compare the time since the
            # canary's first user traffic (its readiness is no part of the statistics).
            "time": ratio(cell["trafficSecondsMedian"], limit["seconds"]) if limit else None,
            "failedMedian": ratio(cell["failedRequestsMedian"], limit["failedRequests"])
            if limit
            else None,
        }
    return cells


def find(cells: Sequence[dict[str, Any]], policy: str, scenario: str) -> dict[str, Any]:
    return next(c for c in cells if c["policy"] == policy and c["scenario"] == scenario)


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or denominator is None:
        return None
    if denominator == 0:
        return math.inf if numerator > 0 else 1.0
    return numerator / denominator


def targets(cells: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The issue's targets for the documented default at 100 req/s, each with its numbers."""
    ours = [c for c in cells if c["policy"] == DEFAULT and c["rps"] == RPS]
    healthy = [c for c in ours if not c["bad"]]
    big = [c for c in ours if c["bad"] and c["ratio"] >= 2]
    errors5 = [c for c in ours if c["kind"] == "error" and c["ratio"] >= 5]
    timed = [c for c in ours if c["vsLimit"]["time"] is not None]

    def listing(items: Sequence[dict[str, Any]], key: str, fmt: str) -> str:
        return ", ".join(f"{c['scenario']} {format(c[key], fmt)}" for c in items)

    rows = [
        {
            "target": "false rollbacks <= 1% on every healthy scenario",
            "measured": listing(healthy, "rollbackPercent", ".1f") + " (%)",
            "met": all(c["rollbackPercent"] <= 1 for c in healthy),
        },
        {
            "target": "missed regressions <= 1% at 2x and above",
            "measured": ", ".join(
                f"{c['scenario']} {100 * c['missed'] / max(1, c['runs']):.1f}" for c in big
            )
            + " (%)",
            "met": all(c["missed"] <= 0.01 * c["runs"] for c in big),
        },
        {
            "target": "time to decide <= 1.5x the SPRT's expected time",
            "measured": ", ".join(f"{c['scenario']} {times(c['vsLimit']['time'])}" for c in timed),
            "met": all(c["vsLimit"]["time"] <= 1.5 for c in timed),
        },
        {
            "target": "failed requests at 5x and above <= 1/10 of Flagger's (median)",
            "measured": ", ".join(
                f"{c['scenario']} {times(c['vsFlagger']['failedMedian'])}" for c in errors5
            ),
            "met": all((c["vsFlagger"]["failedMedian"] or math.inf) <= 0.1 for c in errors5),
        },
        {
            "target": "healthy promotion in <= 1/2 of Flagger's time",
            "measured": ", ".join(
                f"{c['scenario']} {times(c['vsFlagger']['time'])}" for c in healthy
            ),
            "met": all((c["vsFlagger"]["time"] or math.inf) <= 0.5 for c in healthy),
        },
    ]
    return rows


def machine() -> dict[str, Any]:
    """Commit and machine of the run, for the header."""
    try:
        commit = subprocess.run(
            ["git", "-C", str(ROOT), "describe", "--always", "--dirty"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        ).stdout.strip()
    except OSError:
        commit = ""
    cpu = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "commit": commit or "unknown",
        "cores": os.cpu_count() or 1,
        "cpu": cpu or "unknown",
        "python": platform.python_version(),
    }


def header(meta: dict[str, Any]) -> str:
    return (
        f"bench/decisions · commit {meta['commit']} · {meta['cores']} cores, {meta['cpu']} · "
        f"observation: {meta['observe']} · {meta['seeds']} seeds a cell (rollback % 95% CI "
        f"half-width up to {meta['ciHalfWidth']:.1f} points; 0 of {meta['seeds']} gives "
        f"<= {meta['zeroUpper']:.1f}%) · {meta['rps']:g} req/s, primary "
        f"{100 * meta['baselineErrorRate']:g}% errors · policy {meta['policy']}"
    )


COLUMNS = (
    "scenario",
    "policy",
    "rolled back %",
    "missed",
    "time p50",
    "time p95",
    "failed p50",
    "failed p95",
    "time/Flagger",
    "failed/Flagger",
    "limit time",
    "limit failed",
    "time/limit",
    "failed/limit",
)


def row(cell: dict[str, Any]) -> list[str]:
    limit = cell["limit"]
    low, high = cell["rollbackPercentCi95"]
    ours = cell["policy"] == DEFAULT
    return [
        cell["scenario"],
        cell["policy"],
        f"{cell['rollbackPercent']:.1f} [{low:.1f}-{high:.1f}]",
        f"{cell['missed']}" if cell["bad"] else "",
        seconds(cell["decisionSecondsMedian"]),
        seconds(cell["decisionSecondsP95"]),
        number(cell["failedRequestsMedian"]),
        number(cell["failedRequestsP95"]),
        times(cell["vsFlagger"]["time"]) if ours else "",
        times(cell["vsFlagger"]["failedMedian"]) if ours else "",
        seconds(limit["seconds"]) if limit and ours else "",
        number(limit["failedRequests"]) if limit and ours else "",
        times(cell["vsLimit"]["time"]) if ours else "",
        times(cell["vsLimit"]["failedMedian"]) if ours else "",
    ]


def seconds(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.0f}s" if value < 600 else f"{value / 60:.1f}m"


def number(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}" if value >= 10 else f"{value:.1f}"


def times(value: float | None) -> str:
    if value is None:
        return "-"
    if math.isinf(value):
        return "inf"
    return f"{value:.3f}" if value < 0.1 else f"{value:.2f}"


def print_tables(
    cells: Sequence[dict[str, Any]], goals: Sequence[dict[str, Any]], title: str
) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(width=220)
    table = Table(title=title, title_justify="left")
    for column in COLUMNS:
        table.add_column(column, justify="left" if column in ("scenario", "policy") else "right")
    for cell in cells:
        table.add_row(*row(cell), end_section=cell["policy"] == FLAGGER)
    console.print(table)
    goal_table = Table(
        title="Targets for the documented default at 100 req/s", title_justify="left"
    )
    for column in ("target", "measured", "met"):
        goal_table.add_column(column)
    for goal in goals:
        goal_table.add_row(goal["target"], goal["measured"], "yes" if goal["met"] else "NO")
    console.print(goal_table)


def markdown(cells: Sequence[dict[str, Any]], goals: Sequence[dict[str, Any]], title: str) -> str:
    """The same tables in Markdown, for docs/internals/benchmarks.md and the README."""
    lines = [title, "", "| " + " | ".join(COLUMNS) + " |", "|---|---|" + "---:|" * 12]
    lines += ["| " + " | ".join(row(cell)) + " |" for cell in cells]
    lines += ["", "| target | measured | met |", "|---|---|---|"]
    lines += [
        f"| {g['target']} | {g['measured']} | {'yes' if g['met'] else '**no**'} |" for g in goals
    ]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.decisions",
        description=f"{__doc__} Every policy sees the same seeds for a scenario: identical traffic.",
    )
    parser.add_argument(
        "--seeds",
        type=int,
        default=None,
        help=f"seeds per scenario and policy (default {DEFAULT_SEEDS}, {QUICK_SEEDS} with --quick)",
    )
    parser.add_argument("--jobs", type=int, default=None, help="processes (default: CPU count)")
    parser.add_argument("--quick", action="store_true", help="a smoke run: few seeds")
    parser.add_argument(
        "--observe",
        choices=OBSERVE_MODES,
        default="prometheus",
        help="measure through the simulated Prometheus (when the simulator has it) or exactly",
    )
    parser.add_argument(
        "--policy",
        type=Path,
        default=DEFAULT_POLICY,
        help="the Canary file to benchmark (default: the documented default, examples/my-app.yaml)",
    )
    parser.add_argument(
        "--only", default="", help="comma-separated scenario names: run these only (default: all)"
    )
    parser.add_argument("--out", type=Path, default=Path("bench/out"))
    args = parser.parse_args(argv)
    only = {name for name in args.only.split(",") if name}
    unknown = only - {bench.name for bench in suite()}
    if unknown:
        parser.error(f"unknown scenario(s): {', '.join(sorted(unknown))}")
    seeds = args.seeds or (QUICK_SEEDS if args.quick else DEFAULT_SEEDS)
    workers = args.jobs or os.cpu_count() or 1
    specs = policies(args.policy)
    scenarios, modes = [], set()
    for bench in suite():
        if only and bench.name not in only:
            continue
        seen, mode = observed(bench, args.observe)
        scenarios.append(seen)
        modes.add(mode)
    low, high = wilson(seeds // 2, seeds)
    meta = {
        **machine(),
        "command": " ".join(
            ["python -m bench.decisions", *(argv if argv is not None else sys.argv[1:])]
        ),
        "observe": "/".join(sorted(modes)),
        "observeRequested": args.observe,
        "policy": str(args.policy.resolve().relative_to(ROOT))
        if args.policy.resolve().is_relative_to(ROOT)
        else str(args.policy),
        "seeds": seeds,
        "seedRange": [SEED_BASE, SEED_BASE + seeds - 1],
        "ciHalfWidth": 100 * (high - low) / 2,
        "zeroUpper": 100 * wilson(0, seeds)[1],
        "rps": RPS,
        "baselineErrorRate": BASELINE_ERROR,
        "horizon": HORIZON,
        "jobs": workers,
    }
    started = time.monotonic()
    runs = run_all(specs, scenarios, seeds, workers)
    meta["seconds"] = round(time.monotonic() - started, 1)
    meta["simulations"] = len(runs)
    cells = cells_of(runs, scenarios, specs)
    goals = targets(cells)
    title = header(meta)
    print_tables(cells, goals, title)
    args.out.mkdir(parents=True, exist_ok=True)
    body = {
        "meta": meta,
        "policies": {
            name: canary.spec.model_dump(mode="json", by_alias=True, exclude_none=True)
            for name, canary in specs.items()
        },
        "scenarios": [
            {
                "name": b.name,
                "kind": b.kind,
                "bad": b.bad,
                "ratio": b.ratio,
                "rps": b.rps,
                "description": b.scenario.description,
            }
            for b in scenarios
        ],
        "cells": cells,
        "targets": goals,
    }
    (args.out / "decisions.json").write_text(json.dumps(finite(body), indent=2, allow_nan=False))
    (args.out / "decisions.md").write_text(markdown(cells, goals, title))
    print(
        f"{len(runs)} simulations in {meta['seconds']}s on {workers} processes; "
        f"wrote {args.out / 'decisions.json'} and {args.out / 'decisions.md'}"
    )
    return 0


def finite(value: Any) -> Any:
    """JSON has no NaN or infinity: they become null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [finite(item) for item in value]
    return value


if __name__ == "__main__":
    raise SystemExit(main())
