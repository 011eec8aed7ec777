"""Manual requests (promote, abort, pause...) read from an annotation on the Canary."""

from __future__ import annotations

from collections.abc import Mapping

from canary.engine.types import ManualRequest, RequestKind

REQUEST_ANNOTATION = "canary.dev/request"
"""`<kind>` or `<kind>/<id>`: each distinct value is acted on once; a new id repeats a request."""


def manual_request(annotations: Mapping[str, str]) -> ManualRequest | None:
    """The request in the annotation; None when there is none or its kind is unknown."""
    value = annotations.get(REQUEST_ANNOTATION, "").strip()
    if not value:
        return None
    kind, _, _ = value.partition("/")
    try:
        return ManualRequest(id=value, kind=RequestKind(kind))
    except ValueError:
        return None
