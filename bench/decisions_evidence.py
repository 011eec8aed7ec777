"""How long promotion on evidence makes a healthy canary wait: the SPRT on counts, by traffic and error rate."""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from canary.analysis.sequential import SequentialConfig, first_crossing, llr_increments

INTERVAL = 10
"""Seconds between decisions, as in the documented default."""
LADDER = ((0.10, 30), (0.25, 30))
"""The default's first steps (weight, seconds); the last weight lasts until a decision."""
FINAL_WEIGHT = 0.5
RPS = (2.0, 10.0, 100.0, 1000.0)
BASELINES = (0.001, 0.005, 0.01)
BETAS = (0.05, 0.01, 0.002)
TIMEOUTS = (600, 1800, 3600)
"""evidenceTimeout candidates, seconds from the canary's first traffic."""
HORIZON = 4 * 3600


def weights(horizon: int = HORIZON) -> np.ndarray:
    """The canary's weight in each 10 s interval of the default's ladder."""
    per = [w for w, seconds in LADDER for _ in range(seconds // INTERVAL)]
    return np.array(per + [FINAL_WEIGHT] * (horizon // INTERVAL - len(per)), dtype=np.float64)


def simulate(
    rps: float, baseline: float, ratio: float, config: SequentialConfig, runs: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Per run: seconds to the SPRT's decision (inf when none within HORIZON) and its side
    (+1 regression, -1 no regression, 0 none). Counts are Poisson per 10 s interval; the LLR is
    the engine's own (`llr_increments`, `first_crossing`)."""
    rng = np.random.default_rng(seed)
    w = weights()
    n_c = rng.poisson(rps * INTERVAL * w, size=(runs, w.size)).astype(np.float64)
    n_p = rng.poisson(rps * INTERVAL * (1 - w), size=(runs, w.size)).astype(np.float64)
    f_c = rng.binomial(n_c.astype(np.int64), min(1.0, baseline * ratio)).astype(np.float64)
    f_p = rng.binomial(n_p.astype(np.int64), baseline).astype(np.float64)
    llr = np.cumsum(llr_increments(n_c, f_c, n_p, f_p, config), axis=-1)
    index, side = first_crossing(llr, config)
    seconds = np.where(side != 0, (index + 1) * INTERVAL, np.inf)
    return seconds, side


def table(runs: int = 2000, seed: int = 7) -> list[dict[str, Any]]:
    """One row per (requests/s, baseline error rate, falsePromotionRate)."""
    rows = []
    for beta in BETAS:
        config = SequentialConfig(false_rollback_rate=0.01, false_promotion_rate=beta, min_effect=2)
        for baseline in BASELINES:
            for rps in RPS:
                healthy_t, healthy_side = simulate(rps, baseline, 1.0, config, runs, seed)
                bad_t, bad_side = simulate(rps, baseline, 2.0, config, runs, seed + 1)
                cleared = healthy_side < 0
                row: dict[str, Any] = {
                    "falsePromotionRate": beta,
                    "baselineErrorRate": baseline,
                    "rps": rps,
                    "healthyWaitP50": _quantile(healthy_t, cleared, 0.5),
                    "healthyWaitP95": _quantile(healthy_t, cleared, 0.95),
                    "falseRollback": float(np.mean(healthy_side > 0)),
                }
                for timeout in TIMEOUTS:
                    # With onEvidenceTimeout: promote, a 2x regression not yet caught at the
                    # timeout is promoted; with fail, a healthy canary not yet cleared fails.
                    row[f"healthyClearedBy{timeout}s"] = float(
                        np.mean(cleared & (healthy_t <= timeout))
                    )
                    caught = (bad_side > 0) & (bad_t <= timeout)
                    row[f"regression2xPromotedAt{timeout}s"] = float(np.mean(~caught))
                rows.append(row)
    return rows


def _quantile(seconds: np.ndarray, mask: np.ndarray, q: float) -> float | None:
    """A quantile of the time to "no regression", counting runs that never got there as infinite."""
    values = np.where(mask, seconds, np.inf)
    value = float(np.quantile(values, q, method="higher"))
    return None if not np.isfinite(value) else value


def markdown(rows: Sequence[dict[str, Any]]) -> str:
    """The trade-off as a Markdown table: waits in minutes, shares in percent."""
    head = (
        "| falsePromotionRate | primary errors | req/s | healthy wait p50 | p95 "
        + "".join(f"| cleared by {t // 60} min " for t in TIMEOUTS)
        + "".join(f"| 2x promoted at {t // 60} min " for t in TIMEOUTS)
        + "|"
    )
    lines = [head, "|" + "---:|" * (5 + 2 * len(TIMEOUTS))]
    for r in rows:
        cells = [
            f"{r['falsePromotionRate']:g}",
            f"{100 * r['baselineErrorRate']:g}%",
            f"{r['rps']:g}",
            _minutes(r["healthyWaitP50"]),
            _minutes(r["healthyWaitP95"]),
            *(f"{100 * r[f'healthyClearedBy{t}s']:.0f}%" for t in TIMEOUTS),
            *(f"{100 * r[f'regression2xPromotedAt{t}s']:.1f}%" for t in TIMEOUTS),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _minutes(seconds: float | None) -> str:
    return f"> {HORIZON // 3600} h" if seconds is None else f"{seconds / 60:.1f}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.decisions_evidence", description=__doc__)
    parser.add_argument("--runs", type=int, default=2000)
    parser.add_argument("--out", type=Path, default=Path("bench/out"))
    args = parser.parse_args(argv)
    rows = table(args.runs)
    text = markdown(rows)
    print(text)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "evidence.json").write_text(json.dumps(rows, indent=2))
    (args.out / "evidence.md").write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
