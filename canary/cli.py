"""The `canary` command line (also `kubectl canary`): one sub-command per module in canary.commands."""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from collections.abc import Sequence

from canary import __version__, clierrors, commands


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="canary",
        description="Progressive delivery for Kubernetes and Istio.",
    )
    parser.add_argument("--version", action="version", version=f"canary {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    # Each module in canary.commands registers its own sub-command, so adding one is one new file.
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{commands.__name__}.{info.name}")
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    clierrors.prepare_streams()
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help(sys.stderr)
        return 2
    try:
        return int(args.handler(args))
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0
    except Exception as error:  # the last resort; known bad input has its own message
        return clierrors.unexpected(args, error)
