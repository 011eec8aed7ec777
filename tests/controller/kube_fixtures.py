"""Builders of test inputs: Canaries and target Deployments, ConfigMaps and Secrets as plain dicts."""

from __future__ import annotations

import copy
from typing import Any

from canary.api.canary import Canary

JSON = dict[str, Any]


def canary_body(name: str = "podinfo", namespace: str = "test", **spec: Any) -> JSON:
    """A Canary manifest for Deployment `name`; keyword arguments override spec fields (camelCase)."""
    body: JSON = {
        "apiVersion": "canary.dev/v1alpha1",
        "kind": "Canary",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
            "service": {"port": 9898},
            "analysis": {"interval": "1s", "threshold": 2},
            "progressDeadlineSeconds": 5,
            "strategy": {"canary": {"stepWeight": 25, "maxWeight": 50}},
        },
    }
    body["spec"].update(copy.deepcopy(spec))
    return body


def canary_model(
    name: str = "podinfo", namespace: str = "test", uid: str = "uid-1", **spec: Any
) -> Canary:
    body = canary_body(name, namespace, **spec)
    body["metadata"]["uid"] = uid
    return Canary.model_validate(body)


def deployment(
    name: str = "podinfo",
    namespace: str = "test",
    image: str = "ghcr.io/stefanprodan/podinfo:6.0.0",
    replicas: int = 2,
    labels: dict[str, str] | None = None,
    config_map: str | None = None,
    secret: str | None = None,
) -> JSON:
    """A target Deployment selecting `app: <name>`, optionally using a ConfigMap and a Secret."""
    labels = labels or {"app": name}
    container: JSON = {
        "name": "podinfod",
        "image": image,
        "ports": [{"name": "http", "containerPort": 9898, "protocol": "TCP"}],
    }
    pod_spec: JSON = {"containers": [container]}
    if config_map:
        container["envFrom"] = [{"configMapRef": {"name": config_map}}]
        pod_spec["volumes"] = [{"name": "config", "configMap": {"name": config_map}}]
    if secret:
        container["env"] = [
            {"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": secret, "key": "token"}}}
        ]
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace, "labels": dict(labels)},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": dict(labels)},
            "template": {"metadata": {"labels": dict(labels)}, "spec": pod_spec},
        },
    }


def config_map(name: str, namespace: str = "test", **data: str) -> JSON:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": namespace},
        "data": dict(data) or {"color": "blue"},
    }


def secret(
    name: str, namespace: str = "test", token: str = "czNjcjN0", type_: str = "Opaque"
) -> JSON:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": namespace},
        "type": type_,
        "data": {"token": token},
    }


def autoscaler(
    name: str = "podinfo", namespace: str = "test", low: int = 2, high: int = 6, **spec: Any
) -> JSON:
    """An autoscaling/v2 HorizontalPodAutoscaler `name` scaling Deployment `name` at 80% CPU."""
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": name, "namespace": namespace, "labels": {"app": name}},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
            "minReplicas": low,
            "maxReplicas": high,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "target": {"type": "Utilization", "averageUtilization": 80},
                    },
                }
            ],
            **spec,
        },
    }
