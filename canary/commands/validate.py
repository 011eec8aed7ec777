"""`canary validate`: checks Canary, MetricTemplate and AlertProvider manifests."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from canary.api.loading import InvalidObject, parse, read_documents
from canary.api.safeyaml import MAX_DEPTH, MAX_INPUT_BYTES, MAX_NODES


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "validate",
        help="validate manifests (multi-document YAML) against the canary.dev API",
        description=(
            "Exit 0 when every canary.dev document is valid, 1 otherwise (a file that cannot be "
            "read, is not UTF-8 or not YAML, is empty, or breaks a limit is invalid too). Limits: "
            f"{MAX_INPUT_BYTES // 2**20} MiB per file, {MAX_DEPTH} levels of nesting, "
            f"{MAX_NODES:,} values once aliases are expanded; duplicate keys are refused."
        ),
    )
    parser.add_argument("files", nargs="+", type=Path, metavar="FILE")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    invalid = 0
    for path in args.files:
        invalid += validate_file(path)
    return 1 if invalid else 0


def validate_file(path: Path) -> int:
    """Prints one line per document; returns how many were invalid."""
    invalid = 0
    try:
        documents = list(read_documents(path))
    except InvalidObject as error:
        _print_problems(error)
        return 1
    for document in documents:
        if not document.is_ours:
            print(
                f"{document.source}: skipped {document.kind or 'document'} (not canary.dev/v1alpha1)"
            )
            continue
        try:
            parse(document)
        except InvalidObject as error:
            _print_problems(error)
            invalid += 1
        else:
            print(f"{document.source}: {document.kind} is valid")
    return invalid


def _print_problems(error: InvalidObject) -> None:
    for problem in error.problems:
        print(f"{error.source}: invalid: {problem}", file=sys.stderr)
