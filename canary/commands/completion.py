"""`canary completion bash|zsh|fish`: the shell completion script (argcomplete's).

argcomplete completes from the argparse parser itself, so commands and flags never drift from
the code, and it supports bash, zsh and fish; Canary names come from the cluster (see flags.py).
"""

from __future__ import annotations

import argparse
import sys

EXECUTABLES = ["canary", "kubectl-canary"]


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "completion",
        help="print the shell completion script",
        description="Prints the completion script for the shell. Install with, for example: "
        "`canary completion bash > ~/.local/share/bash-completion/completions/canary`, "
        '`canary completion zsh > "${fpath[1]}/_canary"`, or '
        "`canary completion fish > ~/.config/fish/completions/canary.fish`.",
    )
    parser.add_argument("shell", choices=["bash", "zsh", "fish"])
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from argcomplete.shell_integration import shellcode

    sys.stdout.write(shellcode(EXECUTABLES, shell=args.shell))
    return 0
