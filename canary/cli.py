"""The `canary` command line (also `kubectl canary`): one sub-command per module in canary.commands.

Start-up loads only what the command given needs: the parser lists every command from the
registry below, and imports only the module of the command on the command line. So `--help`,
`--version` and shell completion load neither scipy nor the Kubernetes client.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from canary import __version__, clierrors

COMMANDS: dict[str, tuple[str, str]] = {
    "get": ("canary.commands.get", "show one rollout at a glance (--watch to follow it)"),
    "list": ("canary.commands.list_", "list the Canaries with phase, weight and age"),
    "status": ("canary.commands.status", "print progress; --wait exits 0/1/2/3 for CI"),
    "promote": ("canary.commands.request", "pass the current gate or step now (--full: all)"),
    "abort": ("canary.commands.request", "roll back now"),
    "pause": ("canary.commands.request", "pause the rollout"),
    "resume": ("canary.commands.request", "resume a paused rollout"),
    "retry": ("canary.commands.request", "run a failed or aborted revision again"),
    "completion": ("canary.commands.completion", "print the shell completion script"),
    "demo": (
        "canary.commands.demo",
        "a rollout on real Envoy traffic on this machine (no cluster)",
    ),
    "validate": ("canary.commands.validate", "validate Canary YAML against the API"),
    "crds": ("canary.commands.crds", "print or write the generated CRDs"),
    "docs": ("canary.commands.docs", "write the generated reference pages of the docs"),
    "simulate": ("canary.commands.simulate", "simulate a rollout on a virtual clock"),
    "judge": ("canary.commands.judge", "Kayenta's judge on two samples, JSON in and out"),
    "analyze": ("canary.commands.analyze", "replay a Canary's analysis against a Prometheus"),
    "controller": ("canary.commands.controller", "run the controller"),
    "notify": ("canary.commands.notify", "send a sample message through an AlertProvider"),
    "sandbox": ("canary.commands.sandbox", "a local cluster: API emulator, workloads, Envoy mesh"),
}
"""Command name -> (module registering it, one-line help). A module may register several."""


def command_in(argv: Sequence[str]) -> str | None:
    """The sub-command named on the command line (the first word that is one), or None."""
    return next((word for word in argv if word in COMMANDS), None)


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The parser, with the full definition of the command in `argv` (all commands when None).

    Commands not on the command line are listed with their help only, so building the parser
    imports nothing but the module of the command given.
    """
    parser = argparse.ArgumentParser(
        # As a kubectl plugin the usage lines read `kubectl canary ...`.
        prog="kubectl canary" if os.path.basename(sys.argv[0]) == "kubectl-canary" else "canary",
        description="Progressive delivery for Kubernetes and Istio.",
    )
    parser.add_argument("--version", action="version", version=f"canary {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    wanted = list(COMMANDS) if argv is None else [command_in(argv)]
    registered: set[str] = set()
    for module_name in dict.fromkeys(COMMANDS[name][0] for name in wanted if name):
        before = set(subparsers.choices)
        importlib.import_module(module_name).register(subparsers)
        registered |= set(subparsers.choices) - before
    for name, (_, help_text) in COMMANDS.items():
        if name not in registered:
            subparsers.add_parser(name, help=help_text, add_help=False)
    # Keep the registry's order in `--help`, whichever module registered first.
    actions = {action.dest: action for action in subparsers._choices_actions}
    subparsers._choices_actions[:] = [actions[name] for name in COMMANDS if name in actions]
    return parser


def _complete(parser: argparse.ArgumentParser) -> None:
    """Answers the shell's completion request (argcomplete) and exits; a no-op otherwise."""
    if "_ARGCOMPLETE" not in os.environ:
        return
    import argcomplete

    argcomplete.autocomplete(
        parser,
        default_completer=argcomplete.completers.SuppressCompleter(),
        exit_method=sys.exit,  # a normal exit (not os._exit), so buffered output is flushed
    )


def main(argv: Sequence[str] | None = None) -> int:
    clierrors.prepare_streams()
    arguments = list(sys.argv[1:] if argv is None else argv)
    if "_ARGCOMPLETE" in os.environ:
        # The words being completed come from the shell, not from argv.
        arguments = os.environ.get("COMP_LINE", "").split()[1:]
    parser = build_parser(arguments)
    _complete(parser)
    args = parser.parse_args(arguments)
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
