"""`canary docs`: writes the reference pages of the documentation site generated from the code."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from canary.docgen import render_reference, write_reference


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "docs",
        help="write the generated reference pages (CRD fields, CLI, controller flags and metrics)",
        description="Regenerates docs/reference from the API models, the argument parser and the "
        "controller's metrics registry; a test fails when the pages on disk drift from them.",
    )
    parser.add_argument(
        "--output",
        type=Path,
        metavar="DIR",
        help="directory to write into, normally docs/reference (default: list the pages)",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    if args.output is None:
        for name in render_reference():
            sys.stdout.write(f"{name}\n")
        return 0
    for path in write_reference(args.output):
        print(f"wrote {path}")
    return 0
