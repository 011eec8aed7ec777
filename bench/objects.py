"""The objects the benchmarks create: a target Deployment, shared by bench.scale, bench.faults and bench.requests."""

from __future__ import annotations

from typing import Any

IMAGE = "ghcr.io/stefanprodan/podinfo"


def deployment(name: str, namespace: str, image: str, replicas: int = 1) -> dict[str, Any]:
    """A target Deployment of one container `app` running `image`, selecting `app: <name>`."""
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace, "labels": dict(labels)},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": dict(labels)},
            "template": {
                "metadata": {"labels": dict(labels)},
                "spec": {"containers": [{"name": "app", "image": image}]},
            },
        },
    }
