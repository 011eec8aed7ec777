"""The flags every cluster command shares (kubectl's), name completion, and the error guard."""

from __future__ import annotations

import argparse
import functools
import os
import sys
from collections.abc import Callable
from typing import IO, TYPE_CHECKING, Any

from canary.operate.errors import CliError

if TYPE_CHECKING:
    from canary.operate.api import Api

PIPE_WIDTH = 250
Handler = Callable[[argparse.Namespace], int]
COMPLETION_TIMEOUT = 2.0
"""Seconds the shell may wait for Canary names from the cluster."""


def add_cluster_flags(parser: argparse.ArgumentParser, *, all_namespaces: bool = False) -> None:
    """-n/--namespace, --context and --kubeconfig (and -A), as kubectl reads them."""
    group = parser.add_argument_group("cluster (as kubectl: KUBECONFIG is read too)")
    group.add_argument("-n", "--namespace", metavar="NS", help="namespace (default: the context's)")
    if all_namespaces:
        group.add_argument("-A", "--all-namespaces", action="store_true", help="every namespace")
    group.add_argument("--context", metavar="NAME", help="kubeconfig context (default: current)")
    group.add_argument("--kubeconfig", metavar="FILE", help="kubeconfig file")


def add_name(parser: argparse.ArgumentParser) -> None:
    """The NAME of a Canary, completed from the cluster."""
    action = parser.add_argument("name", metavar="NAME", help="the Canary's name")
    action.completer = canary_names  # type: ignore[attr-defined]


def canary_names(prefix: str, parsed_args: argparse.Namespace, **_: Any) -> list[str]:
    """Names of the Canaries in the namespace the command line points at; [] on any error."""
    from canary.operate.api import Api
    from canary.operate.kubeconfig import connect

    try:
        connection = connect(
            getattr(parsed_args, "kubeconfig", None),
            getattr(parsed_args, "context", None),
            getattr(parsed_args, "namespace", None),
        )
        api = Api(connection, timeout=COMPLETION_TIMEOUT)
        names = [c["metadata"]["name"] for c in api.list_canaries(connection.namespace)]
    except Exception:  # completion must stay silent whatever goes wrong
        return []
    return [name for name in names if name.startswith(prefix)]


def api_for(args: argparse.Namespace) -> Api:
    """An Api for the cluster flags in `args`. Raises CliError when the kubeconfig is unusable."""
    from canary.operate.api import Api
    from canary.operate.kubeconfig import connect

    return Api(connect(args.kubeconfig, args.context, args.namespace))


def guarded(handler: Handler) -> Handler:
    """Runs `handler`; a CliError is printed as one line on stderr and becomes the exit code."""

    @functools.wraps(handler)
    def run(args: argparse.Namespace) -> int:
        try:
            return handler(args)
        except CliError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return exc.exit_code

    return run


def console(args: argparse.Namespace, file: IO[str] | None = None) -> Any:
    """A rich Console: colour only on a terminal, never with --no-color or NO_COLOR."""
    from rich.console import Console

    no_color = bool(getattr(args, "no_color", False) or os.environ.get("NO_COLOR"))
    out = Console(file=file, no_color=no_color, highlight=False)
    if not out.is_terminal:
        # Piped output is read by tools and people alike: never cut a column to 80 characters.
        out.width = PIPE_WIDTH
    return out


def add_output(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-o", "--output", choices=["json", "yaml", "wide"], help="output format (default: a view)"
    )
    parser.add_argument("--no-color", action="store_true", help="no colours (also NO_COLOR)")


def show(out: Any, renderable: Any) -> None:
    """Prints to the console; piped output loses the padding rich adds at the end of lines."""
    if out.is_terminal:
        out.print(renderable)
        return
    with out.capture() as captured:
        out.print(renderable)
    lines = captured.get().splitlines()
    out.file.write("".join(line.rstrip() + "\n" for line in lines))
    out.file.flush()
