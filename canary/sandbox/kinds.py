"""Defaulting and validation of the built-in kinds, the subset the real registries apply."""

from __future__ import annotations

import base64
import binascii
import copy
from collections.abc import Callable
from typing import Any

from canary.sandbox.errors import Cause

JSON = dict[str, Any]
PROTOCOLS = ("SCTP", "TCP", "UDP")


def _default(obj: JSON, key: str, value: Any) -> Any:
    """Set a default where the field is missing or null (Go decodes null as the zero value)."""
    if obj.get(key) is None:
        obj[key] = value
    return obj[key]


def _enum(value: Any, allowed: tuple[str, ...], field: str) -> list[Cause]:
    if value in allowed:
        return []
    supported = ", ".join(f'"{a}"' for a in allowed)
    return [Cause("FieldValueNotSupported", f'Unsupported value: "{value}": supported values: '
                  f"{supported}", field)]  # fmt: skip


def _port(value: Any, field: str) -> list[Cause]:
    if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 65535:
        return []
    return [Cause("FieldValueInvalid", f"Invalid value: {value}: must be between 1 and 65535, "
                  "inclusive", field)]  # fmt: skip


def _pod_spec_defaults(spec: JSON) -> None:
    _default(spec, "restartPolicy", "Always")
    _default(spec, "terminationGracePeriodSeconds", 30)
    _default(spec, "dnsPolicy", "ClusterFirst")
    _default(spec, "securityContext", {})
    _default(spec, "schedulerName", "default-scheduler")
    for container in (spec.get("containers") or []) + (spec.get("initContainers") or []):
        if not isinstance(container, dict):
            continue
        image = str(container.get("image", ""))
        tag = image.rpartition("/")[2].partition("@")[0]
        latest = ":" not in tag or tag.endswith(":latest")
        _default(
            container,
            "imagePullPolicy",
            "Always" if latest and "@" not in image else "IfNotPresent",
        )
        _default(container, "terminationMessagePath", "/dev/termination-log")
        _default(container, "terminationMessagePolicy", "File")
        _default(container, "resources", {})
        for port in container.get("ports") or []:
            if isinstance(port, dict):
                _default(port, "protocol", "TCP")


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
        policy = container.get("imagePullPolicy")
        causes += _enum(policy, ("Always", "IfNotPresent", "Never"), f"{where}.imagePullPolicy")
        for j, port in enumerate(container.get("ports") or []):
            if isinstance(port, dict):
                causes += _port(port.get("containerPort"), f"{where}.ports[{j}].containerPort")
                causes += _enum(port.get("protocol"), PROTOCOLS, f"{where}.ports[{j}].protocol")
    causes += _enum(
        spec.get("restartPolicy"), ("Always", "OnFailure", "Never"), f"{path}.restartPolicy"
    )
    return causes


def deployment(obj: JSON, old: JSON | None) -> list[Cause]:
    spec = _default(obj, "spec", {})
    _default(spec, "replicas", 1)
    _default(spec, "revisionHistoryLimit", 10)
    _default(spec, "progressDeadlineSeconds", 600)
    strategy = _default(spec, "strategy", {})
    _default(strategy, "type", "RollingUpdate")
    if strategy["type"] == "RollingUpdate":
        rolling = _default(strategy, "rollingUpdate", {})
        _default(rolling, "maxUnavailable", "25%")
        _default(rolling, "maxSurge", "25%")
    template = _default(spec, "template", {})
    _default(template, "metadata", {}).setdefault("creationTimestamp", None)
    if isinstance(template.get("spec"), dict):
        _pod_spec_defaults(template["spec"])
    causes = _pod_spec_causes(template.get("spec"), "spec.template.spec")
    causes += _enum(strategy["type"], ("Recreate", "RollingUpdate"), "spec.strategy.type")
    if strategy["type"] == "Recreate" and strategy.get("rollingUpdate") is not None:
        causes.append(Cause("FieldValueForbidden", "Forbidden: may not be specified when strategy "
                            "`type` is 'Recreate'", "spec.strategy.rollingUpdate"))  # fmt: skip
    pod_spec = template.get("spec")
    restart = pod_spec.get("restartPolicy") if isinstance(pod_spec, dict) else None
    if restart not in (None, "Always"):
        causes.append(Cause("FieldValueNotSupported", f'Unsupported value: "{restart}": supported '
                            'values: "Always"', "spec.template.spec.restartPolicy"))  # fmt: skip
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
        _default(spec, "enableServiceLinks", True)
    if old is None:
        obj["status"] = {"phase": "Pending", "qosClass": "BestEffort"}
    return _pod_spec_causes(spec, "spec")


