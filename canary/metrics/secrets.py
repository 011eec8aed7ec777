"""Where credentials come from: a small protocol the controller backs with Kubernetes Secrets."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol


class SecretError(LookupError):
    """A Secret or one of its keys is missing or unreadable; the message never holds a value."""


class SecretSource(Protocol):
    """Reads one key of a Secret. Implementations never log or cache the value in plain sight."""

    def read(self, namespace: str, name: str, key: str) -> str:
        """The value of `key` in Secret `namespace/name`; SecretError when it cannot be read."""
        ...


class StaticSecrets:
    """Secrets held in memory, keyed by (namespace, name, key): for the CLI and for tests."""

    def __init__(self, values: Mapping[tuple[str, str, str], str] | None = None) -> None:
        self._values = dict(values or {})

    def read(self, namespace: str, name: str, key: str) -> str:
        try:
            return self._values[(namespace, name, key)]
        except KeyError:
            raise SecretError(f"secret {namespace}/{name} has no key {key!r}") from None

    def __repr__(self) -> str:
        return f"StaticSecrets({len(self._values)} keys)"


NO_SECRETS = StaticSecrets()
