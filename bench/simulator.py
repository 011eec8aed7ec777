"""How fast the simulator runs: simulated time per wall-clock second, printed as a table."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from canary.api.canary import Canary
from canary.api.common import parse_duration
from canary.api.loading import load_canary
from canary.sim.scenario import Scenario
from canary.sim.simulator import simulate

ROOT = Path(__file__).parents[1]


def long_canary(interval: str) -> Canary:
    """The seed Canary plus a templated metric, which has no data in the simulator: the rollout
    holds at its first step and analyses every interval for the whole simulated hour."""
    seed = load_canary(ROOT / "examples/my-app.yaml").to_wire()
    seed["spec"]["analysis"]["interval"] = interval
    seed["spec"]["analysis"]["metrics"].append(
        {"name": "custom", "templateRef": {"name": "custom"}, "thresholdRange": {"max": 1}}
    )
    seed.pop("status", None)
    return Canary.model_validate(seed)


CASES: list[tuple[str, str, dict[str, Any]]] = [
    ("1 h at 50 req/s, 1 min checks", "1m", {"duration": "1h", "traffic": [{"rps": 50}]}),
    ("1 h at 1,000 req/s, 1 min checks", "1m", {"duration": "1h", "traffic": [{"rps": 1000}]}),
    ("1 h at 50 req/s, 10 s checks", "10s", {"duration": "1h", "traffic": [{"rps": 50}]}),
    ("1 h at 50 req/s, 1 s checks", "1s", {"duration": "1h", "traffic": [{"rps": 50}]}),
]


def measure(repeats: int) -> list[tuple[str, float, float, int]]:
    rows = []
    for label, interval, scenario in CASES:
        canary, world = long_canary(interval), Scenario.model_validate(scenario)
        best = float("inf")
        for seed in range(repeats):
            started = time.perf_counter()
            outcome = simulate(canary, world, seed=seed)
            best = min(best, time.perf_counter() - started)
        simulated = outcome.decision_seconds or parse_duration(world.duration)
        rows.append((label, simulated, best, outcome.user_requests))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=3, help="runs per case; the best is shown")
    args = parser.parse_args()
    table = Table(title="canary simulate: one simulated hour")
    for column in ("case", "simulated s", "wall s (best)", "simulated/wall", "user requests"):
        table.add_column(column, justify="left" if column == "case" else "right")
    for label, simulated, wall, requests in measure(args.repeats):
        table.add_row(
            label, f"{simulated:.0f}", f"{wall:.3f}", f"{simulated / wall:,.0f}x", f"{requests:,}"
        )
    Console(width=120).print(table)


if __name__ == "__main__":
    main()
