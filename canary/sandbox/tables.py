"""`Table` responses (meta.k8s.io/v1), which `kubectl get` asks for: the server picks the columns."""

from __future__ import annotations

import datetime
import json
import re
from collections.abc import Callable
from typing import Any

from canary.sandbox.resources import ResourceType

JSON = dict[str, Any]
Cell = Callable[[JSON], Any]

NAME_DOC = "Name must be unique within a namespace."
AGE_DOC = (
    "CreationTimestamp is a timestamp representing the server time when this object was created."
)


def age(stamp: Any, now: datetime.datetime | None = None) -> str:
    """`5s`, `3m`, `2h`, `4d`: how kubectl and the built-in printers show a timestamp."""
    if not isinstance(stamp, str):
        return "<unknown>"
    try:
        then = datetime.datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return "<invalid>"
    seconds = int(((now or datetime.datetime.now(datetime.UTC)) - then).total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= 2 * size or (unit == "m" and seconds >= 120):
            return f"{seconds // size}{unit}"
    return f"{max(seconds, 0)}s"


def _get(obj: Any, *path: str) -> Any:
    for key in path:
        obj = obj.get(key) if isinstance(obj, dict) else None
    return obj


def _ports(obj: JSON) -> str:
    ports = _get(obj, "spec", "ports") or []
    return ",".join(f"{p.get('port')}/{p.get('protocol', 'TCP')}" for p in ports) or "<none>"


def _ready(obj: JSON) -> str:
    return f"{_get(obj, 'status', 'readyReplicas') or 0}/{_get(obj, 'spec', 'replicas') or 0}"


def _hpa_target(spec: JSON, status: JSON) -> str:
    """One metric as the HPA printer shows it: current/target, `<unknown>` before a measurement."""
    kind = str(spec.get("type", ""))
    source_key = kind[:1].lower() + kind[1:]
    source, current = (
        spec.get(source_key) or {},
        (status.get(source_key) or {}).get("current") or {},
    )
    target = source.get("target") or {}
    if "averageUtilization" in target:
        now = current.get("averageUtilization")
        shown = f"{now if now is not None else '<unknown>'}{'%' if now is not None else ''}"
        return f"{source.get('name')}: {shown}/{target['averageUtilization']}%"
    key = "averageValue" if "averageValue" in target else "value"
    prefix = f"{source.get('name')}: " if kind in ("Resource", "ContainerResource") else ""
    average = " (avg)" if key == "averageValue" and kind in ("External", "Object") else ""
    return f"{prefix}{current.get(key, '<unknown>')}/{target.get(key)}{average}"


def _hpa_targets(obj: JSON) -> str:
    specs = _get(obj, "spec", "metrics") or []
    statuses = _get(obj, "status", "currentMetrics") or []
    shown = [_hpa_target(m, statuses[i] if i < len(statuses) else {}) for i, m in enumerate(specs)]
    more = f" + {len(shown) - 2} more..." if len(shown) > 2 else ""
    return ", ".join(shown[:2]) + more if shown else "<none>"


def _reference(obj: JSON) -> str:
    ref = _get(obj, "spec", "scaleTargetRef") or {}
    return f"{ref.get('kind')}/{ref.get('name')}"


# Columns of the built-in printers (pkg/printers/internalversion), the ones kubectl users expect.
BUILTIN_COLUMNS: dict[str, list[tuple[str, str, Cell]]] = {
    "deployments.apps": [
        ("Ready", "string", _ready),
        ("Up-to-date", "integer", lambda o: _get(o, "status", "updatedReplicas") or 0),
        ("Available", "integer", lambda o: _get(o, "status", "availableReplicas") or 0),
    ],
    "services": [
        ("Type", "string", lambda o: _get(o, "spec", "type")),
        ("Cluster-IP", "string", lambda o: _get(o, "spec", "clusterIP") or "<none>"),
        ("External-IP", "string", lambda o: "<none>"),
        ("Port(s)", "string", _ports),
    ],
    "configmaps": [("Data", "integer", lambda o: len(o.get("data") or {}))],
    "secrets": [
        ("Type", "string", lambda o: o.get("type")),
        ("Data", "integer", lambda o: len(o.get("data") or {})),
    ],
    "namespaces": [("Status", "string", lambda o: _get(o, "status", "phase"))],
    "pods": [("Status", "string", lambda o: _get(o, "status", "phase"))],
    "leases.coordination.k8s.io": [("Holder", "string", lambda o: _get(o, "spec", "holderIdentity"))],
    "horizontalpodautoscalers.autoscaling": [
        ("Reference", "string", _reference),
        ("Targets", "string", _hpa_targets),
        ("MinPods", "string", lambda o: _get(o, "spec", "minReplicas") or "<unset>"),
        ("MaxPods", "integer", lambda o: _get(o, "spec", "maxReplicas")),
        ("Replicas", "integer", lambda o: _get(o, "status", "currentReplicas") or 0),
    ],
    "events": [
        ("Type", "string", lambda o: o.get("type")),
        ("Reason", "string", lambda o: o.get("reason")),
        ("Object", "string", lambda o: "/".join(filter(None, (
            str(_get(o, "involvedObject", "kind") or "").lower(),
            _get(o, "involvedObject", "name"))))),
        ("Message", "string", lambda o: o.get("message")),
    ],
}  # fmt: skip

_STEP = re.compile(
    r'\.([A-Za-z0-9_-]+)|\[(\d+)\]|\[\?\(@\.([A-Za-z0-9_.-]+)==["\']?([^"\')]*)["\']?\)\]'
)


def json_path(obj: Any, path: str) -> Any:
    """The subset of JSONPath printer columns use: `.a.b`, `[0]` and `[?(@.type=="Ready")]`."""
    values = [obj]
    for field, index, key, wanted in _STEP.findall(path.strip("{}")):
        step = []
        for value in values:
            if field and isinstance(value, dict) and field in value:
                step.append(value[field])
            elif index and isinstance(value, list) and int(index) < len(value):
                step.append(value[int(index)])
            elif key and isinstance(value, list):
                step += [
                    v
                    for v in value
                    if isinstance(v, dict) and str(_get(v, *key.split("."))) == wanted
                ]
        values = step
    return values[0] if len(values) == 1 else (values or None)


def _columns(rt: ResourceType, version: str) -> list[tuple[str, str, Cell]]:
    printer = rt.printer_columns.get(version or rt.storage_version)
    if printer:
        return [(str(c.get("name", "")), str(c.get("type", "string")),
                 _custom_cell(str(c.get("jsonPath", "")), str(c.get("type", ""))))
                for c in printer]  # fmt: skip
    created: Cell = lambda o: age(_get(o, "metadata", "creationTimestamp"))  # noqa: E731
    return [*BUILTIN_COLUMNS.get(rt.key, []), ("Age", "string", created)]


def _priorities(rt: ResourceType, version: str) -> dict[str, int]:
    """A CRD column's priority: kubectl shows columns above 0 only with `-o wide`."""
    printer = rt.printer_columns.get(version or rt.storage_version) or ()
    return {str(c.get("name", "")): int(c.get("priority", 0) or 0) for c in printer}


def _custom_cell(path: str, kind: str) -> Cell:
    def cell(obj: JSON) -> Any:
        value = json_path(obj, path)
        if kind == "date":
            return age(value) if value is not None else None
        if isinstance(value, dict | list):
            return json.dumps(value)
        return value

    return cell


def table(rt: ResourceType, items: list[JSON], list_meta: JSON, version: str = "") -> JSON:
    """The objects as a Table, each row with the object's metadata (PartialObjectMetadata)."""
    columns = _columns(rt, version)
    definitions = [{"name": "Name", "type": "string", "format": "name", "description": NAME_DOC,
                    "priority": 0}]  # fmt: skip
    priorities = _priorities(rt, version)
    definitions += [{"name": name, "type": kind, "format": "", "description": AGE_DOC
                     if name == "Age" else name, "priority": priorities.get(name, 0)}
                    for name, kind, _ in columns]  # fmt: skip
    rows = [{
        "cells": [obj["metadata"]["name"], *(cell(obj) for _, _, cell in columns)],
        "object": {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                   "metadata": obj["metadata"]},
    } for obj in items]  # fmt: skip
    return {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": list_meta,
            "columnDefinitions": definitions, "rows": rows}  # fmt: skip
