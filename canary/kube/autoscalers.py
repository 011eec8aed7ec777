"""The primary's HorizontalPodAutoscaler: created from the target's at initialization, updated at promotion."""

from __future__ import annotations

from typing import Any

from canary.api.canary import Canary
from canary.kube import objects
from canary.kube.client import MERGE_PATCH, Kube, is_conflict, raw, read
from canary.kube.names import is_owned_by, primary_name
from canary.kube.patches import conditional, merge_diff
from canary.kube.workloads import CONFLICT_RETRIES, ForeignObject

JSON = dict[str, Any]


def target_autoscaler(kube: Kube, canary: Canary) -> JSON | None:
    """The HPA named by `spec.autoscalerRef`, or None when there is none or it does not exist."""
    ref = canary.spec.autoscaler_ref
    if ref is None:
        return None
    return read(
        kube.autoscaling.read_namespaced_horizontal_pod_autoscaler,
        ref.name,
        canary.metadata.namespace,
    )


def min_replicas(autoscaler: JSON) -> int:
    """The HPA's minReplicas (1 when unset, as the API server defaults it)."""
    return int((autoscaler.get("spec") or {}).get("minReplicas") or 1)


def _read_owned(kube: Kube, canary: Canary, name: str) -> JSON | None:
    live = read(
        kube.autoscaling.read_namespaced_horizontal_pod_autoscaler, name, canary.metadata.namespace
    )
    if live is not None and not is_owned_by(live, canary):
        # Like the primary Deployment, an HPA we did not create is never taken over.
        raise ForeignObject(
            f"horizontalpodautoscaler {name} exists and is not owned by this Canary"
        )
    return live


def _create(kube: Kube, canary: Canary, autoscaler: JSON) -> None:
    body = objects.primary_autoscaler(canary, autoscaler)
    raw(
        kube.autoscaling.create_namespaced_horizontal_pod_autoscaler,
        canary.metadata.namespace,
        body,
    )


def read_primary_autoscaler(kube: Kube, canary: Canary, autoscaler: JSON) -> JSON | None:
    """`<hpa>-primary` as it is now, or None when absent; ForeignObject when it is not ours.

    One GET (HPAs are not watched): read once per initialisation or promotion, before the first
    write, and handed to `ensure_primary_autoscaler` or `promote_autoscaler`.
    """
    return _read_owned(kube, canary, primary_name(autoscaler["metadata"]["name"]))


def ensure_primary_autoscaler(
    kube: Kube, canary: Canary, autoscaler: JSON, live: JSON | None
) -> None:
    """Create `<hpa>-primary` when it does not exist (`live`, as `read_primary_autoscaler`
    answered in this reconcile); an existing one waits for the promotion."""
    if live is None:
        _create(kube, canary, autoscaler)


def _differs(live: JSON, desired: JSON) -> bool:
    spec = live.get("spec") or {}
    return any(
        spec.get(k) != desired.get(k) for k in ("scaleTargetRef", *objects.AUTOSCALER_FIELDS)
    )


def promote_autoscaler(kube: Kube, canary: Canary, autoscaler: JSON, live: JSON | None) -> None:
    """Give `<hpa>-primary` the target HPA's spec, only when it changed (a merge patch carrying
    the resourceVersion of `live`, as `read_primary_autoscaler` answered in this reconcile, which
    replaces the spec as a PUT would). A 409 costs one GET, then another try."""
    name = primary_name(autoscaler["metadata"]["name"])
    desired = objects.primary_autoscaler_spec(canary, autoscaler)
    for attempt in range(CONFLICT_RETRIES):
        if attempt:
            live = _read_owned(kube, canary, name)
        if live is None:
            _create(kube, canary, autoscaler)
            return
        if not _differs(live, desired):
            return
        change = merge_diff({"spec": live.get("spec") or {}}, {"spec": desired})
        try:
            raw(
                kube.autoscaling.patch_namespaced_horizontal_pod_autoscaler,
                name,
                canary.metadata.namespace,
                conditional(change, live),
                _content_type=MERGE_PATCH,
            )
            return
        except Exception as error:
            if not is_conflict(error):
                raise
    raise RuntimeError(f"gave up updating horizontalpodautoscaler {name} after repeated conflicts")
