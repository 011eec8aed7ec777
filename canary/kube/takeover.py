"""Taking over an existing Service or VirtualService: what was there is kept in an annotation to restore it."""

from __future__ import annotations

import json
from typing import Any

from canary.kube.client import annotations_of
from canary.kube.names import ORIGINAL_ANNOTATION

JSON = dict[str, Any]

SERVICE_FIELDS = ("selector", "ports")
"""The only Service fields the controller changes on a taken-over Service."""


def original_of(obj: JSON) -> JSON | None:
    """The spec recorded when the object was taken over; None if it never was."""
    text = annotations_of(obj).get(ORIGINAL_ANNOTATION)
    return json.loads(text) if text else None


def record_for_service(service: JSON) -> str:
    spec = service.get("spec") or {}
    return json.dumps({k: spec[k] for k in SERVICE_FIELDS if k in spec}, sort_keys=True)


def record_spec(obj: JSON) -> str:
    """The whole spec (VirtualService, DestinationRule): everything in it is replaced."""
    return json.dumps(obj.get("spec") or {}, sort_keys=True)


def annotation_path() -> str:
    """JSON-pointer of the original-configuration annotation (`/` escaped as `~1`)."""
    return "/metadata/annotations/" + ORIGINAL_ANNOTATION.replace("~", "~0").replace("/", "~1")


def record_ops(obj: JSON, record: str) -> list[JSON]:
    """JSON-patch operations that store `record` unless something is already recorded."""
    if original_of(obj) is not None:
        return []
    if not obj.get("metadata", {}).get("annotations"):
        return [
            {"op": "add", "path": "/metadata/annotations", "value": {ORIGINAL_ANNOTATION: record}}
        ]
    return [{"op": "add", "path": annotation_path(), "value": record}]
