"""Stored objects: deep copies, store keys, the served version of an object and write results."""

from __future__ import annotations

import pickle
from dataclasses import dataclass, field
from typing import Any

from canary.sandbox.resources import ResourceType

JSON = dict[str, Any]
Key = tuple[str, str]  # (namespace, name); namespace is "" for cluster-scoped objects


def clone(obj: JSON) -> JSON:
    """A deep copy of a JSON document; pickle is the fastest deep copy in the standard library."""
    copied: JSON = pickle.loads(pickle.dumps(obj, pickle.HIGHEST_PROTOCOL))
    return copied


def key_of(rt: ResourceType, obj: JSON) -> Key:
    return (obj["metadata"].get("namespace", "") if rt.namespaced else "", obj["metadata"]["name"])


def as_version(rt: ResourceType, obj: JSON, version: str) -> JSON:
    """The object as served at `version`: without conversion webhooks only apiVersion differs."""
    if not version or version == rt.storage_version:
        return obj
    return {**obj, "apiVersion": rt.api_version(version)}


@dataclass
class Result:
    """What a write answers: the object (or a Status), the HTTP code and any warnings."""

    body: JSON
    code: int = 200
    warnings: list[str] = field(default_factory=list)
