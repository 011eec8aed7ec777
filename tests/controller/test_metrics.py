"""The controller's Prometheus metrics follow the decisions: phase, weights, metric values, outcomes."""

from __future__ import annotations

from canary.analysis.results import Verdict
from canary.controller.metrics import ControllerMetrics
from tests.controller.kube_harness import ON_A_CLUSTER, Harness

pytestmark = ON_A_CLUSTER

ANALYSIS = {
    "interval": "1s",
    "threshold": 1,
    "metrics": [{"name": "request-success-rate", "thresholdRange": {"min": 99}}],
}


def _value(metrics: ControllerMetrics, metric_name: str, **labels: str) -> float | None:
    return metrics.registry.get_sample_value(metric_name, labels)


def test_a_promotion_counts_a_success_and_its_duration(harness: Harness) -> None:
    metrics = ControllerMetrics()
    harness.reconciler.observer = metrics
    harness.given_initialized(analysis=ANALYSIS)
    ns = harness.namespace

    harness.update_target("ghcr.io/stefanprodan/podinfo:6.0.1")
    harness.run_until(lambda: harness.routes().canary == 25)
    assert _value(metrics, "canary_weight", workload="podinfo", namespace=ns) == 25
    assert _value(metrics, "canary_weight", workload="podinfo-primary", namespace=ns) == 75
    assert _value(metrics, "canary_status", name="podinfo", namespace=ns) == 0
    harness.run_until(lambda: harness.phase() == "Succeeded")

    labels = {"name": "podinfo", "namespace": ns}
    assert _value(metrics, "canary_successes_total", deployment_strategy="canary", **labels) == 1
    assert _value(metrics, "canary_duration_seconds_count", **labels) == 1
    assert (
        _value(metrics, "canary_metric_analysis", metric="request-success-rate", **labels) == 99.0
    )
    assert _value(metrics, "canary_phase", phase="Succeeded", **labels) == 1
    assert _value(metrics, "canary_phase", phase="Progressing", **labels) == 0


def test_a_rollback_counts_a_failure(harness: Harness) -> None:
    metrics = ControllerMetrics()
    harness.reconciler.observer = metrics
    harness.given_initialized(analysis=ANALYSIS)
    harness.analyzer.verdict = Verdict.FAIL

    harness.update_target("ghcr.io/stefanprodan/podinfo:6.0.1")
    harness.run_until(lambda: harness.phase() == "Failed")

    labels = {"name": "podinfo", "namespace": harness.namespace}
    assert _value(metrics, "canary_failures_total", deployment_strategy="canary", **labels) == 1
    assert _value(metrics, "canary_successes_total", deployment_strategy="canary", **labels) is None
    assert _value(metrics, "canary_status", **labels) == 2
