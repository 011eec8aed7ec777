"""The sequential test's guard by look cadence: false rollbacks and the failures a bad canary serves.

A direct Monte Carlo over the statistic the engine keeps (canary.analysis.sequential's grid of
LLRs and its mixture), not the simulator: seeded, vectorised, seconds to run. Each run is half an
hour of Poisson traffic at RPS requests per second and BASELINE errors on the primary, the
canary's share stepping 20, 40, 60, 80% every minute (stepWeight 20, interval 1m); the test looks
every `cadence` seconds.

    python -m bench.guard [--runs 2000] [--seed 1]
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

import numpy as np

from canary.analysis.sequential import SequentialConfig, grid_llr_increments, mixture_llr

RPS = 50.0
BASELINE = 0.001
"""The primary's error rate (examples/scenarios: 0.1%)."""
HORIZON = 1800
STEP_SECONDS = 60
CADENCES = (10, 30, 60)
RATIOS = (1.0, 2.0, 50.0, 200.0)


def runs_at(
    ratio: float, cadence: int, runs: int, rng: np.random.Generator, config: SequentialConfig
) -> tuple[np.ndarray, np.ndarray]:
    """(rolled back, canary failures served until the decision or the horizon) per run."""
    windows = HORIZON // cadence
    start = np.arange(windows) * cadence
    share = np.minimum(0.2 * (1 + start // STEP_SECONDS), 0.8)
    requests = rng.poisson(RPS * cadence, size=(runs, windows))
    canary_requests = rng.binomial(requests, share)
    primary_requests = requests - canary_requests
    canary_failures = rng.binomial(canary_requests, min(1.0, BASELINE * ratio))
    primary_failures = rng.binomial(primary_requests, BASELINE)
    grid = np.cumsum(
        grid_llr_increments(
            canary_requests, canary_failures, primary_requests, primary_failures, config
        ),
        axis=1,
    )
    # The "no regression" side does not stop the guard: only a rollback ends the run here.
    above = mixture_llr(grid, config) >= config.upper_bound
    rolled = above.any(axis=1)
    stop = np.where(rolled, above.argmax(axis=1), windows - 1)
    served = np.take_along_axis(np.cumsum(canary_failures, axis=1), stop[:, None], axis=1)[:, 0]
    return rolled, served


def table(runs: int, seed: int) -> list[str]:
    config = SequentialConfig()
    rng = np.random.default_rng(seed)
    lines = [
        f"guard: {runs} runs per cell, {RPS:g} rps, primary errors {BASELINE:.1%}, "
        f"alpha {config.false_rollback_rate}, min effect {config.min_effect:g}",
        "| look every | false rollbacks (r=1) | rolled back at r=2 | canary failures served "
        "before the rollback at r=50 / r=200 (mean) |",
        "|---|---|---|---|",
    ]
    for cadence in CADENCES:
        cells: dict[float, tuple[np.ndarray, np.ndarray]] = {
            ratio: runs_at(ratio, cadence, runs, rng, config) for ratio in RATIOS
        }
        served = " / ".join(f"{cells[r][1][cells[r][0]].mean():.0f}" for r in (50.0, 200.0))
        lines.append(
            f"| {cadence}s | {cells[1.0][0].mean():.2%} | {cells[2.0][0].mean():.1%} | {served} |"
        )
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.guard", description=__doc__)
    parser.add_argument("--runs", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    print("\n".join(table(args.runs, args.seed)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
