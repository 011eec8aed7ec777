"""One redaction for everything that leaves the controller: URL user-info, credential headers and every value read from a Secret.

Applied at each exit (see docs/operations/security.md): the log processors, Event messages, the
Canary status, webhook and metric-provider error messages, and /metrics. Secret values are
registered when they are read (`secret_value`), so they, and their base64 forms, are replaced
wherever they turn up later, even in text a remote server echoed back.
"""

from __future__ import annotations

import base64
import re
import threading
from collections.abc import Iterable, Mapping
from typing import Any

REDACTED = "[REDACTED]"
MIN_SECRET_LENGTH = 4
"""Shorter Secret values are not hunted for in free text: "a" or "1" would shred every message.
They still never reach a message from this code: headers that carry them are redacted by name."""

_SENSITIVE_HEADER = (
    r"(?:proxy-)?authorization|cookie|set-cookie|x-[a-z0-9-]*(?:token|key|secret|signature|auth)"
    r"[a-z0-9-]*|api[-_]?key|private[-_]token"
)
SENSITIVE_HEADER = re.compile(rf"^(?:{_SENSITIVE_HEADER})$", re.IGNORECASE)
"""Header names whose values are credentials."""

_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # scheme://user:password@host -> scheme://[REDACTED]@host
    (re.compile(r"([a-zA-Z][a-zA-Z0-9+.-]*://)[^/\s@?#\"'<>]+@"), rf"\1{REDACTED}@"),
    # `Authorization: Bearer x`, `"X-Api-Token": "x"`, `cookie=x` (headers echoed as text or JSON)
    (
        re.compile(
            rf"((?:{_SENSITIVE_HEADER})[\"']?\s*[:=]\s*[\"']?)"
            r"(?:(?:bearer|basic|token|digest|negotiate)\s+)?[^\s\"',;}}]+",
            re.IGNORECASE,
        ),
        rf"\1{REDACTED}",
    ),
    # a bare credential scheme: `Bearer eyJ...`, `Basic dXNlcjpw...` (not "basic credentials":
    # a word of lowercase letters only is prose, not a token)
    (
        re.compile(r"\b(bearer|basic)\s+(?-i:(?![a-z]+\b))[A-Za-z0-9._~+/=-]{6,}", re.IGNORECASE),
        rf"\1 {REDACTED}",
    ),
    # credentials in a query string
    (
        re.compile(
            r"([?&](?:access_token|token|api_key|apikey|key|password|secret|sig|signature)=)"
            r"[^&\s#\"']+",
            re.IGNORECASE,
        ),
        rf"\1{REDACTED}",
    ),
)


class Redactor:
    """Registered Secret values plus the fixed patterns; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: set[str] = set()
        self._pattern: re.Pattern[str] | None = None

    def register(self, value: str) -> None:
        """Redact `value` (and its base64 forms) from now on; short values are ignored."""
        forms = {value, value.strip()} | _base64_forms(value)
        forms = {f for f in forms if len(f) >= MIN_SECRET_LENGTH}
        with self._lock:
            if forms <= self._values:
                return
            self._values |= forms
            # Longest first: a value that contains another is replaced whole.
            ordered = sorted(self._values, key=len, reverse=True)
            self._pattern = re.compile("|".join(re.escape(v) for v in ordered))

    def text(self, text: str) -> str:
        """`text` with credentials and registered values replaced by [REDACTED]."""
        pattern = self._pattern
        if pattern is not None:
            text = pattern.sub(REDACTED, text)
        for fixed, replacement in _PATTERNS:
            text = fixed.sub(replacement, text)
        return text

    def value(self, value: Any) -> Any:
        """Strings redacted everywhere inside dicts, lists and tuples (keys too); the rest as is."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, Mapping):
            return {self.value(k): self._header(k, v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return type(value)(self.value(v) for v in value)
        return value

    def _header(self, key: Any, value: Any) -> Any:
        if isinstance(key, str) and isinstance(value, str) and SENSITIVE_HEADER.match(key):
            return REDACTED
        return self.value(value)

    def headers(self, headers: Mapping[str, str]) -> dict[str, str]:
        """Headers with credential-bearing values replaced, for messages."""
        return {
            k: REDACTED if SENSITIVE_HEADER.match(k) else self.text(v) for k, v in headers.items()
        }

    def forget_all(self) -> None:
        """Drop every registered value (tests)."""
        with self._lock:
            self._values.clear()
            self._pattern = None


def _base64_forms(value: str) -> set[str]:
    raw = value.encode("utf-8", "surrogateescape")
    forms = set()
    for encode in (base64.b64encode, base64.urlsafe_b64encode):
        encoded = encode(raw).decode()
        forms |= {encoded, encoded.rstrip("=")}
    return forms


REDACTOR = Redactor()
"""The controller's one redactor: Secret values registered anywhere are redacted everywhere."""


def secret_value(value: str, also: Iterable[str] = ()) -> str:
    """Register a value read from a Secret (and derived forms, e.g. `user:pass`); returns it."""
    REDACTOR.register(value)
    for form in also:
        REDACTOR.register(form)
    return value


def text(value: str) -> str:
    return REDACTOR.text(value)


def url(address: str) -> str:
    """An address fit for a message: no user-info, no credential in the query."""
    return REDACTOR.text(address)


def value(obj: Any) -> Any:
    return REDACTOR.value(obj)


def headers(values: Mapping[str, str]) -> dict[str, str]:
    return REDACTOR.headers(values)
