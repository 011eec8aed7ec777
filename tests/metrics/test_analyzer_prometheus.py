"""The Analyzer against the real Prometheus: built-in metrics, comparisons, the judge, traffic."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from canary.analysis.results import Verdict
from canary.engine.types import TrafficSample
from canary.engine.verdicts import interval_verdict
from canary.metrics.analyzer import MetricAnalyzer, Templates
from canary.metrics.evaluate import QUERY_ERROR
from canary.metrics.prometheus import PrometheusProvider

from .canaries import ERROR_RATE, canary, template
from .conftest import PrometheusServer, free_port
from .history import INCIDENT, T0

pytestmark = pytest.mark.prometheus

BEFORE = datetime.fromtimestamp(T0 + 300, UTC)
AFTER = datetime.fromtimestamp(INCIDENT + 300, UTC)


@pytest.fixture(scope="module")
def analyzer(prometheus: PrometheusServer) -> MetricAnalyzer:
    templates = Templates([template("error-rate", ERROR_RATE)])
    # No ProviderFactory: template metrics use the same Prometheus as the built-ins.
    return MetricAnalyzer(PrometheusProvider(prometheus.url), templates=templates)


@pytest.mark.parametrize(
    ("metric", "at", "verdict", "value", "primary"),
    [
        pytest.param(
            {"name": "request-success-rate", "thresholdRange": {"min": 90}},
            BEFORE,
            Verdict.PASS,
            95.0,
            None,
            id="success-rate-passes",
        ),
        pytest.param(
            {"name": "request-success-rate", "thresholdRange": {"min": 90}},
            AFTER,
            Verdict.FAIL,
            70.0,
            None,
            id="incident-fails",
        ),
        pytest.param(
            {"name": "request-duration", "thresholdRange": {"max": 150}},
            BEFORE,
            Verdict.FAIL,
            175.0,
            None,
            id="p99-over-max",
        ),
        pytest.param(
            {"name": "request-duration", "compare": {"max": 2.5}},
            BEFORE,
            Verdict.PASS,
            175.0,
            87.5,
            id="p99-ratio-2-within-2.5",
        ),
        pytest.param(
            {"name": "request-duration", "compare": {"max": 1.5}},
            BEFORE,
            Verdict.FAIL,
            175.0,
            87.5,
            id="p99-ratio-2-over-1.5",
        ),
        pytest.param(
            {
                "name": "error-rate",
                "templateRef": {"name": "error-rate"},
                "compare": {"mode": "difference", "max": 5},
            },
            BEFORE,
            Verdict.PASS,
            5.0,
            1.0,
            id="template-error-rate-vs-primary",
        ),
        pytest.param(
            {
                "name": "error-rate",
                "templateRef": {"name": "error-rate"},
                "compare": {"mode": "difference", "max": 5},
            },
            AFTER,
            Verdict.FAIL,
            30.0,
            1.0,
            id="template-catches-incident",
        ),
    ],
)
def test_each_metric_gets_the_verdict_and_values_worked_out_by_hand(
    analyzer: MetricAnalyzer,
    metric: dict[str, object],
    at: datetime,
    verdict: Verdict,
    value: float,
    primary: float | None,
) -> None:
    (result,) = analyzer.analyze(canary(metric), at).results
    assert (result.verdict, result.value, result.primary_value) == (
        verdict,
        pytest.approx(value),
        pytest.approx(primary) if primary is not None else None,
    )


@pytest.mark.parametrize(
    ("metric", "verdict", "classification"),
    [
        pytest.param("request-duration", Verdict.FAIL, "High", id="p99-175-vs-87.5-is-high"),
        pytest.param(
            "request-success-rate", Verdict.PASS, "Pass", id="lower-success-is-no-increase"
        ),
    ],
)
def test_range_samples_feed_the_judge_to_the_expected_classification(
    analyzer: MetricAnalyzer, metric: str, verdict: Verdict, classification: str
) -> None:
    spec = {"name": metric, "interval": "5m", "judge": {"direction": "increase", "step": "30s"}}
    (result,) = analyzer.analyze(canary(spec), BEFORE).results
    assert (result.verdict, result.evidence["classification"]) == (verdict, classification)
    # 5 minutes in 30 s steps; the first step's [30s] window starts before the history.
    assert (result.evidence["canarySamples"], result.evidence["primarySamples"]) == (10, 10)


def test_the_traffic_sample_counts_each_sides_requests_and_5xx(analyzer: MetricAnalyzer) -> None:
    outcome = analyzer.analyze(
        canary({"name": "request-success-rate", "thresholdRange": {"min": 1}}), BEFORE
    )
    assert outcome.traffic == TrafficSample(6000, 300, 6000, 60)


@pytest.mark.parametrize(
    ("no_data", "verdict"),
    [("hold", Verdict.NO_DATA), ("fail", Verdict.FAIL), ("pass", Verdict.PASS)],
)
def test_no_data_follows_the_metrics_policy_and_says_why(
    analyzer: MetricAnalyzer, no_data: str, verdict: Verdict
) -> None:
    late = datetime.fromtimestamp(T0 + 7200, UTC)
    spec = {"name": "request-success-rate", "thresholdRange": {"min": 90}, "noData": no_data}
    (result,) = analyzer.analyze(canary(spec), late).results
    assert result.verdict is verdict
    assert "no series matched" in result.reason


def test_an_unreachable_prometheus_holds_every_metric_and_gives_no_traffic() -> None:
    down = MetricAnalyzer(PrometheusProvider(f"http://127.0.0.1:{free_port()}", timeout=1))
    spec = {"name": "request-success-rate", "thresholdRange": {"min": 90}, "noData": "pass"}
    outcome = down.analyze(canary(spec), BEFORE)
    (result,) = outcome.results
    assert (result.verdict, result.evidence["error"], outcome.traffic) == (
        Verdict.HOLD,
        QUERY_ERROR,
        None,
    )
    assert "connection refused" in result.reason


@pytest.mark.parametrize(
    ("min_requests", "verdict"),
    [
        pytest.param(5000, Verdict.PASS, id="6000-is-enough"),
        pytest.param(7000, Verdict.HOLD, id="6000-is-low-traffic"),
    ],
)
def test_the_measured_traffic_holds_the_step_when_below_min_requests(
    analyzer: MetricAnalyzer, min_requests: int, verdict: Verdict
) -> None:
    spec = canary(
        {"name": "request-success-rate", "thresholdRange": {"min": 1}}, minRequests=min_requests
    )
    outcome = analyzer.analyze(spec, BEFORE)
    volume = interval_verdict(spec.spec, outcome.results, outcome.traffic).results[-1]
    assert (volume.name, volume.verdict, volume.value) == ("request-volume", verdict, 6000)
