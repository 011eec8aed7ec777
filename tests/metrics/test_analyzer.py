"""The Analyzer's logic with a scripted provider: templates, variables, errors, combination."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import pytest

from canary.analysis.results import Verdict
from canary.api.canary import Canary, CanaryStatus, Phase
from canary.api.metric_template import MetricProvider as ProviderSpec
from canary.engine.engine import decide
from canary.engine.types import Observations, Readiness
from canary.metrics.analyzer import MetricAnalyzer, Templates
from canary.metrics.evaluate import QUERY_ERROR, TEMPLATE_ERROR
from canary.protocols import AnalysisOutcome, MetricProvider, MetricProviderError, Sample

from .canaries import canary, template

AT = datetime(2026, 1, 1, 0, 5, tzinfo=UTC)


class Scripted:
    """Answers by substring of the query; records every query."""

    def __init__(self, answers: dict[str, float | None] | None = None, fail: bool = False) -> None:
        self.answers = answers or {}
        self.fail = fail
        self.queries: list[str] = []

    def query(self, query: str, at: datetime) -> float | None:
        self.queries.append(query)
        if self.fail:
            raise MetricProviderError("Prometheus at http://x did not answer within 5s")
        return next((v for key, v in self.answers.items() if key in query), None)

    def query_range(self, query: str, start: datetime, end: datetime, step: float) -> list[Sample]:
        return []


def only_result(analyzer: MetricAnalyzer, *metrics: dict[str, object]):  # type: ignore[no-untyped-def]
    (result,) = analyzer.analyze(canary(*metrics), AT).results
    return result


@pytest.mark.parametrize(
    ("templates", "metric", "message"),
    [
        pytest.param(
            [],
            {"templateRef": {"name": "missing"}},
            "MetricTemplate test/missing not found",
            id="missing",
        ),
        pytest.param(
            [template("t", 'x{a="{{ nope }}"}')],
            {"templateRef": {"name": "t"}},
            "unknown variable 'nope'",
            id="unknown-variable",
        ),
        pytest.param(
            [template("t", "x[{{ w }}]", variables={"w": "1m] or y[1m"})],
            {"templateRef": {"name": "t"}},
            "outside a string literal",
            id="unsafe-value",
        ),
        pytest.param(
            [template("t", 'x{a="{{ target }}"}')],
            {"templateRef": {"name": "t"}, "templateVariables": {"target": "evil"}},
            "clash with built-in",
            id="clash",
        ),
    ],
)
def test_template_errors_hold_with_a_clear_reason_and_send_no_query(
    templates: list[object], metric: dict[str, object], message: str
) -> None:
    provider = Scripted()
    analyzer = MetricAnalyzer(provider, templates=Templates(templates))  # type: ignore[arg-type]
    result = only_result(analyzer, {"name": "custom", "thresholdRange": {"max": 1}, **metric})
    assert (result.verdict, result.evidence["error"]) == (Verdict.HOLD, TEMPLATE_ERROR)
    assert message in result.reason
    assert [q for q in provider.queries if "x" in q and "istio" not in q] == []


def test_template_variables_render_for_each_side_with_overrides() -> None:
    provider = Scripted({'w="podinfo-primary"': 2.0, 'w="podinfo"': 3.0})
    query = 'm{w="{{ target }}",c="{{ canary }}",p="{{ primary }}",z="{{ zone }}"}[{{ interval }}]'
    templates = Templates([template("t", query, variables={"zone": "a"})])
    analyzer = MetricAnalyzer(provider, templates=templates)
    metric = {
        "name": "custom",
        "templateRef": {"name": "t"},
        "templateVariables": {"zone": "b"},
        "interval": "2m",
        "compare": {"max": 2},
    }
    result = only_result(analyzer, metric)
    assert (result.verdict, result.value, result.primary_value) == (Verdict.PASS, 3.0, 2.0)
    assert provider.queries[:2] == [
        'm{w="podinfo",c="podinfo",p="podinfo-primary",z="b"}[2m]',
        'm{w="podinfo-primary",c="podinfo",p="podinfo-primary",z="b"}[2m]',
    ]


def test_a_template_metric_uses_the_provider_its_template_names() -> None:
    made: list[tuple[str, str]] = []
    remote = Scripted({"m": 0.5})

    def factory(spec: ProviderSpec, namespace: str) -> MetricProvider:
        made.append((spec.address, namespace))
        return remote

    analyzer = MetricAnalyzer(
        Scripted(),
        templates=Templates([template("t", "m", address="http://thanos:9090")]),
        providers=factory,
    )
    result = only_result(
        analyzer, {"name": "custom", "templateRef": {"name": "t"}, "thresholdRange": {"max": 1}}
    )
    assert (result.verdict, made) == (Verdict.PASS, [("http://thanos:9090", "test")])


@pytest.mark.parametrize(
    ("value", "bounds", "verdict"),
    [
        pytest.param(math.inf, {"max": 500}, Verdict.FAIL, id="p99-past-the-last-bucket-fails-max"),
        pytest.param(math.inf, {"min": 1}, Verdict.PASS, id="plus-inf-passes-a-min"),
        pytest.param(-math.inf, {"min": 1}, Verdict.FAIL, id="minus-inf-fails-a-min"),
    ],
)
def test_infinite_values_are_judged_against_the_bound_on_their_side(
    value: float, bounds: dict[str, float], verdict: Verdict
) -> None:
    analyzer = MetricAnalyzer(Scripted({"histogram_quantile": value}))
    assert (
        only_result(analyzer, {"name": "request-duration", "thresholdRange": bounds}).verdict
        is verdict
    )


@pytest.mark.parametrize(
    ("canary_value", "primary_value", "verdict"),
    [
        pytest.param(99.5, 99.6, Verdict.PASS, id="both-pass"),
        pytest.param(98.0, 99.6, Verdict.FAIL, id="threshold-fails"),
        pytest.param(99.5, None, Verdict.NO_DATA, id="primary-missing-holds"),
    ],
)
def test_a_metric_with_several_checks_takes_the_most_severe_verdict(
    canary_value: float, primary_value: float | None, verdict: Verdict
) -> None:
    provider = Scripted(
        {
            'destination_workload="podinfo-primary"': primary_value,
            'destination_workload="podinfo"': canary_value,
        }
    )
    metric = {
        "name": "request-success-rate",
        "thresholdRange": {"min": 99},
        "compare": {"mode": "difference", "min": -1},
    }
    result = only_result(MetricAnalyzer(provider), metric)
    assert result.verdict is verdict
    assert set(result.evidence) >= {"thresholdRange", "compare", "critical"}


def test_a_query_error_holds_whatever_the_no_data_policy() -> None:
    metric = {
        "name": "request-duration",
        "thresholdRange": {"max": 500},
        "noData": "pass",
        "critical": True,
    }
    result = only_result(MetricAnalyzer(Scripted(fail=True)), metric)
    assert (result.verdict, result.evidence["error"], result.evidence["critical"]) == (
        Verdict.HOLD,
        QUERY_ERROR,
        True,
    )
    assert result.reason.startswith("query failed: Prometheus at http://x did not answer within 5s")


def decided(subject: Canary, outcome: AnalysisOutcome) -> CanaryStatus:
    """The status the engine writes after an analysis tick with these results."""
    running = subject.model_copy(
        update={
            "status": subject.status.model_copy(
                update={
                    "phase": Phase.PROGRESSING,
                    "step": 1,
                    "canary_weight": 20,
                    "last_applied_spec": "new",
                    "last_promoted_spec": "old",
                }
            )
        }
    )
    obs = Observations(
        now=AT,
        revision="new",
        primary=Readiness(True),
        canary=Readiness(True),
        analysis=outcome.results,
        traffic=outcome.traffic,
    )
    return decide(running, obs).status


def test_template_and_query_errors_become_a_false_condition_naming_each_metric() -> None:
    subject = canary(
        {"name": "request-duration", "thresholdRange": {"max": 500}},
        {"name": "custom", "templateRef": {"name": "missing"}, "thresholdRange": {"max": 1}},
    )
    outcome = MetricAnalyzer(Scripted(fail=True)).analyze(subject, AT)
    assert [(r.name, r.evidence["error"]) for r in outcome.results] == [
        ("request-duration", QUERY_ERROR),
        ("custom", TEMPLATE_ERROR),
    ]
    condition = next(
        c for c in decided(subject, outcome).conditions if c.type == "MetricsAvailable"
    )
    assert (condition.status, condition.reason) == ("False", QUERY_ERROR)
    assert "custom: MetricTemplate test/missing not found" in condition.message


def test_a_clean_outcome_is_a_true_condition() -> None:
    subject = canary({"name": "request-duration", "thresholdRange": {"max": 500}})
    outcome = MetricAnalyzer(Scripted({"histogram_quantile": 100.0})).analyze(subject, AT)
    condition = next(
        c for c in decided(subject, outcome).conditions if c.type == "MetricsAvailable"
    )
    assert condition.status == "True"
