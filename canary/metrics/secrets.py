"""Where credentials come from: a small protocol the controller backs with Kubernetes Secrets."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import Protocol

from canary import redact


class SecretError(LookupError):
    """A Secret or one of its keys is missing or unreadable; the message never holds a value.

    `namespace`, `name` and `key` say which; the message adds why, in words of our own (never a
    server's answer, a decoder's complaint or any byte of the value).
    """

    def __init__(self, namespace: str, name: str, key: str, why: str) -> None:
        self.namespace, self.name, self.key = namespace, name, key
        super().__init__(f"secret {namespace}/{name} {why}")


class SecretSource(Protocol):
    """Reads one key of a Secret. Implementations never log or cache the value in plain sight."""

    def read(self, namespace: str, name: str, key: str) -> str:
        """The value of `key` in Secret `namespace/name`; SecretError when it cannot be read."""
        ...


def decode(namespace: str, name: str, key: str, data: str | bytes, *, base64_encoded: bool) -> str:
    """A Secret value as text, registered with the redactor; SecretError if not base64 or UTF-8."""
    try:
        raw = base64.b64decode(data, validate=True) if base64_encoded else data
    except (binascii.Error, ValueError):
        raise SecretError(namespace, name, key, f"key {key!r} is not valid base64") from None
    try:
        value = raw.decode("utf-8") if isinstance(raw, bytes) else raw
    except UnicodeDecodeError:
        raise SecretError(namespace, name, key, f"key {key!r} is not UTF-8 text") from None
    return redact.secret_value(value)


class StaticSecrets:
    """Secrets held in memory, keyed by (namespace, name, key): for the CLI and for tests."""

    def __init__(self, values: Mapping[tuple[str, str, str], str] | None = None) -> None:
        self._values = dict(values or {})

    def read(self, namespace: str, name: str, key: str) -> str:
        try:
            value = self._values[(namespace, name, key)]
        except KeyError:
            raise SecretError(namespace, name, key, f"has no key {key!r}") from None
        return decode(namespace, name, key, value, base64_encoded=False)

    def __repr__(self) -> str:
        return f"StaticSecrets({len(self._values)} keys)"


NO_SECRETS = StaticSecrets()
