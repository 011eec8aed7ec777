"""Prints a simulated rollout as a timeline table, or as one JSON document."""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console
from rich.table import Table

from canary.analysis.results import CheckResult, format_number
from canary.api.common import format_duration
from canary.sim.simulator import Outcome, Tick

_VERDICT_STYLE = {"Pass": "green", "Fail": "red", "Hold": "yellow", "NoData": "yellow"}


def to_json(outcome: Outcome) -> dict[str, Any]:
    """The outcome as the documented JSON object of `canary simulate --json`."""
    return {
        "scenario": outcome.scenario,
        "seed": outcome.seed,
        "phase": outcome.phase.value,
        "decisionSeconds": outcome.decision_seconds,
        "canaryRequests": outcome.canary_requests,
        "canaryFailedRequests": outcome.canary_failed_requests,
        "userRequests": outcome.user_requests,
        "history": [_tick_json(tick) for tick in outcome.ticks],
    }


def _tick_json(tick: Tick) -> dict[str, Any]:
    return {
        "seconds": tick.seconds,
        "phase": tick.phase.value,
        "primaryWeight": tick.primary_weight,
        "canaryWeight": tick.canary_weight,
        "mirrorWeight": tick.mirror_weight,
        "verdict": tick.verdict,
        "reason": tick.reason,
        "metrics": [metric.to_dict() for metric in tick.metrics],
    }


def print_json(outcome: Outcome, console: Console) -> None:
    console.print_json(json.dumps(to_json(outcome)))


def print_timeline(outcome: Outcome, console: Console, title: str) -> None:
    table = Table(title=title, title_justify="left", expand=False, show_lines=False)
    for column, justify in (
        ("time", "right"),
        ("phase", "left"),
        ("weights", "right"),
        ("verdict", "left"),
        ("metrics", "left"),
        ("reason", "left"),
    ):
        table.add_column(column, justify=justify, overflow="fold")  # type: ignore[arg-type]
    for tick in outcome.ticks:
        style = _VERDICT_STYLE.get(tick.verdict, "")
        table.add_row(
            _clock(tick.seconds),
            tick.phase.value,
            _weights(tick),
            f"[{style}]{tick.verdict}[/]" if style else tick.verdict,
            _metrics(tick.metrics),
            tick.reason,
        )
    console.print(table)
    console.print(_summary(outcome))


def _clock(seconds: int) -> str:
    minutes, secs = divmod(seconds, 60)
    return f"{minutes}:{secs:02d}"


def _weights(tick: Tick) -> str:
    text = f"{tick.primary_weight}/{tick.canary_weight}"
    return f"{text} +mirror {tick.mirror_weight}%" if tick.mirror_weight else text


def _metrics(results: list[CheckResult]) -> str:
    parts = []
    for result in results:
        value = "-" if result.value is None else format_number(result.value)
        parts.append(f"{result.name}={value} {result.verdict.value}")
    return ", ".join(parts)


def _summary(outcome: Outcome) -> str:
    took = (
        "did not finish"
        if outcome.decision_seconds is None
        else f"after {format_duration(outcome.decision_seconds)}"
    )
    return (
        f"{outcome.phase.value} {took}; the canary served {outcome.canary_requests} of "
        f"{outcome.user_requests} user requests, {outcome.canary_failed_requests} of them failed."
    )
