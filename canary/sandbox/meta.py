"""ObjectMeta rules shared by every kind: names, labels, server-owned fields and timestamps."""

from __future__ import annotations

import datetime
import random
import re
import uuid
from typing import Any

from canary.sandbox.errors import Cause

JSON = dict[str, Any]

OBJECT_META_FIELDS = frozenset({
    "name", "generateName", "namespace", "selfLink", "uid", "resourceVersion", "generation",
    "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "labels", "annotations",
    "ownerReferences", "finalizers", "managedFields",
})  # fmt: skip
# Fields a client cannot set: the server keeps its own values on every write.
SERVER_OWNED = (
    "uid",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "generation",
    "selfLink",
)

_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_LABEL_1123 = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_LABEL_1035 = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_QUALIFIED = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")

NAME_RULES: dict[str, tuple[re.Pattern[str], int, str]] = {
    "subdomain": (
        _SUBDOMAIN,
        253,
        "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, "
        "'-' or '.', and must start and end with an alphanumeric character (e.g. "
        "'example.com', regex used for validation is "
        r"'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')",
    ),
    "label": (
        _LABEL_1123,
        63,
        "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', "
        "and must start and end with an alphanumeric character (e.g. 'my-name',  or "
        "'123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')",
    ),
    "dns1035": (
        _LABEL_1035,
        63,
        "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start "
        "with an alphabetic character, and end with an alphanumeric character (e.g. "
        "'my-name',  or 'abc-123', regex used for validation is "
        "'[a-z]([-a-z0-9]*[a-z0-9])?')",
    ),
}
NAME_RULE_BY_RESOURCE = {"namespaces": "label", "services": "dns1035"}


def now() -> str:
    """RFC 3339 with second precision, as `metav1.Time` serialises."""
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def new_uid() -> str:
    return str(uuid.uuid4())


def generated_name(prefix: str) -> str:
    # The alphabet of `utilrand.String`: no vowels, so no words, and no confusable characters.
    return prefix + "".join(random.choices("bcdfghjklmnpqrstvwxz2456789", k=5))


def validate_name(name: str, rule: str, field: str = "metadata.name") -> list[Cause]:
    pattern, limit, text = NAME_RULES[rule]
    problems = []
    if len(name) > limit:
        problems.append(f"must be no more than {limit} characters")
    if not pattern.match(name):
        problems.append(text)
    return [Cause("FieldValueInvalid", f'Invalid value: "{name}": {p}', field) for p in problems]


def _qualified_name(key: str, field: str) -> list[Cause]:
    prefix, _, name = key.rpartition("/")
    ok = bool(name) and len(name) <= 63 and bool(_QUALIFIED.match(name))
    ok = ok and (not prefix or (len(prefix) <= 253 and bool(_SUBDOMAIN.match(prefix))))
    if ok:
        return []
    return [
        Cause(
            "FieldValueInvalid",
            f'Invalid value: "{key}": name part must consist of alphanumeric characters, '
            "'-', '_' or '.', and must start and end with an alphanumeric character",
            field,
        )
    ]


def validate_meta(meta: JSON, name_rule: str) -> list[Cause]:
    """Name, labels, annotations and ownerReferences, as `ValidateObjectMeta` checks them."""
    causes: list[Cause] = []
    name = meta.get("name")
    if not name:
        causes.append(
            Cause(
                "FieldValueRequired",
                "Required value: name or generateName is required",
                "metadata.name",
            )
        )
    elif isinstance(name, str):
        causes += validate_name(name, name_rule)
    labels = meta.get("labels") or {}
    for key, value in labels.items() if isinstance(labels, dict) else ():
        causes += _qualified_name(key, "metadata.labels")
        if not isinstance(value, str) or len(value) > 63 or not _LABEL_VALUE.match(value):
            causes.append(
                Cause(
                    "FieldValueInvalid",
                    f'Invalid value: "{value}": a valid label must be an empty string or '
                    "consist of alphanumeric characters, '-', '_' or '.', and must start "
                    "and end with an alphanumeric character",
                    "metadata.labels",
                )
            )
    annotations = meta.get("annotations") or {}
    for key in annotations if isinstance(annotations, dict) else ():
        causes += _qualified_name(key, "metadata.annotations")
    for i, ref in enumerate(meta.get("ownerReferences") or []):
        for required in ("apiVersion", "kind", "name", "uid"):
            if not isinstance(ref, dict) or not ref.get(required):
                causes.append(
                    Cause(
                        "FieldValueRequired",
                        "Required value",
                        f"metadata.ownerReferences[{i}].{required}",
                    )
                )
    return causes


def prune_meta(obj: JSON) -> None:
    """Metadata is a typed struct on every kind, so unknown fields in it never survive."""
    meta = obj.get("metadata")
    if isinstance(meta, dict):
        for key in [k for k in meta if k not in OBJECT_META_FIELDS]:
            del meta[key]


_META_TYPES: dict[str, tuple[type, str]] = {
    "name": (str, "string"),
    "generateName": (str, "string"),
    "namespace": (str, "string"),
    "uid": (str, "string"),
    "resourceVersion": (str, "string"),
    "generation": (int, "int64"),
    "labels": (dict, "map[string]string"),
    "annotations": (dict, "map[string]string"),
    "finalizers": (list, "[]string"),
    "ownerReferences": (list, "[]v1.OwnerReference"),
    "managedFields": (list, "[]v1.ManagedFieldsEntry"),
}


def type_errors(meta: JSON) -> str | None:
    """The decoder's complaint about a wrongly typed ObjectMeta field, if any (a 400)."""
    for key, (expected, go_type) in _META_TYPES.items():
        value = meta.get(key)
        if value is None:
            continue
        ok = isinstance(value, expected) and not isinstance(value, bool)
        if ok and expected is dict:
            ok = all(isinstance(v, str) for v in value.values())
        if ok and key == "finalizers":
            ok = all(isinstance(v, str) for v in value)
        if ok and key in ("ownerReferences", "managedFields"):
            ok = all(isinstance(v, dict) for v in value)
        if not ok:
            return (f"json: cannot unmarshal {type(value).__name__} into Go struct field "
                    f"ObjectMeta.metadata.{key} of type {go_type}")  # fmt: skip
    return None
