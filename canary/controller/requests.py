"""Manual requests (promote, abort, pause...) read from an annotation on the Canary."""

from __future__ import annotations

from collections.abc import Mapping

from canary.engine.types import ManualRequest, RequestKind

REQUEST_ANNOTATION = "canary.dev/request"
"""`<kind>` or `<kind>/<id>`: each distinct value is acted on once; a new id repeats a request."""


def manual_request(annotations: Mapping[str, str]) -> ManualRequest | None:
    """The request in the annotation; None when there is none.

    An unknown kind gives a request with `kind=None`, which the engine refuses with a reason and
    an Event instead of dropping it without a word.
    """
    value = annotations.get(REQUEST_ANNOTATION, "").strip()
    if not value:
        return None
    kind, _, _ = value.partition("/")
    known = kind in {member.value for member in RequestKind}
    return ManualRequest(id=value, kind=RequestKind(kind) if known else None)
