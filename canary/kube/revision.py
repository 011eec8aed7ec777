"""Revision of a target: a stable hash of its pod template plus checksums of the configs it uses."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from canary.kube.names import CONFIG_TRACKING_ANNOTATION

JSON = dict[str, Any]

TRACKED_SECRET_TYPES = frozenset(
    {
        "Opaque",
        "kubernetes.io/basic-auth",
        "kubernetes.io/ssh-auth",
        "kubernetes.io/tls",
    }
)
"""Secret types whose content is copied to `-primary` (service-account tokens and the like are not)."""


@dataclass(frozen=True)
class ConfigRefs:
    """The ConfigMaps and Secrets a pod template refers to, by name."""

    config_maps: frozenset[str] = frozenset()
    secrets: frozenset[str] = frozenset()


def tracking_enabled(deployment: JSON) -> bool:
    annotations = deployment.get("metadata", {}).get("annotations") or {}
    return annotations.get(CONFIG_TRACKING_ANNOTATION) != "disabled"


def _containers(pod_spec: JSON) -> Iterator[JSON]:
    yield from pod_spec.get("initContainers") or []
    yield from pod_spec.get("containers") or []


def _volume_refs(volume: JSON) -> Iterator[tuple[str, str]]:
    if "configMap" in volume:
        yield "configmap", volume["configMap"].get("name", "")
    if "secret" in volume:
        yield "secret", volume["secret"].get("secretName", "")
    for source in (volume.get("projected") or {}).get("sources") or []:
        if "configMap" in source:
            yield "configmap", source["configMap"].get("name", "")
        if "secret" in source:
            yield "secret", source["secret"].get("name", "")


def _container_refs(container: JSON) -> Iterator[tuple[str, str]]:
    for env in container.get("env") or []:
        source = env.get("valueFrom") or {}
        if "configMapKeyRef" in source:
            yield "configmap", source["configMapKeyRef"].get("name", "")
        if "secretKeyRef" in source:
            yield "secret", source["secretKeyRef"].get("name", "")
    for env_from in container.get("envFrom") or []:
        if "configMapRef" in env_from:
            yield "configmap", env_from["configMapRef"].get("name", "")
        if "secretRef" in env_from:
            yield "secret", env_from["secretRef"].get("name", "")


def config_refs(pod_template: JSON) -> ConfigRefs:
    """Every ConfigMap and Secret named by volumes (incl. projected), env valueFrom and envFrom."""
    pod_spec = pod_template.get("spec") or {}
    refs: list[tuple[str, str]] = []
    for volume in pod_spec.get("volumes") or []:
        refs.extend(_volume_refs(volume))
    for container in _containers(pod_spec):
        refs.extend(_container_refs(container))
    return ConfigRefs(
        config_maps=frozenset(n for k, n in refs if k == "configmap" and n),
        secrets=frozenset(n for k, n in refs if k == "secret" and n),
    )


def is_tracked_secret(secret: JSON) -> bool:
    return secret.get("type", "Opaque") in TRACKED_SECRET_TYPES


def config_checksum(config: JSON) -> str:
    """Checksum of a ConfigMap's or Secret's content (data and binaryData), 16 hex digits."""
    content = {"data": config.get("data") or {}, "binaryData": config.get("binaryData") or {}}
    return _digest(content)


def tracked_key(kind: str, name: str) -> str:
    """The key in `status.trackedConfigs`: `configmap/<name>` or `secret/<name>` (Flagger's)."""
    return f"{kind}/{name}"


def template_hash(pod_template: JSON) -> str:
    """Stable hash of a pod template: key order and server-side formatting do not matter."""
    return _digest(pod_template)


def revision(pod_template: JSON, tracked: Mapping[str, str]) -> str:
    """The revision the engine compares with lastAppliedSpec / lastPromotedSpec."""
    if not tracked:
        return template_hash(pod_template)
    return _digest({"template": pod_template, "configs": dict(sorted(tracked.items()))})


def _digest(value: object) -> str:
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]
