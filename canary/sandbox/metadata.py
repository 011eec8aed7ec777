"""Metadata-only answers: `Accept: application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1`.

A client that needs only names and labels (an informer on Secrets, say) asks for
PartialObjectMetadata and gets no data: the object's `metadata` and nothing else, in a
PartialObjectMetadataList for a list, and as each watch event's object. As kube-apiserver does,
any of `as=PartialObjectMetadata` or `as=PartialObjectMetadataList` is taken (g=meta.k8s.io,
v=v1 or v1beta1); the emulator does not answer 406 for the one that does not fit the request.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

JSON = dict[str, Any]
API_VERSION = "meta.k8s.io/v1"
KINDS = ("PartialObjectMetadata", "PartialObjectMetadataList")


def requested(accept: str) -> bool:
    """Whether the Accept header's first media type asking for a conversion asks for metadata."""
    for media in accept.split(","):
        params = dict(p.strip().split("=", 1) for p in media.split(";")[1:] if "=" in p)
        if "as" not in params:
            continue
        return (
            params["as"] in KINDS
            and params.get("g") == "meta.k8s.io"
            and params.get("v") in ("v1", "v1beta1")
        )
    return False


def partial(obj: JSON) -> JSON:
    return {"kind": KINDS[0], "apiVersion": API_VERSION, "metadata": obj.get("metadata", {})}


def partial_list(listing: JSON) -> JSON:
    return {
        "kind": KINDS[1],
        "apiVersion": API_VERSION,
        "metadata": listing.get("metadata", {}),
        "items": [partial(item) for item in listing.get("items", [])],
    }


def convert(body: JSON) -> JSON:
    """A GET answer (one object or a list) as metadata only; a Status is left as it is."""
    if body.get("kind") == "Status":
        return body
    return partial_list(body) if "items" in body else partial(body)


def events(
    stream: Generator[tuple[str, JSON], None, None],
) -> Generator[tuple[str, JSON], None, None]:
    """Watch events with metadata-only objects (BOOKMARKs and ERRORs pass as they are)."""
    try:
        for kind, obj in stream:
            yield kind, (partial(obj) if kind in ("ADDED", "MODIFIED", "DELETED") else obj)
    finally:
        stream.close()
