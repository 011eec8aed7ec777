"""Writing a Canary's status through the `/status` subresource, and recording Kubernetes Events on it."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from kubernetes.client.exceptions import ApiException

from canary import redact
from canary.api.canary import Canary, CanaryStatus
from canary.api.common import API_VERSION, GROUP, VERSION, Condition
from canary.kube.client import (
    MERGE_PATCH,
    Kube,
    cached_read,
    create_once,
    is_conflict,
    is_not_found,
    raw,
    read,
    written,
)
from canary.kube.patches import conditional, merge_diff

JSON = dict[str, Any]
PLURAL = "canaries"
COMPONENT = "canary-controller"
CONFLICT_RETRIES = 5


def read_canary(kube: Kube, namespace: str, name: str) -> JSON | None:
    """The Canary, from the cache when it holds the namespace (see cached_read)."""
    return cached_read(
        kube,
        PLURAL,
        namespace,
        name,
        kube.custom.get_namespaced_custom_object,
        GROUP,
        VERSION,
        namespace,
        PLURAL,
        name,
    )


def write_status(kube: Kube, namespace: str, name: str, status: CanaryStatus) -> bool:
    """Write the status, retrying on conflict with a fresh GET; False when the Canary is gone.

    A JSON merge patch of the `/status` subresource from the Canary as cached to the wanted
    status: fields the engine cleared are sent as `null`, so they are cleared here too. It
    carries the cached resourceVersion: a stale copy costs a 409, after which the Canary is
    read again from the API (`written` marks it stale), once per conflict.
    """
    body_status = redacted_status(status.to_wire())
    for _ in range(CONFLICT_RETRIES):
        live = read_canary(kube, namespace, name)
        if live is None:
            return False
        change = merge_diff({"status": live.get("status")}, {"status": body_status})
        if not change:
            return True
        try:
            written(
                kube,
                PLURAL,
                namespace,
                name,
                kube.custom.patch_namespaced_custom_object_status,
                GROUP,
                VERSION,
                namespace,
                PLURAL,
                name,
                conditional(change, live),
                _content_type=MERGE_PATCH,
            )
            return True
        except Exception as error:
            if is_not_found(error):
                return False
            if not is_conflict(error):
                raise
    raise RuntimeError(f"gave up writing the status of canary {namespace}/{name} after conflicts")


def set_condition(
    status: CanaryStatus,
    kind: str,
    value: Literal["True", "False", "Unknown"],
    reason: str,
    message: str,
    now: datetime,
) -> bool:
    """Set one condition in place; True when its status, reason or message changed.

    Kubernetes semantics: lastTransitionTime moves only when the status changes.
    """
    existing = next((c for c in status.conditions if c.type == kind), None)
    if existing is not None and (existing.status, existing.reason, existing.message) == (
        value,
        reason,
        message,
    ):
        return False
    moved = existing is None or existing.status != value
    condition = Condition(
        type=kind,
        status=value,
        reason=reason,
        message=message[:1024],
        last_transition_time=now if moved or existing is None else existing.last_transition_time,
    )
    status.conditions = [c for c in status.conditions if c.type != kind] + [condition]
    return True


def redacted_status(wire: JSON) -> JSON:
    """The free-text fields of a status (messages, reasons, evidence) redacted.

    Only those: phases, reasons of conditions and checksums are the engine's own words, and a
    Secret value that happened to equal one must not corrupt the state it reads back.
    """
    out = dict(wire)
    if isinstance(out.get("message"), str):
        out["message"] = redact.text(out["message"])
    out["conditions"] = [_redact_keys(c, "message") for c in out.get("conditions") or []]
    out["metrics"] = [_redact_keys(m, "reason", "evidence") for m in out.get("metrics") or []]
    out["history"] = [_redact_keys(h, "reason") for h in out.get("history") or []]
    return {k: v for k, v in out.items() if v != [] or k in wire}


def _redact_keys(item: JSON, *keys: str) -> JSON:
    return {k: redact.value(v) if k in keys else v for k, v in item.items()}


def set_finalizer(kube: Kube, canary_obj: JSON, finalizer: str, present: bool) -> None:
    """Add or remove one finalizer, with the resourceVersion as a precondition."""
    metadata = canary_obj["metadata"]
    finalizers = list(metadata.get("finalizers") or [])
    if (finalizer in finalizers) == present:
        return
    wanted = [*finalizers, finalizer] if present else [f for f in finalizers if f != finalizer]
    written(
        kube,
        PLURAL,
        metadata["namespace"],
        metadata["name"],
        kube.custom.patch_namespaced_custom_object,
        GROUP,
        VERSION,
        metadata["namespace"],
        PLURAL,
        metadata["name"],
        {"metadata": {"finalizers": wanted, "resourceVersion": metadata["resourceVersion"]}},
        _content_type=MERGE_PATCH,
    )


@dataclass(frozen=True)
class Involved:
    """The Canary an Event is about (also usable when the Canary does not parse)."""

    name: str
    namespace: str
    uid: str = ""

    @classmethod
    def of(cls, canary: Canary) -> Involved:
        meta = canary.metadata
        return cls(meta.name, meta.namespace, meta.uid or "")


def event_body(meta: Involved, type_: str, reason: str, message: str, now: datetime) -> JSON:
    """A core/v1 Event about the Canary (what `kubectl describe canary` shows)."""
    stamp = now.strftime("%Y-%m-%dT%H:%M:%SZ")
    message = redact.text(message)
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {
            "name": event_name(meta, type_, reason, message),
            "namespace": meta.namespace,
        },
        "involvedObject": {
            "apiVersion": API_VERSION,
            "kind": "Canary",
            "name": meta.name,
            "namespace": meta.namespace,
            "uid": meta.uid,
        },
        "reason": reason,
        "message": message[:1024],
        "type": type_,
        "count": 1,
        "firstTimestamp": stamp,
        "lastTimestamp": stamp,
        "source": {"component": COMPONENT},
        "reportingComponent": COMPONENT,
    }


def event_name(meta: Involved, type_: str, reason: str, message: str) -> str:
    """The same event about the same Canary always gets the same name, so that a repeat is
    counted on the existing Event (as client-go's recorder aggregates) instead of piling up."""
    key = "\0".join((meta.uid, type_, reason, message)).encode()
    return f"{meta.name}.{hashlib.sha256(key).hexdigest()[:16]}"


def record_event(
    kube: Kube, about: Involved, type_: str, reason: str, message: str, now: datetime
) -> None:
    """Create the Event, or count a repeat on the existing one (`event_name` is the same).

    A repeat this controller remembers recording (`Cache.events`) is one merge patch of its count
    and lastTimestamp, with no read, as client-go's recorder patches a correlated Event; a 404
    (the Event expired, by default after an hour) creates it afresh. An Event it does not
    remember is created; a 409 AlreadyExists (recorded before a restart, or forgotten) costs one
    GET for its count, then a patch conditional on that read.
    """
    body = event_body(about, type_, reason, message, now)
    name, namespace = body["metadata"]["name"], body["metadata"]["namespace"]
    seen = kube.cache.events.count(namespace, name)
    if seen is not None and _count_remembered(kube, body, seen + 1, now):
        return
    try:
        answer = create_once(kube.core.create_namespaced_event, namespace, body)
    except ApiException as error:
        if not is_conflict(error):
            raise
        _count_again(kube, body, now)
        return
    kube.cache.events.remember(namespace, name, int(answer.get("count") or 1))


def _count_patch(count: int, now: datetime) -> JSON:
    return {"count": count, "lastTimestamp": now.strftime("%Y-%m-%dT%H:%M:%SZ")}


def _count_remembered(kube: Kube, body: JSON, count: int, now: datetime) -> bool:
    """Patch the count of an Event we recorded; False when it no longer exists.

    Unconditional (no resourceVersion, so `raw` sends it once): only this controller writes the
    Events it names, and a lost race would only lose one count of a report.
    """
    name, namespace = body["metadata"]["name"], body["metadata"]["namespace"]
    try:
        answer = raw(
            kube.core.patch_namespaced_event,
            name,
            namespace,
            _count_patch(count, now),
            _content_type=MERGE_PATCH,
        )
    except ApiException as error:
        if not is_not_found(error):
            raise
        kube.cache.events.forget(namespace, name)
        return False
    kube.cache.events.remember(namespace, name, int(answer.get("count") or count))
    return True


def _count_again(kube: Kube, body: JSON, now: datetime) -> None:
    name, namespace = body["metadata"]["name"], body["metadata"]["namespace"]
    existing = read(kube.core.read_namespaced_event, name, namespace)
    if existing is None:  # deleted in between (Events expire): record it afresh
        answer = raw(kube.core.create_namespaced_event, namespace, body)
        kube.cache.events.remember(namespace, name, int(answer.get("count") or 1))
        return
    count = int(existing.get("count") or 1) + 1
    patch = {
        "metadata": {"resourceVersion": existing["metadata"]["resourceVersion"]},
        **_count_patch(count, now),
    }
    # A lost race only loses one count: an Event is a report, never worth a retry loop.
    try:
        raw(kube.core.patch_namespaced_event, name, namespace, patch, _content_type=MERGE_PATCH)
    except ApiException as error:
        if not is_conflict(error):
            raise
        return
    kube.cache.events.remember(namespace, name, count)