def service(obj: JSON, old: JSON | None) -> list[Cause]:
    spec = _default(obj, "spec", {})
    _default(spec, "type", "ClusterIP")
    types = ("ClusterIP", "ExternalName", "LoadBalancer", "NodePort")
    type_causes = _enum(spec["type"], types, "spec.type")
    _default(spec, "sessionAffinity", "None")
    if spec["type"] != "ExternalName":
        _default(spec, "internalTrafficPolicy", "Cluster")
        _default(spec, "ipFamilyPolicy", "SingleStack")
        _default(spec, "ipFamilies", ["IPv4"])
    causes = type_causes
    ports = spec.get("ports") or []
    if not ports and spec["type"] != "ExternalName" and spec.get("clusterIP") != "None":
        causes.append(Cause("FieldValueRequired", "Required value", "spec.ports"))
    for i, port in enumerate(ports):
        if not isinstance(port, dict) or not isinstance(port.get("port"), int):
            causes.append(Cause("FieldValueRequired", "Required value", f"spec.ports[{i}].port"))
            continue
        _default(port, "protocol", "TCP")
        _default(port, "targetPort", port["port"])
        causes += _port(port["port"], f"spec.ports[{i}].port")
        causes += _enum(port["protocol"], PROTOCOLS, f"spec.ports[{i}].protocol")
        target = port["targetPort"]
        if not isinstance(target, str):
            causes += _port(target, f"spec.ports[{i}].targetPort")
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
    _default(_default(obj, "spec", {}), "finalizers", ["kubernetes"])
    name = obj["metadata"].get("name", "")
    _default(obj["metadata"], "labels", {})["kubernetes.io/metadata.name"] = name
    if old is None:
        obj["status"] = {"phase": "Active"}
    return []


def secret(obj: JSON, old: JSON | None) -> list[Cause]:
    _default(obj, "type", "Opaque")
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


def _scaling_rules(rules: Any, defaults: JSON) -> JSON:
    """autoscaling/v2 `GenerateHPAScale{Up,Down}Rules`: missing fields of a rule take the defaults."""
    out = dict(rules) if isinstance(rules, dict) else {}
    for key, value in defaults.items():
        _default(out, key, value)
    return out


_SCALE_UP = {"stabilizationWindowSeconds": 0, "selectPolicy": "Max", "policies": [
    {"type": "Pods", "value": 4, "periodSeconds": 15},
    {"type": "Percent", "value": 100, "periodSeconds": 15}]}  # fmt: skip
_SCALE_DOWN = {"stabilizationWindowSeconds": 300, "selectPolicy": "Max",
               "policies": [{"type": "Percent", "value": 100, "periodSeconds": 15}]}  # fmt: skip
_CPU_80 = {"type": "Resource", "resource": {"name": "cpu", "target": {
    "type": "Utilization", "averageUtilization": 80}}}  # fmt: skip
METRIC_TYPES = ("ContainerResource", "External", "Object", "Pods", "Resource")


def _quantity(value: Any) -> Any:
    """A JSON number as the canonical Quantity string the server answers with (100, 500m)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return value
    if float(value).is_integer():
        return str(int(value))
    return f"{round(value * 1000)}m"


def _metric_quantities(metric: JSON) -> None:
    for source in metric.values():
        target = source.get("target") if isinstance(source, dict) else None
        if isinstance(target, dict):
            for key in ("averageValue", "value"):
                if key in target:
                    target[key] = _quantity(target[key])


def _hpa_defaults(spec: JSON) -> None:
    _default(spec, "minReplicas", 1)
    if not spec.get("metrics"):
        spec["metrics"] = [copy.deepcopy(_CPU_80)]
    behavior = spec.get("behavior")
    if isinstance(behavior, dict):
        behavior["scaleUp"] = _scaling_rules(behavior.get("scaleUp"), copy.deepcopy(_SCALE_UP))
        behavior["scaleDown"] = _scaling_rules(
            behavior.get("scaleDown"), copy.deepcopy(_SCALE_DOWN)
        )


def horizontal_pod_autoscaler(obj: JSON, old: JSON | None) -> list[Cause]:
    spec = _default(obj, "spec", {})
    _hpa_defaults(spec)
    causes = []
    ref = spec.get("scaleTargetRef") or {}
    for key in ("kind", "name"):
        if not ref.get(key):
            causes.append(
                Cause("FieldValueRequired", "Required value", f"spec.scaleTargetRef.{key}")
            )
    low, high = spec["minReplicas"], spec.get("maxReplicas")
    if low < 1:
        causes.append(Cause("FieldValueInvalid", f"Invalid value: {low}: must be greater than or "
                            "equal to 1", "spec.minReplicas"))  # fmt: skip
    if not isinstance(high, int) or high < 1:
        causes.append(Cause("FieldValueInvalid", f"Invalid value: {high}: must be greater than 0",
                            "spec.maxReplicas"))  # fmt: skip
    elif high < low:
        causes.append(Cause("FieldValueInvalid", f"Invalid value: {high}: must be greater than or "
                            "equal to `minReplicas`", "spec.maxReplicas"))  # fmt: skip
    for i, metric in enumerate(spec["metrics"]):
        if isinstance(metric, dict):
            _metric_quantities(metric)
            causes += _enum(metric.get("type"), METRIC_TYPES, f"spec.metrics[{i}].type")
    if old is None:
        obj["status"] = {"desiredReplicas": 0}
    return causes


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
    "horizontalpodautoscalers.autoscaling": horizontal_pod_autoscaler,
}
