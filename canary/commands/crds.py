"""`canary crds`: writes the CustomResourceDefinitions generated from the API models."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from canary.api.crdgen import render_crds, write_crds


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("crds", help="print or write the generated CRDs")
    parser.add_argument(
        "--output", type=Path, help="directory to write into (default: print to stdout)"
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    if args.output is None:
        sys.stdout.write("---\n".join(render_crds().values()))
        return 0
    for path in write_crds(args.output):
        print(f"wrote {path}")
    return 0
