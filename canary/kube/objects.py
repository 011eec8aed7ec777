"""Pure builders of every object the controller writes: primary Deployment and HPA, config copies, Services, Istio routing."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

from canary.api.canary import Canary
from canary.engine.types import Routes
from canary.kube.names import (
    AB_ROUTE_NAME,
    MANAGED_BY_LABEL,
    MANAGER,
    SELECTOR_LABELS,
    WEIGHTED_ROUTE_NAME,
    Names,
    owner_reference,
    primary_name,
)
from canary.kube.revision import ConfigRefs

JSON = dict[str, Any]

ISTIO_API_VERSION = "networking.istio.io/v1"
REVISION_ANNOTATION = "canary.dev/revision"
"""On the primary's pod template: changes at each promotion, so config-only changes roll the pods."""

# Annotations that belong to the target object itself and must not be copied to the primary.
_NOT_COPIED_ANNOTATIONS = frozenset(
    {"kubectl.kubernetes.io/last-applied-configuration", "deployment.kubernetes.io/revision"}
)
_COPIED_DEPLOYMENT_FIELDS = (
    "strategy",
    "minReadySeconds",
    "revisionHistoryLimit",
    "progressDeadlineSeconds",
)


class TargetError(ValueError):
    """The target Deployment cannot be rolled out as is (e.g. no selector label we recognise)."""


def selector_label(target: JSON) -> tuple[str, str]:
    """The first of `app`, `name`, `app.kubernetes.io/name` in the target's matchLabels, and its value."""
    match_labels = target.get("spec", {}).get("selector", {}).get("matchLabels") or {}
    for key in SELECTOR_LABELS:
        if key in match_labels:
            return key, str(match_labels[key])
    raise TargetError(
        f"deployment {target.get('metadata', {}).get('name')} has none of the selector labels "
        f"{', '.join(SELECTOR_LABELS)} in spec.selector.matchLabels"
    )


def _metadata(canary: Canary, name: str, labels: dict[str, str] | None = None) -> JSON:
    return {
        "name": name,
        "namespace": canary.metadata.namespace,
        "labels": {**(labels or {}), MANAGED_BY_LABEL: MANAGER},
        "ownerReferences": [owner_reference(canary)],
    }


def _suffixed(labels: dict[str, str], key: str, value: str) -> dict[str, str]:
    return {**labels, key: primary_name(value)}


# Primary Deployment


def _label_selectors(pod_spec: JSON) -> Iterator[JSON]:
    """Every labelSelector in affinity terms and topology spread constraints."""
    affinity = pod_spec.get("affinity") or {}
    for kind in ("podAffinity", "podAntiAffinity"):
        terms = affinity.get(kind) or {}
        for term in terms.get("requiredDuringSchedulingIgnoredDuringExecution") or []:
            if "labelSelector" in term:
                yield term["labelSelector"]
        for weighted in terms.get("preferredDuringSchedulingIgnoredDuringExecution") or []:
            term = weighted.get("podAffinityTerm") or {}
            if "labelSelector" in term:
                yield term["labelSelector"]
    for constraint in pod_spec.get("topologySpreadConstraints") or []:
        if "labelSelector" in constraint:
            yield constraint["labelSelector"]


def _rename_config_refs(pod_spec: JSON, renamed: ConfigRefs) -> None:
    def config_map(ref: JSON, key: str = "name") -> None:
        if ref.get(key) in renamed.config_maps:
            ref[key] = primary_name(ref[key])

    def secret(ref: JSON, key: str = "name") -> None:
        if ref.get(key) in renamed.secrets:
            ref[key] = primary_name(ref[key])

    for volume in pod_spec.get("volumes") or []:
        if "configMap" in volume:
            config_map(volume["configMap"])
        if "secret" in volume:
            secret(volume["secret"], "secretName")
        for source in (volume.get("projected") or {}).get("sources") or []:
            if "configMap" in source:
                config_map(source["configMap"])
            if "secret" in source:
                secret(source["secret"])
    for container in [*(pod_spec.get("initContainers") or []), *(pod_spec.get("containers") or [])]:
        for env in container.get("env") or []:
            source = env.get("valueFrom") or {}
            if "configMapKeyRef" in source:
                config_map(source["configMapKeyRef"])
            if "secretKeyRef" in source:
                secret(source["secretKeyRef"])
        for env_from in container.get("envFrom") or []:
            if "configMapRef" in env_from:
                config_map(env_from["configMapRef"])
            if "secretRef" in env_from:
                secret(env_from["secretRef"])


