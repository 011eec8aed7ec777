"""The command line's last resort: an unexpected error becomes one line and exit code 2.

Every known kind of bad input has its own message (canary.api.safeyaml, canary.flagtypes and the
commands); this guard only keeps a bug from showing users a traceback. CANARY_DEBUG=1 shows it.
"""

from __future__ import annotations

import argparse
import os
import sys

EXIT_UNUSABLE = 2
DEBUG_ENV = "CANARY_DEBUG"


def prepare_streams() -> None:
    """Text that cannot be encoded (a file name with a stray byte) is escaped, not a crash."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(errors="backslashreplace")


def one_line(text: str, limit: int = 300) -> str:
    """`text` on one line of at most `limit` characters, with unencodable characters escaped."""
    flat = " ".join(text.split())
    flat = flat.encode("utf-8", "backslashreplace").decode("utf-8")
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def unexpected(args: argparse.Namespace, error: Exception) -> int:
    """Reports an error no check anticipated in one line; returns EXIT_UNUSABLE.

    Re-raises `error` when $CANARY_DEBUG is set, for the traceback.
    """
    if os.environ.get(DEBUG_ENV):
        raise error
    command = getattr(args, "command", None) or "canary"
    if isinstance(error, RecursionError):
        reason = "the input is nested too deeply"
    elif isinstance(error, MemoryError):
        reason = "out of memory"
    else:
        reason = f"{type(error).__name__}: {error}"
    print(
        one_line(f"canary {command}: internal error: {reason} (set {DEBUG_ENV}=1 for details)"),
        file=sys.stderr,
    )
    return EXIT_UNUSABLE
