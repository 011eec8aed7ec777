"""`canary get NAME [--watch]`: one rollout at a glance (or as JSON/YAML, or one wide row)."""

from __future__ import annotations

import argparse
import contextlib
import json
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from canary.operate.flags import (
    add_cluster_flags,
    add_name,
    add_output,
    api_for,
    console,
    guarded,
    show,
)

if TYPE_CHECKING:
    from rich.console import Console

    from canary.operate.api import Api
    from canary.operate.view import Snapshot

REDRAW_SECONDS = 0.2
"""The view is redrawn at most this often, and only when it changed."""
TICK_SECONDS = 0.5
"""With no change, the view is still produced this often (ages on a terminal move)."""
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


def watch(api: Api, name: str, out: Console) -> int:
    """Redraws until a rollout seen running ends (exit 0), or Ctrl-C (exit 130).

    On a terminal the view is redrawn in place; otherwise each changed view is printed in turn
    (a log of the rollout), with ages left out of what counts as a change.
    """
    from rich.live import Live

    from canary.operate import view
    from canary.operate.flags import show

    terminal = bool(out.is_terminal)
    shown, running = "", False
    with Live(console=out, auto_refresh=False) if terminal else _nothing() as live:
        for snapshot in follow(api, name):
            now = view.now_utc().replace(microsecond=0)
            # Ages move once a second; anything else moves only when the objects change.
            moment = now.isoformat() if terminal else ""
            key = json.dumps([snapshot.__dict__, moment], sort_keys=True, default=str)
            if key != shown:
                if live is not None:
                    live.update(view.detail(snapshot, now), refresh=True)
                else:
                    show(out, view.detail(snapshot, now))
                    out.file.write("\n")
                shown = key
            phase = (snapshot.canary.get("status") or {}).get("phase")
            at_rest = phase in view.ENDED and not view.pending_request(snapshot.canary)
            if at_rest and running:
                return 0
            running = running or not at_rest
    return 0


def follow(api: Api, name: str) -> Iterator[Snapshot]:
    """Snapshots of the Canary: read again as soon as a watch sees it change, and every
    AROUND_SECONDS (Deployments and Events have no watch here); one at least every
    TICK_SECONDS, so that ages move on a terminal."""
    from canary.operate import view
    from canary.operate.changes import CanaryChanges

    snapshot = view.fetch(api, name)
    fetched_at = time.monotonic()
    changes = CanaryChanges(api, name, snapshot.canary["metadata"].get("resourceVersion", ""))
    changes.start()
    try:
        while True:
            yield snapshot
            changed = changes.wait(TICK_SECONDS)
            if changed or time.monotonic() - fetched_at >= AROUND_SECONDS:
                snapshot = view.fetch(api, name)
                fetched_at = time.monotonic()
                # Changes that come within REDRAW_SECONDS are drawn together.
                time.sleep(REDRAW_SECONDS)
    finally:
        changes.stop()


@contextlib.contextmanager
def _nothing() -> Iterator[None]:
    yield None
