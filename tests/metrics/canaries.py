"""Canary and MetricTemplate objects for the metric tests, built from plain dicts."""

from __future__ import annotations

from typing import Any

from canary.api.canary import Canary
from canary.api.metric_template import MetricTemplate


def canary(*metrics: dict[str, Any], interval: str = "1m", **analysis: Any) -> Canary:
    """`podinfo` in namespace `test`, with the given analysis metrics."""
    return Canary.model_validate(
        {
            "metadata": {"name": "podinfo", "namespace": "test"},
            "spec": {
                "targetRef": {"name": "podinfo"},
                "service": {"port": 80},
                "analysis": {"interval": interval, "metrics": list(metrics), **analysis},
            },
        }
    )


def template(
    name: str, query: str, address: str = "http://unused:9090", **spec: Any
) -> MetricTemplate:
    return MetricTemplate.model_validate(
        {
            "metadata": {"name": name, "namespace": "test"},
            "spec": {"provider": {"address": address}, "query": query, **spec},
        }
    )


ERROR_RATE = (
    'sum(rate(istio_requests_total{reporter="destination",'
    'destination_workload_namespace="{{ namespace }}",destination_workload="{{ target }}",'
    'response_code=~"5.*"}[{{ interval }}])) / sum(rate(istio_requests_total{'
    'reporter="destination",destination_workload_namespace="{{ namespace }}",'
    'destination_workload="{{ target }}"}[{{ interval }}])) * 100'
)
