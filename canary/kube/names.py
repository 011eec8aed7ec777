"""Names and well-known keys of the objects a Canary owns, in one place so builders and readers
agree, and Kubernetes' rules for the names and label values derived from a Canary."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

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


# Kubernetes' rules (k8s.io/apimachinery/pkg/util/validation/validation.go).


@dataclass(frozen=True)
class Rule:
    """A Kubernetes name or label-value rule: a pattern and a maximum length."""

    name: str
    pattern: re.Pattern[str]
    max_length: int
    shape: str
    """What the pattern asks for, in words."""


DNS1123_LABEL = Rule(
    "DNS-1123 label",
    re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"),
    63,
    "lowercase letters, digits and '-', starting and ending with a letter or digit",
)
DNS1123_SUBDOMAIN = Rule(
    "DNS-1123 subdomain",
    re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*"),
    253,
    "lowercase letters, digits, '-' and '.', each dot-separated part starting and ending with "
    "a letter or digit",
)
DNS1035_LABEL = Rule(
    "DNS-1035 label",
    re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])?"),
    63,
    "lowercase letters, digits and '-', starting with a letter and ending with a letter or digit",
)
LABEL_VALUE = Rule(
    "label value",
    re.compile(r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?"),
    63,
    "empty, or letters, digits, '-', '_' and '.', starting and ending with a letter or digit",
)
EVENT_SUFFIX_LENGTH = 17
"""`.` and 16 hex digits: the Event names of kube.status.event_name."""


def breaks(rule: Rule, value: str) -> str | None:
    """Why `value` breaks `rule` ("is 64 characters; ..."), or None when it fits."""
    if len(value) > rule.max_length:
        return f"is {len(value)} characters; Kubernetes allows {rule.max_length} for a {rule.name}"
    if not rule.pattern.fullmatch(value):
        return f"is not a valid {rule.name} ({rule.shape})"
    return None


@dataclass(frozen=True)
class Derived:
    """A name or label value the controller writes, the Canary field it comes from, and its rule."""

    field: str
    what: str
    value: str
    rule: Rule
    derived: bool = True
    """False for a name given as is (the Canary's own, the target's)."""

    def problem(self) -> str | None:
        """`field: derived <what> "<value>" <reason>`, or None when it fits."""
        reason = breaks(self.rule, self.value)
        if reason is None:
            return None
        return (
            # JSON quoting: a name with a line separator or control character stays on one line.
            f"{self.field}: {'derived ' if self.derived else ''}{self.what} "
            f"{json.dumps(self.value)} {reason}"
        )


def derived_from_canary(canary: Canary) -> list[Derived]:
    """Every name the controller derives from the Canary alone."""
    names = Names.of(canary)
    apex_field = "spec.service.name" if canary.spec.service.name else "spec.targetRef.name"
    event = f"{canary.metadata.name}.{'0' * (EVENT_SUFFIX_LENGTH - 1)}"
    derived = [
        Derived("metadata.name", "Canary name", canary.metadata.name, DNS1123_SUBDOMAIN, False),
        Derived("metadata.name", "Event name", event, DNS1123_SUBDOMAIN),
        Derived("spec.targetRef.name", "Deployment name", names.target, DNS1123_SUBDOMAIN, False),
        Derived("spec.targetRef.name", "Deployment name", names.primary, DNS1123_SUBDOMAIN),
        Derived(apex_field, "Service name", names.apex, DNS1035_LABEL),
        Derived(apex_field, "Service name", names.primary_service, DNS1035_LABEL),
        Derived(apex_field, "Service name", names.canary_service, DNS1035_LABEL),
        Derived(apex_field, "VirtualService name", names.virtual_service, DNS1123_SUBDOMAIN),
        Derived(apex_field, "DestinationRule name", names.primary_rule, DNS1123_SUBDOMAIN),
        Derived(apex_field, "DestinationRule name", names.canary_rule, DNS1123_SUBDOMAIN),
    ]
    if canary.spec.autoscaler_ref is not None:
        hpa = primary_name(canary.spec.autoscaler_ref.name)
        derived.append(
            Derived(
                "spec.autoscalerRef.name", "HorizontalPodAutoscaler name", hpa, DNS1123_SUBDOMAIN
            )
        )
    return derived


def derived_from_target(
    target: Mapping[str, Any], config_maps: Iterable[str] = (), secrets: Iterable[str] = ()
) -> list[Derived]:
    """The names derived from the target Deployment: the primary's selector label value and the
    `-primary` copies of the ConfigMaps and Secrets it uses."""
    field = "spec.targetRef.name"
    derived = []
    match_labels = (target.get("spec") or {}).get("selector", {}).get("matchLabels") or {}
    key = next((k for k in SELECTOR_LABELS if k in match_labels), None)
    if key is not None:
        value = primary_name(str(match_labels[key]))
        derived.append(Derived(field, f"label value of {key}", value, LABEL_VALUE))
    derived += [
        Derived(field, "ConfigMap name", primary_name(n), DNS1123_SUBDOMAIN)
        for n in sorted(config_maps)
    ]
    derived += [
        Derived(field, "Secret name", primary_name(n), DNS1123_SUBDOMAIN) for n in sorted(secrets)
    ]
    return derived


def name_problems(
    canary: Canary,
    target: Mapping[str, Any] | None = None,
    config_maps: Iterable[str] = (),
    secrets: Iterable[str] = (),
) -> list[str]:
    """One `field: derived ... is N characters; Kubernetes allows M for a <rule>` line for every
    derived name that the API server would refuse (empty when all fit). Shared by `canary
    validate` and the controller, which checks before it writes."""
    derived = derived_from_canary(canary)
    if target is not None:
        derived += derived_from_target(target, config_maps, secrets)
    seen: set[str] = set()
    problems = []
    for item in derived:
        problem = item.problem()
        if problem is not None and problem not in seen:
            seen.add(problem)
            problems.append(problem)
    return problems
