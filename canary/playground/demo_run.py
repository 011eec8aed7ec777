"""`canary demo` end to end: start the stack, tell the story, then summarise and write the report."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from canary.playground import demo_mesh, demo_summary
from canary.playground.demo import V3, Recorder, Sample, Timings, dump_jsonl, tell
from canary.playground.demo_stack import Stack, StackOptions
from canary.playground.report import write_report

JSON = dict[str, Any]
FAULTY = V3.rsplit(":", 1)[1]


@dataclass
class DemoOptions:
    quick: bool
    workdir: Path
    report: Path | None = None
    metrics: str = "auto"
    api_port: int = 0
    mesh_port: int = 0
    rate: float | None = None
    live: bool = True


def stop_all(load: Any, recorder: Recorder | None, stack: Stack) -> Exception | None:
    """Stop the load, the recorder and the stack, each even if one before it failed; the first
    error (None when every part stopped)."""
    steps = [
        *([load.stop] if load is not None else []),
        *([recorder.stop] if recorder is not None else []),
        stack.stop,
    ]
    first: Exception | None = None
    for step in steps:
        try:
            step()
        except Exception as exc:  # kept, and raised once everything has stopped
            first = first or exc
    return first


def run_demo(options: DemoOptions) -> JSON:
    """Run the demo; the summary (see the module doc of canary.commands.demo for the fields).

    Raises PlaygroundError (set-up), DemoFailed (the story stalled) or KeyboardInterrupt; every
    process is stopped in all cases.
    """
    timings = Timings.of(options.quick)
    rate = options.rate or timings.rate
    # Piped into a file or CI log, rich would wrap at 80 columns: keep the lines whole there.
    console = Console(highlight=False, width=None if sys.stdout.isatty() else 160)

    def say(message: str) -> None:
        if options.live:
            console.print(message)

    stack = Stack(
        StackOptions(
            workdir=options.workdir,
            api_port=options.api_port,
            mesh_port=options.mesh_port,
            metrics=options.metrics,
        )
    )
    started = time.time()
    recorder: Recorder | None = None
    load: Any = None
    try:
        stack.start()
        say(
            f"[bold]playground up[/] in {time.time() - started:.1f} s: API {stack.server.url if stack.server else ''}, "
            f"Envoy {stack.mesh_url}, metrics: {stack.metrics_mode}; kubeconfig {stack.kubeconfig}"
        )
        assert stack.api_client is not None

        shown: list[tuple[str, str, tuple[int, int]]] = []

        def changed(s: Sample) -> None:
            # One line per change of the status (phase, message, weights), printed with the
            # status' own weights: the VirtualService changes a moment before the status does.
            view = (s.phase, s.message, s.status_weights)
            if shown and shown[-1] == view:
                return
            shown.append(view)
            canary, mirror = s.status_weights
            mirrored = f", mirror {mirror} %" if mirror else ""
            say(
                f"  {s.time - started:6.1f} s  [cyan]{s.phase:<12}[/] primary {100 - canary:>3} "
                f"/ canary {canary:>3}{mirrored}  [dim]{s.message}[/]"
            )

        recorder = Recorder(stack.api_client, on_change=changed).start()
        load = demo_mesh.load_generator(stack, rate, options.workdir / "load.jsonl")
        story = tell(stack, timings, recorder, load, lambda m: say(f"[bold]>[/] {m}"))
    except BaseException:
        # What stopped the story (a signal, a crash, a stall) is what the user must see: an
        # error while shutting down is not allowed to replace it.
        stop_all(load, recorder, stack)
        raise
    first = stop_all(load, recorder, stack)
    if first is not None:
        raise first
    user = demo_mesh.user_requests(load)
    served = demo_mesh.served_requests(options.workdir)
    lifecycle = demo_mesh.read_jsonl(options.workdir / "pods.jsonl")
    book = demo_summary.PortBook(lifecycle)
    assert recorder is not None
    weights = [
        {
            "time": s.time,
            "t": s.time - started,
            "phase": s.phase,
            "primary": s.primary_weight,
            "canary": s.canary_weight,
            "mirror": s.mirror,
            "previous_read": s.previous_read,
        }
        for s in recorder.samples
    ]
    dump_jsonl(options.workdir / "weights.jsonl", weights)
    decisions = demo_summary.decisions(recorder.decision_list())
    for d in decisions:
        d["t"] = demo_summary.parse_time(d["time"]) - started if d.get("time") else 0.0
    report_path = options.report or options.workdir / "canary-demo-report.html"
    summary: JSON = {
        "duration_s": round(story.ended - started, 1),
        "quick": options.quick,
        "metrics": stack.metrics_mode,
        "versions": demo_summary.version_counts(user, served, book),
        "requests": demo_summary.request_totals(user, FAULTY)
        | {"skipped": demo_mesh.skipped(load)},
        "decisions": decisions,
        "rollouts": [{"version": v, "final_phase": p} for v, p in story.final_phases.items()],
        "final": story.final,
        "timeline": {
            k: round(getattr(story, k) - started, 2)
            for k in (
                "initialized",
                "load_started",
                "v2_released",
                "v2_done",
                "v3_released",
                "v3_done",
                "ended",
            )
        },
        "report": str(report_path.resolve()),
        "artifacts": {
            "workdir": str(options.workdir.resolve()),
            "access_log": str(demo_mesh.access_log(options.workdir)),
            "upstream_log": str(demo_mesh.upstream_log(options.workdir)),
            "load_log": str(options.workdir / "load.jsonl"),
            "pods_log": str(options.workdir / "pods.jsonl"),
            "weights_log": str(options.workdir / "weights.jsonl"),
            "controller_log": str(options.workdir / "controller.log"),
        },
        "started": started,
    }
    series = demo_summary.per_second(served, book, started)
    write_report(
        report_path,
        title="canary demo: my-app v1 -> v2 (promoted) -> v3 (rolled back)",
        start=started,
        weights=weights,
        series=series,
        decisions=decisions,
        primary="my-app-primary",
        canary="my-app",
    )
    if options.live:
        print_summary(console, summary)
    return summary


def print_summary(console: Console, summary: JSON) -> None:
    """The end-of-demo summary: duration, requests per version, failures, decisions, report."""
    r = summary["requests"]
    console.print(
        f"\n[bold]done in {summary['duration_s']:.0f} s[/]: {r['sent']} user requests, "
        f"{r['failed']} failed ({r['failed_by_faulty_version']} by v3), "
        f"{r['unanswered']} unanswered; metrics: {summary['metrics']}"
    )
    versions = Table(title="requests by version", title_justify="left")
    for column in ("version", "user requests", "failed", "mirrored received"):
        versions.add_column(column, justify="left" if column == "version" else "right")
    for version, row in summary["versions"].items():
        versions.add_row(
            version, str(row["user_requests"]), str(row["failed"]), str(row["mirrored_received"])
        )
    console.print(versions)
    table = Table(title="decisions (the controller's status.history)", title_justify="left")
    for column in ("t (s)", "phase", "weights p/c", "mirror", "reason"):
        table.add_column(column)
    for d in summary["decisions"]:
        table.add_row(
            f"{d['t']:.1f}",
            d["phase"],
            f"{d['primary_weight']}/{d['canary_weight']}",
            str(d["mirror_weight"] or ""),
            d["reason"],
        )
    console.print(table)
    for rollout in summary["rollouts"]:
        console.print(f"rollout of {rollout['version']}: [bold]{rollout['final_phase']}[/]")
    console.print(f"report: {summary['report']}")
