"""`canary simulate`: runs a Canary's rollout on a virtual clock against a synthetic scenario."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rich.console import Console

from canary.api.loading import InvalidObject, load_canary
from canary.sim.report import print_json, print_timeline
from canary.sim.scenario import load_scenario
from canary.sim.simulator import simulate


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "simulate",
        help="simulate a rollout on a virtual clock (no cluster needed)",
        description="Runs the real rollout engine against synthetic traffic and prints every step.",
    )
    parser.add_argument("canary", type=Path, metavar="CANARY.yaml")
    parser.add_argument("--scenario", type=Path, required=True, metavar="SCENARIO.yaml")
    parser.add_argument(
        "--seed", type=int, default=1, help="random seed of the traffic (default 1)"
    )
    parser.add_argument(
        "--json", action="store_true", help="print one JSON object instead of a timeline"
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    try:
        canary = load_canary(args.canary)
        scenario = load_scenario(args.scenario)
    except (InvalidObject, OSError) as error:
        problems = error.problems if isinstance(error, InvalidObject) else [str(error)]
        for problem in problems:
            print(f"invalid: {problem}", file=sys.stderr)
        return 2
    outcome = simulate(canary, scenario, seed=args.seed)
    console = Console(width=None if sys.stdout.isatty() else 200)
    if args.json:
        print_json(outcome, console)
    else:
        title = f"canary {canary.metadata.namespace}/{canary.metadata.name} · scenario {scenario.name} · seed {args.seed}"
        print_timeline(outcome, console, title)
    return 0
