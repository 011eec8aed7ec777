"""`canary validate`: checks Canary, MetricTemplate and AlertProvider manifests, and the names
the controller would derive from each Canary (and from its target, when the same files hold it)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from canary.api.canary import Canary
from canary.api.loading import Document, InvalidObject, parse, read_documents
from canary.api.safeyaml import MAX_DEPTH, MAX_INPUT_BYTES, MAX_NODES
from canary.kube.names import name_problems
from canary.kube.revision import config_refs

Targets = dict[tuple[str, str], dict[str, Any]]


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
    targets = _deployments(args.files)
    invalid = 0
    for path in args.files:
        invalid += validate_file(path, targets)
    return 1 if invalid else 0


def _deployments(paths: list[Path]) -> Targets:
    """The Deployments in the files, by (namespace, name): targets whose labels can be checked."""
    found: Targets = {}
    for path in paths:
        try:
            documents = list(read_documents(path)) if path.is_file() else []
        except InvalidObject:
            continue  # reported when the file itself is validated
        for document in documents:
            body = document.body
            if document.kind == "Deployment" and isinstance(body, dict):
                meta = body.get("metadata") or {}
                found[(str(meta.get("namespace") or "default"), str(meta.get("name")))] = body
    return found


def _check(document: Document, targets: Targets) -> None:
    """Parse the document; for a Canary also check every name derived from it (InvalidObject)."""
    parsed = parse(document)
    if not isinstance(parsed, Canary):
        return
    target = targets.get((parsed.metadata.namespace, parsed.spec.target_ref.name))
    refs = config_refs((target or {}).get("spec", {}).get("template") or {})
    problems = name_problems(parsed, target, refs.config_maps, refs.secrets)
    if problems:
        raise InvalidObject(document.source, problems)


def validate_file(path: Path, targets: Targets | None = None) -> int:
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
            _check(document, targets or {})
        except InvalidObject as error:
            _print_problems(error)
            invalid += 1
        else:
            print(f"{document.source}: {document.kind} is valid")
    return invalid


def _print_problems(error: InvalidObject) -> None:
    for problem in error.problems:
        print(f"{error.source}: invalid: {problem}", file=sys.stderr)