def primary_pod_template(target: JSON, renamed: ConfigRefs, revision: str) -> JSON:
    """The target's pod template with the selector label suffixed and config refs switched to copies."""
    key, value = selector_label(target)
    template: JSON = copy.deepcopy(target["spec"]["template"])
    metadata = template.setdefault("metadata", {})
    metadata["labels"] = _suffixed(metadata.get("labels") or {}, key, value)
    metadata["annotations"] = {**(metadata.get("annotations") or {}), REVISION_ANNOTATION: revision}
    pod_spec = template.setdefault("spec", {})
    _rename_config_refs(pod_spec, renamed)
    for selector in _label_selectors(pod_spec):
        match_labels = selector.get("matchLabels") or {}
        if match_labels.get(key) == value:
            match_labels[key] = primary_name(value)
    return template


def primary_deployment_spec(
    target: JSON, renamed: ConfigRefs, revision: str, replicas: int
) -> JSON:
    """The primary's spec: the target's template and rollout settings, with its own selector."""
    key, value = selector_label(target)
    spec: JSON = {
        "replicas": replicas,
        "selector": {"matchLabels": {key: primary_name(value)}},
        "template": primary_pod_template(target, renamed, revision),
    }
    for name in _COPIED_DEPLOYMENT_FIELDS:
        if name in target["spec"]:
            spec[name] = copy.deepcopy(target["spec"][name])
    return spec


def primary_deployment(
    canary: Canary, target: JSON, renamed: ConfigRefs, revision: str, replicas: int
) -> JSON:
    """The `<target>-primary` Deployment, owned by the Canary."""
    key, value = selector_label(target)
    source = target.get("metadata", {})
    metadata = _metadata(
        canary,
        Names.of(canary).primary,
        _suffixed(source.get("labels") or {}, key, value),
    )
    annotations = {
        k: v
        for k, v in (source.get("annotations") or {}).items()
        if k not in _NOT_COPIED_ANNOTATIONS
    }
    if annotations:
        metadata["annotations"] = annotations
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": metadata,
        "spec": primary_deployment_spec(target, renamed, revision, replicas),
    }


def config_copy(canary: Canary, config: JSON) -> JSON:
    """The `-primary` copy of a ConfigMap or Secret, owned by the Canary."""
    kind = config["kind"]
    source = config.get("metadata", {})
    body: JSON = {
        "apiVersion": "v1",
        "kind": kind,
        "metadata": _metadata(canary, primary_name(source["name"]), source.get("labels") or {}),
    }
    for name in ("data", "binaryData", "type", "immutable"):
        if name in config and not (kind == "ConfigMap" and name == "type"):
            body[name] = copy.deepcopy(config[name])
    return body


# Primary HorizontalPodAutoscaler

AUTOSCALER_FIELDS = ("minReplicas", "maxReplicas", "metrics", "behavior")
"""What the primary's HPA copies from the target's (as Flagger does); the rest is its own."""


def primary_autoscaler_spec(canary: Canary, autoscaler: JSON) -> JSON:
    """The target HPA's bounds, metrics and behavior, scaling the primary Deployment instead."""
    source = autoscaler.get("spec") or {}
    spec: JSON = {
        "scaleTargetRef": {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "name": Names.of(canary).primary,
        }
    }
    for name in AUTOSCALER_FIELDS:
        if source.get(name) is not None:
            spec[name] = copy.deepcopy(source[name])
    return spec


def primary_autoscaler(canary: Canary, autoscaler: JSON) -> JSON:
    """The `<hpa>-primary` HorizontalPodAutoscaler, owned by the Canary."""
    source = autoscaler.get("metadata") or {}
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": _metadata(canary, primary_name(source["name"]), source.get("labels") or {}),
        "spec": primary_autoscaler_spec(canary, autoscaler),
    }


# Services


def _service(canary: Canary, name: str, selector: dict[str, str]) -> JSON:
    spec = canary.spec.service
    target_port = spec.target_port if spec.target_port is not None else spec.port
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _metadata(canary, name, {"app": name}),
        "spec": {
            "type": "ClusterIP",
            "selector": selector,
            "ports": [
                {
                    "name": spec.port_name,
                    "port": spec.port,
                    "targetPort": target_port,
                    "protocol": "TCP",
                }
            ],
        },
    }


