"""argparse types that check a flag's value, so a bad one gets one line naming the flag.

argparse prefixes each ArgumentTypeError with `argument --flag:` and exits with code 2. The
messages never repeat a header's value, which may be a credential.
"""

from __future__ import annotations

import argparse
import math
import re
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

from canary.api.common import format_duration, parse_duration

MAX_URL_LENGTH = 2048
MAX_HEADER_BYTES = 8192
MAX_SECRET_FILE_BYTES = 1024 * 1024
"""Largest token or CA bundle file read (1 MiB)."""
SEED_MAX = 2**63 - 1

# RFC 9110 section 5.6.2: a field name is a token.
_HEADER_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+\Z")
# Field values: visible ASCII with spaces and tabs (RFC 9110 section 5.5, without obs-text, which
# HTTP clients encode inconsistently).
_HEADER_VALUE = re.compile(r"[\t\x20-\x7e]*\Z")
_CONTROL = re.compile(r"[\x00-\x20\x7f]")


def http_url(text: str) -> str:
    """An http(s) base URL with a host and a port in 1-65535, and no credentials in it."""
    if len(text) > MAX_URL_LENGTH:
        raise argparse.ArgumentTypeError(f"longer than {MAX_URL_LENGTH} characters")
    if _CONTROL.search(text):
        raise argparse.ArgumentTypeError("a URL cannot hold spaces or control characters")
    try:
        parts = urlsplit(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"not a valid URL: {error}") from None
    try:
        port = parts.port
    except ValueError:
        raise argparse.ArgumentTypeError("the port must be a number from 1 to 65535") from None
    if parts.scheme not in ("http", "https"):
        shown = f"{parts.scheme}://" if parts.scheme else "no scheme"
        raise argparse.ArgumentTypeError(f"use an http:// or https:// URL, got {shown}")
    if not parts.hostname:
        raise argparse.ArgumentTypeError("the URL has no host")
    if port == 0:
        raise argparse.ArgumentTypeError("the port must be a number from 1 to 65535")
    if parts.username is not None or parts.password is not None:
        raise argparse.ArgumentTypeError(
            "do not put credentials in the URL; use the credential flags or environment"
        )
    if parts.fragment:
        raise argparse.ArgumentTypeError("a base URL has no #fragment")
    return text


def header(text: str) -> tuple[str, str]:
    """`NAME=VALUE` as (name, value); no CR, LF or other control character in either."""
    name, sep, value = text.partition("=")
    name = name.strip()
    if not sep or not name:
        raise argparse.ArgumentTypeError("use NAME=VALUE")
    if not _HEADER_NAME.match(name):
        raise argparse.ArgumentTypeError(
            "the header name must be letters, digits and !#$%&'*+-.^_`|~ only"
        )
    if len(text.encode("utf-8", "surrogatepass")) > MAX_HEADER_BYTES:
        raise argparse.ArgumentTypeError(f"header {name}: longer than {MAX_HEADER_BYTES} bytes")
    if not _HEADER_VALUE.match(value):
        raise argparse.ArgumentTypeError(
            f"header {name}: the value must be printable ASCII (no CR, LF or control character)"
        )
    return name, value


def duration(minimum: float, maximum: float) -> Callable[[str], float]:
    """A type for a duration flag: seconds, from above `minimum` up to `maximum`."""

    def parse(text: str) -> float:
        try:
            seconds = parse_duration(text)
        except ValueError as error:
            raise argparse.ArgumentTypeError(str(error)) from None
        if seconds <= minimum:
            raise argparse.ArgumentTypeError(f"must be longer than {format_duration(minimum)}")
        if seconds > maximum:
            raise argparse.ArgumentTypeError(f"must be at most {format_duration(maximum)}")
        return seconds

    return parse


def time(text: str) -> datetime:
    """RFC 3339 (`2026-01-01T00:05:00Z`) or Unix seconds; a time without offset is UTC."""
    usage = "use RFC 3339 (2026-01-01T00:05:00Z) or Unix seconds"
    try:
        seconds = float(text)
    except ValueError:
        seconds = None
    if seconds is not None:
        if not math.isfinite(seconds):
            raise argparse.ArgumentTypeError(f"not a finite time; {usage}")
        try:
            return datetime.fromtimestamp(seconds, UTC)
        except (OverflowError, OSError, ValueError):
            raise argparse.ArgumentTypeError(
                "out of range: Unix seconds must fall in years 1 to 9999"
            ) from None
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid time; {usage}") from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def seed(text: str) -> int:
    """A random seed: a whole number from 0 to 2**63-1."""
    return bounded_int(0, SEED_MAX)(text)


def read_small_text(path: Path, flag: str) -> str:
    """A short UTF-8 file given by `flag` (a token or CA bundle); ValueError names the flag."""
    try:
        with path.open("rb") as stream:
            data = stream.read(MAX_SECRET_FILE_BYTES + 1)
    except OSError as error:
        raise ValueError(f"{flag} {path}: cannot read: {error.strerror or error}") from None
    if len(data) > MAX_SECRET_FILE_BYTES:
        raise ValueError(f"{flag} {path}: larger than {MAX_SECRET_FILE_BYTES} bytes")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError(f"{flag} {path}: not UTF-8 text") from None


def bounded_int(minimum: int, maximum: int) -> Callable[[str], int]:
    """A type for a whole-number flag from `minimum` to `maximum`."""

    def parse(text: str) -> int:
        try:
            value = int(text) if len(text) <= 30 else None
        except ValueError:
            value = None
        if value is None or not minimum <= value <= maximum:
            raise argparse.ArgumentTypeError(f"must be a whole number from {minimum} to {maximum}")
        return value

    return parse


def bounded_float(minimum: float, maximum: float) -> Callable[[str], float]:
    """A type for a finite number flag from `minimum` to `maximum`."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not minimum <= value <= maximum:  # NaN fails every comparison
            raise argparse.ArgumentTypeError(f"must be a number from {minimum:g} to {maximum:g}")
        return value

    return parse
