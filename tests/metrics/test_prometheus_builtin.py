"""The built-in Istio queries against a real Prometheus with backfilled history."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import pytest

from canary.metrics import promql
from canary.metrics.prometheus import PrometheusProvider

from .conftest import PrometheusServer
from .history import INCIDENT, T0

pytestmark = pytest.mark.prometheus

BEFORE = datetime.fromtimestamp(T0 + 300, UTC)
AFTER = datetime.fromtimestamp(INCIDENT + 300, UTC)


def query(name: str, workload: str, namespace: str = "test", interval: str = "1m") -> str:
    variables = {"namespace": namespace, "target": workload, "interval": interval}
    return promql.render(promql.BUILTIN_QUERIES[name], variables)


@pytest.fixture(scope="module")
def provider(prometheus: PrometheusServer) -> PrometheusProvider:
    return PrometheusProvider(prometheus.url)


@pytest.mark.parametrize(
    ("metric", "workload", "at", "expected"),
    [
        pytest.param("request-success-rate", "podinfo", BEFORE, 95.0, id="canary-success-rate"),
        pytest.param(
            "request-success-rate", "podinfo-primary", BEFORE, 99.0, id="primary-success-rate"
        ),
        pytest.param("request-success-rate", "podinfo", AFTER, 70.0, id="canary-during-incident"),
        pytest.param("request-duration", "podinfo", BEFORE, 175.0, id="canary-p99"),
        pytest.param("request-duration", "podinfo-primary", BEFORE, 87.5, id="primary-p99"),
    ],
)
def test_builtin_queries_return_the_values_worked_out_by_hand(
    provider: PrometheusProvider, metric: str, workload: str, at: datetime, expected: float
) -> None:
    assert provider.query(query(metric, workload), at) == pytest.approx(expected)


def test_decoy_namespace_and_source_reporter_do_not_disturb_the_canary(
    provider: PrometheusProvider,
) -> None:
    # Without the namespace and reporter filters the decoys' 500s and 5 s latencies would mix in.
    decoy = provider.query(query("request-success-rate", "podinfo", namespace="other"), BEFORE)
    assert decoy == pytest.approx(0.0)
    assert provider.query(query("request-duration", "podinfo"), BEFORE) == pytest.approx(175.0)


@pytest.mark.parametrize(
    ("workload", "at", "why"),
    [
        pytest.param("absent", BEFORE, "no series matched", id="no-such-workload"),
        pytest.param("idle", BEFORE, "NaN", id="no-requests-0-over-0"),
        pytest.param(
            "podinfo", datetime.fromtimestamp(T0 + 7200, UTC), "no series", id="after-history"
        ),
    ],
)
def test_no_data_is_none_with_the_reason(
    provider: PrometheusProvider, workload: str, at: datetime, why: str
) -> None:
    reading = provider.read(query("request-success-rate", workload), at)
    assert reading.value is None
    assert why in reading.detail


def test_traffic_queries_count_requests_and_failures_over_the_interval(
    provider: PrometheusProvider,
) -> None:
    variables = {"namespace": "test", "target": "podinfo", "interval": "1m"}
    requests = provider.query(promql.render(promql.REQUESTS, variables), BEFORE)
    failures = provider.query(promql.render(promql.FAILURES, variables), BEFORE)
    assert (requests, failures) == (pytest.approx(6000), pytest.approx(300))


def test_a_range_query_gives_one_sample_per_step(provider: PrometheusProvider) -> None:
    start = datetime.fromtimestamp(T0 + 300, UTC)
    end = datetime.fromtimestamp(T0 + 600, UTC)
    samples = provider.query_range(query("request-duration", "podinfo"), start, end, 30)
    assert [s.time for s in samples] == [T0 + 300 + 30 * i for i in range(11)]
    assert all(s.value == pytest.approx(175.0) for s in samples)


def test_a_scalar_result_is_a_value_and_nan_scalar_is_no_data(provider: PrometheusProvider) -> None:
    assert provider.query("scalar(vector(42))", BEFORE) == 42.0
    assert provider.read("0/0", BEFORE).value is None
    assert math.isinf(provider.query("1/0", BEFORE) or 0.0)


def test_an_injection_attempt_in_a_name_matches_nothing_on_the_real_server(
    provider: PrometheusProvider,
) -> None:
    # Unescaped, this target would end the label matcher and add "or vector(1)".
    evil = 'podinfo"}[1m])) or vector(1) or sum(rate(x{a="'
    reading = provider.read(query("request-success-rate", evil), BEFORE)
    assert reading.value is None