def services(canary: Canary, target: JSON) -> list[JSON]:
    """The apex (to the primary), `-primary` and `-canary` Services."""
    names = Names.of(canary)
    key, value = selector_label(target)
    primary = {key: primary_name(value)}
    return [
        _service(canary, names.apex, primary),
        _service(canary, names.primary_service, primary),
        _service(canary, names.canary_service, {key: value}),
    ]


# Istio


def destination_rules(canary: Canary) -> list[JSON]:
    """One DestinationRule per side, both with the Canary's trafficPolicy."""
    names = Names.of(canary)
    policy = canary.spec.service.traffic_policy
    rules = []
    for host in (names.primary_rule, names.canary_rule):
        spec: JSON = {"host": host}
        if policy is not None:
            spec["trafficPolicy"] = policy.model_dump(mode="json")
        rules.append(
            {
                "apiVersion": ISTIO_API_VERSION,
                "kind": "DestinationRule",
                "metadata": _metadata(canary, host),
                "spec": spec,
            }
        )
    return rules


def virtual_service_hosts(canary: Canary) -> list[str]:
    """The Canary's hosts with the apex name always included (once)."""
    hosts = list(dict.fromkeys(canary.spec.service.hosts))
    apex = Names.of(canary).apex
    return hosts if apex in hosts else [*hosts, apex]


def route_options(canary: Canary) -> JSON:
    """The fields of the generated HTTP route that come from `spec.service` (not weights, not mirror)."""
    service = canary.spec.service
    options: JSON = {}
    if service.match:
        options["match"] = [m.model_dump(mode="json") for m in service.match]
    if service.rewrite is not None:
        options["rewrite"] = service.rewrite.to_wire()
    if service.timeout is not None:
        options["timeout"] = service.timeout
    if service.retries is not None:
        options["retries"] = service.retries.to_wire()
    if service.headers is not None:
        options["headers"] = service.headers.to_wire()
    if service.cors_policy is not None:
        options["corsPolicy"] = service.cors_policy.model_dump(mode="json")
    return options


ROUTE_OPTION_KEYS = ("match", "rewrite", "timeout", "retries", "headers", "corsPolicy")


def destinations(canary: Canary, primary: int, canary_weight: int) -> list[JSON]:
    names = Names.of(canary)
    return [
        {"destination": {"host": names.primary_service}, "weight": primary},
        {"destination": {"host": names.canary_service}, "weight": canary_weight},
    ]


def mirror_fields(canary: Canary, percent: int) -> JSON:
    """Istio's `mirror` and `mirrorPercentage` for a mirror of `percent`; empty for no mirror."""
    if percent <= 0:
        return {}
    return {
        "mirror": {"host": Names.of(canary).canary_service},
        "mirrorPercentage": {"value": float(percent)},
    }


def ab_match(canary: Canary) -> list[JSON]:
    """The A/B rules crossed with the service's match (each A/B rule narrowed by each service rule)."""
    strategy = canary.spec.strategy.ab_testing
    rules = [m.model_dump(mode="json") for m in strategy.match] if strategy else []
    service = [m.model_dump(mode="json") for m in canary.spec.service.match]
    if not service:
        return rules
    return [{**s, **r} for r in rules for s in service]


def ab_route(canary: Canary) -> JSON:
    """The route that sends A/B users to the canary; it comes before the weighted route."""
    options = route_options(canary)
    options["match"] = ab_match(canary)
    return {"name": AB_ROUTE_NAME, **options, "route": destinations(canary, 0, 100)}


def weighted_route(canary: Canary, routes: Routes) -> JSON:
    return {
        "name": WEIGHTED_ROUTE_NAME,
        **route_options(canary),
        "route": destinations(canary, routes.primary, routes.canary),
        **mirror_fields(canary, routes.mirror),
    }


def http_routes(canary: Canary, routes: Routes) -> list[JSON]:
    weighted = weighted_route(canary, routes)
    return [ab_route(canary), weighted] if routes.ab_testing else [weighted]


def virtual_service(canary: Canary, routes: Routes) -> JSON:
    """The `<apex>` VirtualService with the weighted primary/canary route."""
    names = Names.of(canary)
    return {
        "apiVersion": ISTIO_API_VERSION,
        "kind": "VirtualService",
        "metadata": _metadata(canary, names.virtual_service),
        "spec": {
            "hosts": virtual_service_hosts(canary),
            "gateways": list(canary.spec.service.gateways),
            "http": http_routes(canary, routes),
        },
    }
