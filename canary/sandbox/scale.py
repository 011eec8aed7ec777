"""The `/scale` subresource of Deployments and ReplicaSets (autoscaling/v1 Scale), for `kubectl scale`."""

from __future__ import annotations

from typing import Any

from canary.sandbox import errors, patches
from canary.sandbox.errors import Cause
from canary.sandbox.objects import JSON
from canary.sandbox.resources import ResourceType
from canary.sandbox.store import Store, WriteOptions

SCALABLE = frozenset({"deployments.apps", "replicasets.apps"})


def scale_of(obj: JSON) -> JSON:
    """The Scale view of a workload: spec.replicas, status.replicas and the selector as a string."""
    meta, spec = obj["metadata"], obj.get("spec") or {}
    labels = (spec.get("selector") or {}).get("matchLabels") or {}
    return {
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            k: meta[k]
            for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
            if k in meta
        },
        "spec": {"replicas": spec.get("replicas", 0)},
        "status": {
            "replicas": (obj.get("status") or {}).get("replicas", 0),
            "selector": ",".join(f"{k}={v}" for k, v in sorted(labels.items())),
        },
    }


def get(store: Store, rt: ResourceType, namespace: str, name: str) -> JSON:
    return scale_of(store.get(rt, namespace, name))


def write(store: Store, rt: ResourceType, namespace: str, name: str, content_type: str,
          body: Any, opts: WriteOptions) -> JSON:  # fmt: skip
    """PUT (content type None) or PATCH of the Scale; the workload's spec.replicas changes."""
    # Read, patch and write under the store's (re-entrant) lock, as GuaranteedUpdate would.
    with store.lock:
        current = scale_of(store.get(rt, namespace, name))
        if content_type == patches.JSON_PATCH:
            wanted = patches.json_patch(current, body)
        elif not isinstance(body, dict):
            raise errors.bad_request("the body of the request must be a Scale object")
        elif content_type == patches.STRATEGIC:
            wanted = patches.strategic_merge(current, body)
        elif content_type == patches.MERGE:
            wanted = patches.merge_patch(current, body)
        else:
            wanted = body
        replicas = (wanted.get("spec") or {}).get("replicas")
        if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
            raise errors.invalid("Scale", "autoscaling", name, [Cause(
                "FieldValueInvalid", f"Invalid value: {replicas}: must be greater than or equal "
                "to 0", "spec.replicas")])  # fmt: skip
        change: JSON = {"spec": {"replicas": replicas}}
        precondition = (wanted.get("metadata") or {}).get("resourceVersion")
        if precondition:
            change["metadata"] = {"resourceVersion": precondition}
        result = store.patch(rt, namespace, name, patches.MERGE, change, opts)
    return scale_of(result.body)
