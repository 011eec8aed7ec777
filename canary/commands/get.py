"""`canary get NAME [--watch]`: one rollout at a glance (or as JSON/YAML, or one wide row)."""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

from canary.operate.flags import (
    add_cluster_flags,
    add_name,
    add_output,
    api_for,
    console,
    guarded,
    show,
)

REDRAW_SECONDS = 0.2
"""The view is redrawn at most this often, and only when it changed."""
POLL_SECONDS = 1.0
AROUND_SECONDS = 5.0
"""Deployments and Events are read again at least this often, and whenever the Canary changes."""


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "get",
        help="show one rollout at a glance (--watch to follow it)",
        description="Phase, strategy, step, weights, checks, metrics, images, the pending request, "
        "the step history and the recent Events of one Canary.",
    )
    add_name(parser)
    parser.add_argument(
        "-w", "--watch", action="store_true", help="redraw in place until the rollout ends"
    )
    add_output(parser)
    add_cluster_flags(parser)
    parser.set_defaults(handler=guarded(run))


def run(args: argparse.Namespace) -> int:
    api = api_for(args)
    if args.output in ("json", "yaml"):
        print_object(api.get_canary(args.name), args.output)
        return 0
    from canary.operate import view

    out = console(args)
    if args.output == "wide":
        show(out, view.table([api.get_canary(args.name)], view.now_utc(), wide=True))
        return 0
    if args.watch:
        return watch(api, args.name, out)
    show(out, view.detail(view.fetch(api, args.name), view.now_utc()))
    return 0


def print_object(obj: Any, output: str) -> None:
    if output == "json":
        print(json.dumps(obj, indent=2))
        return
    import yaml

    print(yaml.safe_dump(obj, sort_keys=False), end="")


def watch(api: Any, name: str, out: Any) -> int:
    """Redraws until the phase is final with no request pending, or Ctrl-C (exit 130)."""
    from rich.live import Live

    from canary.operate import view

    snapshot = view.fetch(api, name)
    fetched_at = time.monotonic()
    shown = ""
    with Live(console=out, auto_refresh=False, transient=False) as live:
        while True:
            now = view.now_utc().replace(microsecond=0)
            # Ages move once a second; anything else moves only when the objects change.
            key = json.dumps([snapshot.__dict__, now.isoformat()], sort_keys=True, default=str)
            if key != shown:
                live.update(view.detail(snapshot, now), refresh=True)
                shown = key
            status = snapshot.canary.get("status") or {}
            if status.get("phase") in view.ENDED and not view.pending_request(snapshot.canary):
                return 0
            time.sleep(max(REDRAW_SECONDS, POLL_SECONDS))
            canary = api.get_canary(name)
            changed = canary["metadata"].get("resourceVersion") != snapshot.canary["metadata"].get(
                "resourceVersion"
            )
            if changed or time.monotonic() - fetched_at >= AROUND_SECONDS:
                snapshot = view.fetch(api, name)
                fetched_at = time.monotonic()
