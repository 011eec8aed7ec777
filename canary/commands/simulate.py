"""`canary simulate`: runs a Canary's rollout on a virtual clock against a synthetic scenario."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rich.console import Console

from canary import flagtypes
from canary.api.canary import Canary
from canary.api.common import format_duration, parse_duration
from canary.api.loading import InvalidObject, load_canary
from canary.sim.report import print_json, print_timeline
from canary.sim.scenario import Scenario, load_scenario
from canary.sim.simulator import simulate

EXIT_INVALID = 2
MAX_ANALYSES = 100_000
"""Most analysis intervals in one simulation (its wall time grows with them)."""


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "simulate",
        help="simulate a rollout on a virtual clock (no cluster needed)",
        description=(
            "Runs the real rollout engine against synthetic traffic and prints every step. "
            f"Exit 0 when it ran, 2 on invalid input. Limits: a scenario lasts at most 7 days and "
            f"at most {MAX_ANALYSES:,} analysis intervals."
        ),
    )
    parser.add_argument("canary", type=Path, metavar="CANARY.yaml")
    parser.add_argument("--scenario", type=Path, required=True, metavar="SCENARIO.yaml")
    parser.add_argument(
        "--seed", type=flagtypes.seed, default=1, help="random seed of the traffic (default 1)"
    )
    parser.add_argument(
        "--json", action="store_true", help="print one JSON object instead of a timeline"
    )
    parser.add_argument(
        "--exact",
        action="store_true",
        help=(
            "measure exact per-second counts instead of modelling Prometheus (scrapes, rate() "
            "extrapolation, histogram buckets); same as `prometheus: {exact: true}`"
        ),
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    try:
        canary = load_canary(args.canary)
        scenario = load_scenario(args.scenario)
        if args.exact:
            scenario = exact(scenario)
        check_size(canary, scenario, str(args.scenario))
    except InvalidObject as error:
        for problem in error.problems:
            print(f"{error.source}: invalid: {problem}", file=sys.stderr)
        return EXIT_INVALID
    outcome = simulate(canary, scenario, seed=args.seed)
    console = Console(width=None if sys.stdout.isatty() else 200)
    if args.json:
        print_json(outcome, console)
    else:
        title = f"canary {canary.metadata.namespace}/{canary.metadata.name} · scenario {scenario.name} · seed {args.seed}"
        print_timeline(outcome, console, title)
    return 0


def exact(scenario: Scenario) -> Scenario:
    """The scenario observed with exact counts instead of through the Prometheus model."""
    model = scenario.prometheus.model_copy(update={"exact": True})
    return scenario.model_copy(update={"prometheus": model})


def check_size(canary: Canary, scenario: Scenario, source: str) -> None:
    """InvalidObject when the simulation would run more than MAX_ANALYSES analysis intervals."""
    analyses = parse_duration(scenario.duration) / canary.spec.analysis.interval_seconds
    if analyses > MAX_ANALYSES:
        interval = format_duration(canary.spec.analysis.interval_seconds)
        raise InvalidObject(
            source,
            [
                f"duration: {scenario.duration} is {analyses:,.0f} analysis intervals of "
                f"{interval}; at most {MAX_ANALYSES:,}"
            ],
        )
