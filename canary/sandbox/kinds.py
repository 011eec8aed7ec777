"""Defaulting and validation of the built-in kinds, the subset the real registries apply."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from typing import Any

from canary.sandbox.errors import Cause

JSON = dict[str, Any]


def _pod_spec_defaults(spec: JSON) -> None:
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("securityContext", {})
    spec.setdefault("schedulerName", "default-scheduler")
    for container in (spec.get("containers") or []) + (spec.get("initContainers") or []):
        if not isinstance(container, dict):
            continue
        image = str(container.get("image", ""))
        tag = image.rpartition("/")[2].partition("@")[0]
        latest = ":" not in tag or tag.endswith(":latest")
        container.setdefault(
            "imagePullPolicy", "Always" if latest and "@" not in image else "IfNotPresent"
        )
        container.setdefault("terminationMessagePath", "/dev/termination-log")
        container.setdefault("terminationMessagePolicy", "File")
        container.setdefault("resources", {})
        for port in container.get("ports") or []:
            if isinstance(port, dict):
                port.setdefault("protocol", "TCP")


def _pod_spec_causes(spec: Any, path: str) -> list[Cause]:
    if not isinstance(spec, dict):
        return [Cause("FieldValueRequired", "Required value", path)]
    containers = spec.get("containers")
    if not containers:
        return [Cause("FieldValueRequired", "Required value", f"{path}.containers")]
    causes = []
    for i, container in enumerate(containers):
        where = f"{path}.containers[{i}]"
        if not isinstance(container, dict):
            causes.append(Cause("FieldValueInvalid", "Invalid value: must be an object", where))
            continue
        if not container.get("name"):
            causes.append(Cause("FieldValueRequired", "Required value", f"{where}.name"))
        if not container.get("image"):
            causes.append(Cause("FieldValueRequired", "Required value", f"{where}.image"))
    return causes


def deployment(obj: JSON, old: JSON | None) -> list[Cause]:
    spec = obj.setdefault("spec", {})
    spec.setdefault("replicas", 1)
    spec.setdefault("revisionHistoryLimit", 10)
    spec.setdefault("progressDeadlineSeconds", 600)
    strategy = spec.setdefault("strategy", {})
    strategy.setdefault("type", "RollingUpdate")
    if strategy["type"] == "RollingUpdate":
        rolling = strategy.setdefault("rollingUpdate", {})
        rolling.setdefault("maxUnavailable", "25%")
        rolling.setdefault("maxSurge", "25%")
    template = spec.setdefault("template", {})
    template.setdefault("metadata", {}).setdefault("creationTimestamp", None)
    if isinstance(template.get("spec"), dict):
        _pod_spec_defaults(template["spec"])
    causes = _pod_spec_causes(template.get("spec"), "spec.template.spec")
    selector = spec.get("selector")
    if not isinstance(selector, dict) or not (
        selector.get("matchLabels") or selector.get("matchExpressions")
    ):
        causes.append(Cause("FieldValueRequired", "Required value", "spec.selector"))
    else:
        labels = template["metadata"].get("labels") or {}
        wanted = selector.get("matchLabels") or {}
        if any(labels.get(k) != v for k, v in wanted.items()):
            causes.append(
                Cause(
                    "FieldValueInvalid",
                    f"Invalid value: {labels}: `selector` does not match template `labels`",
                    "spec.template.metadata.labels",
                )
            )
        if old is not None and old.get("spec", {}).get("selector") != selector:
            causes.append(
                Cause(
                    "FieldValueInvalid",
                    f"Invalid value: {selector}: field is immutable",
                    "spec.selector",
                )
            )
    replicas = spec.get("replicas")
    if not isinstance(replicas, int) or replicas < 0:
        causes.append(
            Cause(
                "FieldValueInvalid",
                f"Invalid value: {replicas}: must be greater than or equal to 0",
                "spec.replicas",
            )
        )
    return causes


def pod(obj: JSON, old: JSON | None) -> list[Cause]:
    spec = obj.get("spec")
    if isinstance(spec, dict):
        _pod_spec_defaults(spec)
        spec.setdefault("enableServiceLinks", True)
    if old is None:
        obj["status"] = {"phase": "Pending", "qosClass": "BestEffort"}
    return _pod_spec_causes(spec, "spec")


def service(obj: JSON, old: JSON | None) -> list[Cause]:
    spec = obj.setdefault("spec", {})
    spec.setdefault("type", "ClusterIP")
    spec.setdefault("sessionAffinity", "None")
    if spec["type"] != "ExternalName":
        spec.setdefault("internalTrafficPolicy", "Cluster")
        spec.setdefault("ipFamilyPolicy", "SingleStack")
        spec.setdefault("ipFamilies", ["IPv4"])
    causes = []
    ports = spec.get("ports") or []
    if not ports and spec["type"] != "ExternalName" and spec.get("clusterIP") != "None":
        causes.append(Cause("FieldValueRequired", "Required value", "spec.ports"))
    for i, port in enumerate(ports):
        if not isinstance(port, dict) or not isinstance(port.get("port"), int):
            causes.append(Cause("FieldValueRequired", "Required value", f"spec.ports[{i}].port"))
            continue
        port.setdefault("protocol", "TCP")
        port.setdefault("targetPort", port["port"])
        if len(ports) > 1 and not port.get("name"):
            causes.append(Cause("FieldValueRequired", "Required value", f"spec.ports[{i}].name"))
    if old is not None:
        # The registry keeps allocated values that an update leaves out (`patchAllocatedValues`).
        for key in ("clusterIP", "clusterIPs"):
            if not spec.get(key) and old.get("spec", {}).get(key):
                spec[key] = old["spec"][key]
    if old is None:
        obj["status"] = {"loadBalancer": {}}
    return causes


def namespace(obj: JSON, old: JSON | None) -> list[Cause]:
    obj.setdefault("spec", {}).setdefault("finalizers", ["kubernetes"])
    name = obj["metadata"].get("name", "")
    obj["metadata"].setdefault("labels", {})["kubernetes.io/metadata.name"] = name
    if old is None:
        obj["status"] = {"phase": "Active"}
    return []


def secret(obj: JSON, old: JSON | None) -> list[Cause]:
    obj.setdefault("type", "Opaque")
    data = obj.get("data") or {}
    causes = []
    for key, value in data.items():
        try:
            base64.b64decode(str(value), validate=True)
        except (binascii.Error, ValueError):
            causes.append(
                Cause("FieldValueInvalid", "Invalid value: illegal base64 data", f"data[{key}]")
            )
    string_data = obj.pop("stringData", None) or {}
    for key, value in string_data.items():
        data[key] = base64.b64encode(str(value).encode()).decode()
    if data:
        obj["data"] = data
    return causes


def lease(obj: JSON, old: JSON | None) -> list[Cause]:
    spec = obj.get("spec") or {}
    duration = spec.get("leaseDurationSeconds")
    if duration is not None and (not isinstance(duration, int) or duration <= 0):
        return [
            Cause(
                "FieldValueInvalid",
                f"Invalid value: {duration}: must be greater than 0",
                "spec.leaseDurationSeconds",
            )
        ]
    return []


def event(obj: JSON, old: JSON | None) -> list[Cause]:
    involved = obj.get("involvedObject")
    if obj.get("apiVersion", "v1") == "v1" and not isinstance(involved, dict):
        return [Cause("FieldValueRequired", "Required value", "involvedObject")]
    return []


Strategy = Callable[[JSON, JSON | None], list[Cause]]

# Keyed by `ResourceType.key`; kinds not listed here are stored as they come.
STRATEGIES: dict[str, Strategy] = {
    "deployments.apps": deployment,
    "pods": pod,
    "services": service,
    "namespaces": namespace,
    "secrets": secret,
    "leases.coordination.k8s.io": lease,
    "events": event,
}
