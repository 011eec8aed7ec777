"""`managedFields`: which manager wrote which fields (FieldsV1 sets, with lists treated as atomic)."""

from __future__ import annotations

from typing import Any

JSON = dict[str, Any]

# Identity fields are never owned, as in the real field manager's output.
_SKIPPED = {"apiVersion", "kind"}
_SKIPPED_META = {
    "name",
    "namespace",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "managedFields",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "selfLink",
}


def fields_of(obj: Any, top: bool = True) -> JSON:
    """The FieldsV1 set of every leaf in `obj`: `{"f:spec": {"f:replicas": {}}}`."""
    if not isinstance(obj, dict):
        return {}
    out: JSON = {}
    for key, value in obj.items():
        if top and key in _SKIPPED:
            continue
        if top and key == "metadata" and isinstance(value, dict):
            value = {k: v for k, v in value.items() if k not in _SKIPPED_META}
            if not value:
                continue
        out[f"f:{key}"] = fields_of(value, False) if isinstance(value, dict) and value else {}
    return out


def changed(old: Any, new: Any, top: bool = True) -> JSON:
    """The FieldsV1 set of leaves that differ between `old` and `new` (set or changed in `new`)."""
    if not isinstance(new, dict):
        return {}
    out: JSON = {}
    old = old if isinstance(old, dict) else {}
    for key, value in new.items():
        if top and (key in _SKIPPED or key == "status"):
            continue
        before = old.get(key)
        if before == value:
            continue
        if top and key == "metadata":
            value = {k: v for k, v in value.items() if k not in _SKIPPED_META}
            before = {k: v for k, v in (before or {}).items() if k not in _SKIPPED_META}
            if value == before:
                continue
        if isinstance(value, dict) and isinstance(before, dict) and value:
            out[f"f:{key}"] = changed(before, value, False)
        else:
            out[f"f:{key}"] = fields_of(value, False) if isinstance(value, dict) else {}
    return out


def union(a: JSON, b: JSON) -> JSON:
    """Both sets of fields; an empty dict is a leaf, so a subtree wins over a leaf."""
    out = dict(a)
    for key, value in b.items():
        mine = out.get(key)
        out[key] = union(mine, value) if mine and value else (value or mine or {})
    return out


def drop_unapplied(live: JSON, before: JSON, after: JSON) -> None:
    """Remove, in place, fields a manager applied before and no longer applies (no other owners)."""
    for key, sub in before.items():
        name = key[2:]
        if key not in after:
            live.pop(name, None)
        elif sub and isinstance(live.get(name), dict):
            drop_unapplied(live[name], sub, after[key])


def record(
    entries: list[JSON],
    manager: str,
    operation: str,
    api_version: str,
    fields: JSON,
    subresource: str,
    stamp: str,
) -> list[JSON]:
    """`managedFields` with this manager's entry replaced (Apply) or extended (Update)."""
    out, found = [], False
    for entry in entries:
        same = (
            entry.get("manager") == manager
            and entry.get("operation") == operation
            and entry.get("subresource", "") == subresource
        )
        if same:
            found = True
            merged = fields if operation == "Apply" else union(entry.get("fieldsV1") or {}, fields)
            entry = {**entry, "apiVersion": api_version, "time": stamp, "fieldsV1": merged}
        out.append(entry)
    if not found and fields:
        entry = {
            "manager": manager,
            "operation": operation,
            "apiVersion": api_version,
            "time": stamp,
            "fieldsType": "FieldsV1",
            "fieldsV1": fields,
        }
        if subresource:
            entry["subresource"] = subresource
        out.append(entry)
    return out
