"""Names and well-known keys of the objects a Canary owns, in one place so builders and readers agree."""

from __future__ import annotations

from dataclasses import dataclass

from canary.api.canary import Canary
from canary.api.common import API_VERSION

PRIMARY_SUFFIX = "-primary"
CANARY_SUFFIX = "-canary"
SELECTOR_LABELS = ("app", "name", "app.kubernetes.io/name")
"""Labels tried, in order, to find the target's selector label (Flagger's `-selector-labels`)."""

FINALIZER = "canary.dev/finalizer"
ORIGINAL_ANNOTATION = "canary.dev/original-configuration"
"""On a taken-over Service or VirtualService: the JSON of what was there, to restore it."""
CONFIG_TRACKING_ANNOTATION = "canary.dev/config-tracking"
"""On the target Deployment: `disabled` opts out of ConfigMap/Secret tracking."""
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
MANAGER = "canary"
AB_ROUTE_NAME = "ab-testing"
WEIGHTED_ROUTE_NAME = "primary-canary"


@dataclass(frozen=True)
class Names:
    """Every name derived from a Canary: target, primary, the three Services and the Istio objects."""

    namespace: str
    canary: str
    target: str
    apex: str

    @classmethod
    def of(cls, canary: Canary) -> Names:
        target = canary.spec.target_ref.name
        return cls(
            namespace=canary.metadata.namespace,
            canary=canary.metadata.name,
            target=target,
            apex=canary.spec.service.name or target,
        )

    @property
    def primary(self) -> str:
        return self.target + PRIMARY_SUFFIX

    @property
    def primary_service(self) -> str:
        return self.apex + PRIMARY_SUFFIX

    @property
    def canary_service(self) -> str:
        return self.apex + CANARY_SUFFIX

    @property
    def virtual_service(self) -> str:
        return self.apex

    @property
    def primary_rule(self) -> str:
        return self.primary_service

    @property
    def canary_rule(self) -> str:
        return self.canary_service


def primary_name(name: str) -> str:
    """The `-primary` copy of a Deployment, ConfigMap or Secret."""
    return name + PRIMARY_SUFFIX


def owner_reference(canary: Canary) -> dict[str, object]:
    """An ownerReference to the Canary: deleting it garbage-collects what the controller created."""
    return {
        "apiVersion": API_VERSION,
        "kind": "Canary",
        "name": canary.metadata.name,
        "uid": canary.metadata.uid or "",
        "controller": True,
        "blockOwnerDeletion": True,
    }


def is_owned_by(obj: dict[str, object], canary: Canary) -> bool:
    """True when the object carries an ownerReference to this Canary (by uid)."""
    metadata = obj.get("metadata")
    refs = metadata.get("ownerReferences") if isinstance(metadata, dict) else None
    return any(
        isinstance(ref, dict)
        and ref.get("kind") == "Canary"
        and ref.get("uid") == canary.metadata.uid
        for ref in refs or []
    )
