"""Schemas of the built-in kinds, read off the official client's models: for pruning and type checks.

The real server decodes built-in kinds into Go structs: unknown fields are dropped (with a warning,
or a 400 under `fieldValidation=Strict`) and a field of the wrong JSON type is a 400. The client's
models list every field with its JSON name and type, which is the same information.
"""

from __future__ import annotations

import functools
import re
from typing import Any

from kubernetes import client

JSON = dict[str, Any]

# Built-in resources and their models; kinds not listed are stored as they come.
MODELS = {
    "deployments.apps": "V1Deployment",
    "replicasets.apps": "V1ReplicaSet",
    "services": "V1Service",
    "configmaps": "V1ConfigMap",
    "secrets": "V1Secret",
    "events": "CoreV1Event",
    "events.events.k8s.io": "EventsV1Event",
    "pods": "V1Pod",
    "namespaces": "V1Namespace",
    "serviceaccounts": "V1ServiceAccount",
    "leases.coordination.k8s.io": "V1Lease",
    "horizontalpodautoscalers.autoscaling": "V2HorizontalPodAutoscaler",
}
# Fields of type resource.Quantity (or maps of them) in the models used here.
QUANTITIES = frozenset({"limits", "requests", "overhead", "sizeLimit", "capacity", "allocatable",
                        "hard", "used"})  # fmt: skip
# Quantities whose names are too common to list above (`value` is also an env var's string).
MODEL_QUANTITIES = {"V2MetricTarget": frozenset({"averageValue", "value"}),
                    "V2MetricValueStatus": frozenset({"averageValue", "value"})}  # fmt: skip
_SCALARS = {"int": "integer", "float": "number", "str": "string", "bool": "boolean",
            "datetime": "string", "date": "string", "bytes": "string"}  # fmt: skip


@functools.cache
def schema(resource_key: str) -> JSON | None:
    """The structural schema of a built-in resource, or None when it has no model here."""
    model = MODELS.get(resource_key)
    return _model(model, {}) if model else None


def _model(name: str, seen: dict[str, JSON]) -> JSON:
    # Recursive types share one dict, so the schema may be cyclic; it is only walked along values.
    if name in seen:
        return seen[name]
    out: JSON = {"type": "object", "nullable": True, "properties": {}}
    seen[name] = out
    cls = getattr(client, name)
    for attr, kind in cls.openapi_types.items():
        field = cls.attribute_map[attr]
        quantities = QUANTITIES | MODEL_QUANTITIES.get(name, frozenset())
        if field in quantities and kind in ("str", "Dict[str, str]"):
            # The client types quantities as strings, but the server also takes JSON numbers.
            quantity: JSON = {"x-kubernetes-int-or-string": True}
            out["properties"][field] = (quantity if kind == "str" else
                                        {"type": "object", "additionalProperties": quantity})  # fmt: skip
        else:
            out["properties"][field] = _of(kind, seen)
    return out


def _of(kind: str, seen: dict[str, JSON]) -> JSON:
    if kind in _SCALARS:
        return {"type": _SCALARS[kind], "nullable": True}
    if kind == "object":
        # IntOrString, Quantity's JSON form, RawExtension, FieldsV1: anything goes.
        return {"x-kubernetes-preserve-unknown-fields": True}
    listed = re.fullmatch(r"List\[(.+)\]", kind)
    if listed:
        return {"type": "array", "nullable": True, "items": _of(listed.group(1), seen)}
    mapped = re.fullmatch(r"Dict\[str, (.+)\]", kind)
    if mapped:
        return {
            "type": "object",
            "nullable": True,
            "additionalProperties": _of(mapped.group(1), seen),
        }
    return _model(kind, seen)
