"""Readiness of a Deployment from its status, the way `kubectl rollout status` judges it."""

from __future__ import annotations

import math
from typing import Any

from canary.engine.types import Readiness

JSON = dict[str, Any]


def _deadline_exceeded(status: JSON) -> bool:
    return any(
        c.get("type") == "Progressing" and c.get("reason") == "ProgressDeadlineExceeded"
        for c in status.get("conditions") or []
    )


def deployment_readiness(deployment: JSON | None, threshold_percent: int = 100) -> Readiness:
    """Ready when the rollout of the current generation is done and enough replicas are available.

    `threshold_percent` is the share of the desired replicas that must be updated and available.
    """
    if deployment is None:
        return Readiness(ready=False, reason="the Deployment does not exist")
    name = deployment.get("metadata", {}).get("name", "")
    status = deployment.get("status") or {}
    if _deadline_exceeded(status):
        return Readiness(
            ready=False,
            reason=f"deployment {name} exceeded its progress deadline",
            deadline_exceeded=True,
        )
    generation = deployment.get("metadata", {}).get("generation") or 0
    observed = status.get("observedGeneration") or 0
    if observed < generation:
        return Readiness(ready=False, reason=f"waiting for deployment {name} spec to be observed")
    desired = deployment.get("spec", {}).get("replicas", 1)
    needed = math.ceil(desired * threshold_percent / 100)
    updated = status.get("updatedReplicas") or 0
    available = status.get("availableReplicas") or 0
    if updated < needed:
        return Readiness(
            ready=False,
            reason=f"waiting for deployment {name} rollout: {updated} of {desired} updated replicas",
        )
    total = status.get("replicas") or 0
    if threshold_percent == 100 and total > updated:
        return Readiness(
            ready=False,
            reason=f"waiting for deployment {name} rollout: {total - updated} old replicas are pending termination",
        )
    if available < needed:
        return Readiness(
            ready=False,
            reason=f"waiting for deployment {name} rollout: {available} of {needed} updated replicas are available",
        )
    return Readiness(ready=True)
