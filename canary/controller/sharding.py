"""Shards: which Canaries one controller (and its Lease) looks after, chosen by a label.

A controller started with `--shard NAME` owns the Canaries labelled `canary.dev/shard=NAME`;
one started without it owns the Canaries that carry no such label, so every Canary has exactly
one owner whatever the mix (Argo Rollouts' `--instance-id` splits its Rollouts the same way). A
label, unlike a hash of the name, is a selector the API server applies to the list and the
watch, so each replica receives and holds only its own Canaries, and moving one Canary to
another shard is one `kubectl label`.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass

SHARD_LABEL = "canary.dev/shard"
_LABEL_VALUE = re.compile(r"^(?:[A-Za-z0-9](?:[-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)$")


def check_name(name: str) -> str:
    """`name` when it is a valid label value (RFC 1123-ish: 1-63 chars of [-A-Za-z0-9_.],
    alphanumeric at both ends, as Kubernetes validates label values); ValueError otherwise."""
    if not _LABEL_VALUE.match(name):
        raise ValueError(
            f"{name!r} is not a valid label value (1-63 letters, digits, '-', '_' or '.', "
            "beginning and ending with a letter or digit)"
        )
    return name


@dataclass(frozen=True)
class Shard:
    """One shard: `name` None is the default shard (Canaries without the shard label)."""

    name: str | None = None

    @property
    def selector(self) -> str:
        """The label selector of this shard's Canaries, for list and watch requests."""
        return f"{SHARD_LABEL}={self.name}" if self.name else f"!{SHARD_LABEL}"

    def owns(self, labels: Mapping[str, str] | None) -> bool:
        """Whether a Canary with these labels belongs to this shard."""
        value = (labels or {}).get(SHARD_LABEL)
        return value == self.name if self.name else value is None

    def lease_name(self, base: str) -> str:
        """Each shard elects its own leader: `base` for the default shard, `base-NAME` otherwise."""
        return f"{base}-{self.name}" if self.name else base


def spread(namespace: str, name: str, shards: int) -> str:
    """A stable shard name `shard-K` (K in 0..shards-1) for a Canary, to label many at once.

    The hash is BLAKE2b of "namespace/name" (the same on every machine and Python run, unlike
    the built-in salted `hash`); it is only a starting point: the label, not the hash, decides.
    """
    if shards < 1:
        raise ValueError("shards must be at least 1")
    digest = hashlib.blake2b(f"{namespace}/{name}".encode(), digest_size=8).digest()
    return f"shard-{int.from_bytes(digest, 'big') % shards}"
