"""What `get` and `list` show: a rollout at a glance, drawn with rich from plain JSON.

Pure: everything is drawn from a Snapshot and a given "now", so golden-text tests can pin the
output. The Canary is read as the API server returns it (a dict), not through the pydantic
models, which would double the start-up time of `kubectl canary get`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from canary.operate.api import Api
from canary.operate.steps import progress

JSON = dict[str, Any]
ICONS = {
    "Initializing": ("◌", "cyan"),
    "Initialized": ("●", "green"),
    "Waiting": ("⏸", "yellow"),
    "Progressing": ("▶", "cyan"),
    "Paused": ("⏸", "yellow"),
    "WaitingPromotion": ("⏸", "yellow"),
    "Promoting": ("⇡", "cyan"),
    "Finalising": ("⇡", "cyan"),
    "Succeeded": ("✔", "green"),
    "Failed": ("✘", "red"),
    "Aborted": ("⊘", "red"),
    "Terminating": ("◌", "dim"),
    "Terminated": ("◌", "dim"),
}
VERDICT_STYLES = {"Pass": "green", "Fail": "red", "NoData": "yellow", "Hold": "yellow"}
BAR_WIDTH = 20
HISTORY_ROWS = 8
EVENT_ROWS = 6
ENDED = frozenset({"Succeeded", "Failed", "Aborted", "Initialized", "Terminated"})


@dataclass
class Snapshot:
    """One Canary and what the view shows around it (None when missing or unreadable)."""

    canary: JSON
    primary: JSON | None = None
    target: JSON | None = None
    events: list[JSON] = field(default_factory=list)


def fetch(api: Api, name: str) -> Snapshot:
    """The Canary `name` in the API's namespace, its two Deployments and its Events."""
    canary = api.get_canary(name)
    namespace = canary["metadata"].get("namespace", api.namespace)
    target = canary.get("spec", {}).get("targetRef", {}).get("name", name)
    deployments = f"/apis/apps/v1/namespaces/{namespace}/deployments"
    selector = f"involvedObject.name={name},involvedObject.kind=Canary"
    events = api.get_optional(
        f"/api/v1/namespaces/{namespace}/events", query={"fieldSelector": selector}
    )
    return Snapshot(
        canary=canary,
        primary=api.get_optional(f"{deployments}/{target}-primary"),
        target=api.get_optional(f"{deployments}/{target}"),
        events=list((events or {}).get("items") or []),
    )


def parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def age(then: str | None, now: datetime) -> str:
    """Elapsed time as kubectl prints it: 45s, 12m, 3h4m, 2d5h."""
    moment = parse_time(then)
    if moment is None:
        return "-"
    seconds = max(0, int((now - moment).total_seconds()))
    if seconds < 120:
        return f"{seconds}s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes}m"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours}h{minutes}m" if minutes and hours < 6 else f"{hours}h"
    days, hours = divmod(hours, 24)
    return f"{days}d{hours}h" if hours and days < 7 else f"{days}d"


def phase_text(phase: str | None) -> Text:
    icon, style = ICONS.get(phase or "", ("?", "dim"))
    return Text(f"{icon} {phase or 'Unknown'}", style=style)


