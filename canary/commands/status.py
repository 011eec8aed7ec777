"""`canary status NAME [--wait] [--timeout DURATION]`: progress lines and an exit code, for CI."""

from __future__ import annotations

import argparse
import time
from typing import Any

from canary.operate.flags import add_cluster_flags, add_name, api_for, guarded

EXIT_SUCCEEDED, EXIT_FAILED, EXIT_TIMEOUT, EXIT_UNREADABLE = 0, 1, 2, 3
POLL_SECONDS = 1.0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "status",
        help="print progress; --wait exits 0/1/2/3 for CI",
        description="Prints one progress line (with --wait: one per change until the rollout of "
        "the target's current revision ends). Exit 0 Succeeded (or Initialized), 1 Failed or "
        "Aborted, 2 timeout, 3 the Canary does not exist or cannot be read.",
    )
    add_name(parser)
    parser.add_argument("--wait", action="store_true", help="wait until the rollout ends")
    parser.add_argument(
        "--timeout",
        default="10m",
        metavar="DURATION",
        help="give up after this long, exit 2 (default %(default)s; 90s, 15m, 1h)",
    )
    add_cluster_flags(parser)
    parser.set_defaults(handler=guarded(run))


def run(args: argparse.Namespace) -> int:
    from canary.operate.progress import ended, line, outcome, parse_timeout

    timeout = parse_timeout(args.timeout)
    api = api_for(args)
    deadline = time.monotonic() + timeout
    shown = ""
    while True:
        canary = api.get_canary(args.name)
        target = api.get_optional(target_path(canary))
        text = line(canary)
        if text != shown:
            print(text, flush=True)
            shown = text
        if not args.wait:
            return EXIT_SUCCEEDED
        if ended(canary, target):
            return EXIT_SUCCEEDED if outcome(canary) else EXIT_FAILED
        if time.monotonic() >= deadline:
            print(f"timed out after {args.timeout}: the rollout has not ended", flush=True)
            return EXIT_TIMEOUT
        time.sleep(min(POLL_SECONDS, max(0.0, deadline - time.monotonic())))


def target_path(canary: dict[str, Any]) -> str:
    meta = canary["metadata"]
    spec = canary.get("spec") or {}
    name = (spec.get("targetRef") or {}).get("name", meta["name"])
    return f"/apis/apps/v1/namespaces/{meta['namespace']}/deployments/{name}"
