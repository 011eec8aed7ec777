"""`canary demo`: the seed's story live on the playground (real Envoy, real controller)."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import tempfile
import threading
from pathlib import Path
from types import FrameType
from typing import Any

EXIT_STORY_FAILED = 1
EXIT_SETUP = 2
EXIT_INTERRUPTED = 130


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="run my-app's rollouts live: v2 promoted, faulty v3 rolled back (no cluster needed)",
        description="Starts the playground (API emulator, workload runner, Envoy, Istio metrics, "
        "the controller), then releases v2 (mirrored, shifted, promoted) and a faulty v3 (rolled "
        "back) under live traffic, and writes a timeline report. Exit codes: 0 done, 1 the story "
        "did not unfold as expected, 2 the playground could not start (a port taken, Envoy or "
        "Prometheus failing), 130 interrupted.",
    )
    parser.add_argument("--quick", action="store_true", help="short intervals: under 60 s")
    parser.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    parser.add_argument(
        "--report",
        type=Path,
        metavar="FILE",
        help="the HTML report (default: canary-demo-report.html in the workdir)",
    )
    parser.add_argument(
        "--workdir",
        type=Path,
        metavar="DIR",
        help="logs, records and the kubeconfig (default: a new temporary directory)",
    )
    parser.add_argument(
        "--metrics",
        choices=["auto", "prometheus", "embedded"],
        default="auto",
        help="real prometheus (auto: when on PATH) or the embedded provider",
    )
    parser.add_argument("--api-port", type=int, default=0, help="API emulator port (default: free)")
    parser.add_argument("--mesh-port", type=int, default=0, help="Envoy listener (default: free)")
    parser.add_argument(
        "--rate",
        type=float,
        default=0.0,
        help="user requests per second (default 150; 170 with --quick)",
    )
    parser.set_defaults(handler=run)


_signalled = threading.Event()


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    _signalled.set()
    raise KeyboardInterrupt


def _interrupted() -> int:
    print("canary demo: interrupted; every process stopped", file=sys.stderr)
    return EXIT_INTERRUPTED


def run(args: argparse.Namespace) -> int:
    from canary.playground.demo import DemoFailed
    from canary.playground.demo_run import DemoOptions, run_demo
    from canary.playground.demo_stack import PlaygroundError

    signal.signal(signal.SIGTERM, _raise_interrupt)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="canary-demo-"))
    options = DemoOptions(
        quick=args.quick,
        workdir=workdir,
        report=args.report,
        metrics=args.metrics,
        api_port=args.api_port,
        mesh_port=args.mesh_port,
        rate=args.rate or None,
        live=not args.json,
    )
    try:
        summary: dict[str, Any] = run_demo(options)
    except KeyboardInterrupt:
        return _interrupted()
    except Exception as exc:
        # Once the user asked to stop, what failed on the way out is part of stopping.
        if _signalled.is_set():
            return _interrupted()
        if isinstance(exc, PlaygroundError):
            print(f"canary demo: {exc}", file=sys.stderr)
            return EXIT_SETUP
        if isinstance(exc, DemoFailed):
            print(f"canary demo: {exc} (logs in {workdir})", file=sys.stderr)
            return EXIT_STORY_FAILED
        raise
    if args.json:
        print(json.dumps(summary, indent=2))
    return 0