def number(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def weight_bar(canary_weight: int) -> Text:
    """primary ████░░ canary: the primary's share solid, the canary's shaded."""
    filled = round(BAR_WIDTH * (100 - canary_weight) / 100)
    bar = Text("█" * filled, style="blue")
    bar.append("░" * (BAR_WIDTH - filled), style="magenta")
    return bar


def strategy_name(spec: JSON) -> str:
    strategy = spec.get("strategy") or {}
    if strategy.get("blueGreen") is not None:
        return "blueGreen"
    if strategy.get("abTesting") is not None:
        return "abTesting"
    return "canary"


def failed_checks(canary: JSON) -> str:
    threshold = (canary.get("spec", {}).get("analysis") or {}).get("threshold", 5)
    return f"{canary.get('status', {}).get('failedChecks', 0)}/{threshold}"


def pending_request(canary: JSON) -> str | None:
    """The request in the annotation that the controller has not answered yet."""
    value = ((canary.get("metadata") or {}).get("annotations") or {}).get("canary.dev/request", "")
    value = value.strip()
    status = canary.get("status") or {}
    return value if value and value != status.get("handledRequest") else None


def detail(snapshot: Snapshot, now: datetime) -> RenderableType:
    """The `get NAME` view."""
    canary = snapshot.canary
    meta, spec, status = canary["metadata"], canary.get("spec", {}), canary.get("status") or {}
    weight = int(status.get("canaryWeight", 0))
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    title = Text.assemble(
        (meta["name"], "bold"),
        f"  ({meta.get('namespace', '')})  ",
        phase_text(status.get("phase")),
        f"  {strategy_name(spec)}  {progress(spec, status)}",
        f"  age {age(meta.get('creationTimestamp'), now)}",
    )
    grid.add_row("weights", _weights(weight, int(status.get("mirrorWeight", 0))))
    grid.add_row("checks", f"failed {failed_checks(canary)}")
    grid.add_row("metrics", _metrics(status.get("metrics") or []))
    grid.add_row("pods", _pods(snapshot))
    grid.add_row("request", _request(canary, now))
    grid.add_row("message", Text(status.get("message", "") or "-"))
    parts: list[RenderableType] = [title, grid]
    history = status.get("history") or []
    if history:
        parts += [Text("history", style="bold"), _history(history[-HISTORY_ROWS:], now)]
    if snapshot.events:
        parts += [Text("events", style="bold"), _events(snapshot.events, now)]
    return Group(*parts)


def _weights(weight: int, mirror: int) -> Text:
    text = Text(f"primary {100 - weight:>3}% ")
    text.append_text(weight_bar(weight))
    text.append(f" canary {weight}%")
    if mirror:
        text.append(f"   mirror {mirror}%", style="magenta")
    return text


def _metrics(metrics: list[JSON]) -> RenderableType:
    if not metrics:
        return Text("-")
    table = Table.grid(padding=(0, 2))
    for metric in metrics:
        verdict = str(metric.get("verdict", ""))
        value = number(metric.get("value"))
        if metric.get("primaryValue") is not None:
            value += f" (primary {number(metric.get('primaryValue'))})"
        against = metric.get("threshold") or _evidence(metric.get("evidence") or {})
        table.add_row(
            str(metric.get("name", "")),
            value,
            str(against),
            Text(verdict, style=VERDICT_STYLES.get(verdict, "")),
        )
    return table


def _evidence(evidence: JSON) -> str:
    """The judge's evidence in one line: its scalar fields, rounded."""
    shown = [
        f"{key}={number(value)}"
        for key, value in evidence.items()
        if isinstance(value, int | float | str) and not isinstance(value, bool)
    ]
    return " ".join(shown[:6]) or "-"


def _pods(snapshot: Snapshot) -> RenderableType:
    table = Table.grid(padding=(0, 2))
    for label, deployment in (("primary", snapshot.primary), ("canary", snapshot.target)):
        if deployment is None:
            table.add_row(label, "-", "not found")
            continue
        containers = deployment.get("spec", {}).get("template", {}).get("spec", {})
        images = ", ".join(c.get("image", "?") for c in containers.get("containers") or [])
        ready = (deployment.get("status") or {}).get("readyReplicas", 0)
        wanted = deployment.get("spec", {}).get("replicas", 1)
        table.add_row(label, images, f"{ready}/{wanted} ready")
    return table


def _request(canary: JSON, now: datetime) -> Text:
    lines: list[Text] = []
    pending = pending_request(canary)
    if pending:
        lines.append(Text(f"{pending} waiting for the controller", style="yellow"))
    last = (canary.get("status") or {}).get("lastRequest")
    if last:
        accepted = last.get("outcome") == "Accepted"
        line = Text(f"last {last.get('id')}: ")
        line.append(str(last.get("outcome")), style="green" if accepted else "red")
        line.append(f" ({last.get('reason', '')}) {age(last.get('time'), now)} ago")
        lines.append(line)
    return Text("\n").join(lines) if lines else Text("-")


def _history(history: list[JSON], now: datetime) -> Table:
    table = Table(box=None, padding=(0, 2, 0, 0), show_edge=False, pad_edge=False)
    for column in ("AGE", "PHASE", "WEIGHT", "VERDICT", "REASON"):
        table.add_column(column, no_wrap=column != "REASON", style="dim" if column == "AGE" else "")
    for entry in history:  # oldest first, as the Events below, so the latest is nearest
        verdict = str(entry.get("verdict", ""))
        table.add_row(
            age(entry.get("time"), now),
            str(entry.get("phase", "")),
            f"{entry.get('canaryWeight', 0)}%",
            Text(verdict, style=VERDICT_STYLES.get(verdict, "")),
            str(entry.get("reason", "")),
        )
    return table


def _events(events: list[JSON], now: datetime) -> Table:
    def when(event: JSON) -> str:
        return str(event.get("lastTimestamp") or event.get("eventTime") or "")

    table = Table(box=None, padding=(0, 2, 0, 0), show_edge=False, pad_edge=False)
    for column in ("AGE", "TYPE", "REASON", "MESSAGE"):
        table.add_column(
            column, no_wrap=column != "MESSAGE", style="dim" if column == "AGE" else ""
        )
    for event in sorted(events, key=when)[-EVENT_ROWS:]:
        count = event.get("count") or 1
        kind = str(event.get("type", ""))
        table.add_row(
            age(when(event) or None, now) + (f" (x{count})" if count > 1 else ""),
            Text(kind, style="yellow" if kind == "Warning" else ""),
            str(event.get("reason", "")),
            str(event.get("message", "")),
        )
    return table


def table(canaries: list[JSON], now: datetime, *, wide: bool) -> Table:
    """The `list` table (and `get -o wide`): one row per Canary."""
    columns = ["NAMESPACE", "NAME", "PHASE", "WEIGHT", "FAILED", "AGE"]
    if wide:
        columns += ["STRATEGY", "PROGRESS", "MIRROR", "REQUEST", "MESSAGE"]
    rows: list[list[RenderableType]] = []
    for canary in canaries:
        meta, status = canary["metadata"], canary.get("status") or {}
        row: list[RenderableType] = [
            meta.get("namespace", ""),
            meta["name"],
            phase_text(status.get("phase")),
            f"{status.get('canaryWeight', 0)}%",
            failed_checks(canary),
            age(meta.get("creationTimestamp"), now),
        ]
        if wide:
            last = status.get("lastRequest") or {}
            request = pending_request(canary) or (
                f"{last.get('id')} {last.get('outcome')}" if last else "-"
            )
            row += [
                strategy_name(canary.get("spec", {})),
                progress(canary.get("spec", {}), status),
                f"{status.get('mirrorWeight', 0)}%",
                request,
                status.get("message", ""),
            ]
        rows.append(row)
    grid = Table(
        box=None, padding=(0, 3, 0, 0), show_edge=False, pad_edge=False, header_style="bold"
    )
    for index, column in enumerate(columns):
        # Every column but the message keeps its full width, as kubectl's do.
        widest = max([len(column)] + [_width(row[index]) for row in rows])
        grid.add_column(column, no_wrap=True, min_width=None if column == "MESSAGE" else widest)
    for row in rows:
        grid.add_row(*row)
    return grid


def _width(cell: RenderableType) -> int:
    return len(cell.plain) if isinstance(cell, Text) else len(str(cell))


def now_utc() -> datetime:
    return datetime.now(UTC)
