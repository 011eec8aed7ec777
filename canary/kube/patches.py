"""JSON merge patches (RFC 7386) computed from the object as read, and made conditional on its resourceVersion."""

from __future__ import annotations

from typing import Any

JSON = dict[str, Any]


def merge_diff(old: JSON, new: JSON) -> JSON:
    """The RFC 7386 merge patch that turns `old` into `new` (both JSON objects).

    Shapes: a key of `old` missing from `new` (or `None` there) becomes `null`, which deletes it
    (RFC 7386 section 2); objects in both are diffed recursively; anything else that differs,
    lists included, is sent whole, since a merge patch replaces a list (RFC 7386 section 2, and
    the Kubernetes API server for `application/merge-patch+json`, built-in kinds included).
    An empty result means the two are equal. `None` in `new` cannot be a value: it means absent.
    """
    patch: JSON = {}
    for key, before in old.items():
        if new.get(key) is None and before is not None:
            patch[key] = None
    for key, value in new.items():
        if value is None:
            continue
        before = old.get(key)
        if isinstance(value, dict) and isinstance(before, dict):
            nested = merge_diff(before, value)
            if nested:
                patch[key] = nested
        elif before != value:
            patch[key] = _without_nulls(value)
    return patch


def _without_nulls(value: Any) -> Any:
    """`value` without its `None` members: in a merge patch they would delete, not set."""
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    return value


def conditional(patch: JSON, live: JSON) -> JSON:
    """`patch` carrying `live`'s resourceVersion in its metadata.

    The API server applies the patch to the object it holds and then refuses the result with a
    409 Conflict when that resourceVersion is no longer the current one (API conventions,
    "Concurrency Control and Consistency"), so a write computed from a stale cache never lands.
    KeyError when `live` has no resourceVersion.
    """
    metadata = dict(patch.get("metadata") or {})
    metadata["resourceVersion"] = live["metadata"]["resourceVersion"]
    return {**patch, "metadata": metadata}
