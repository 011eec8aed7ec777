"""Every rule of the Kayenta weighted-sum scorer, with worked examples and invariants."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from canary.analysis.classifier import Classification, MetricConfig, MetricResult, classify
from canary.analysis.results import Verdict
from canary.analysis.scorer import Outcome, ScoreThresholds, round_half_up, score

P, H, L = Classification.PASS, Classification.HIGH, Classification.LOW
N, NF, E = Classification.NODATA, Classification.NODATA_FAIL_METRIC, Classification.ERROR


def metric(
    label: Classification,
    *groups: str,
    critical: bool = False,
    muted: bool = False,
    name: str = "m",
) -> MetricResult:
    return MetricResult(
        name=name,
        classification=label,
        critical=critical,
        reason="test",
        groups=groups,
        muted=muted,
    )


@pytest.mark.parametrize(
    ("results", "weights", "expected"),
    [
        pytest.param([metric(P, "a"), metric(H, "a")], {}, 50.0, id="group-is-pass-share"),
        pytest.param(
            [metric(P, "a"), metric(H, "a"), metric(L, "a"), metric(NF, "a"), metric(E, "a")],
            {}, 25.0, id="nodata-fail-metric-counts-error-does-not",
        ),
        pytest.param(
            [metric(P, "a"), metric(N, "a"), metric(P, "b"), metric(P, "b"), metric(P, "b")],
            {}, 100.0, id="nodata-is-not-counted-in-a-group",
        ),
        pytest.param(
            [metric(H, "a"), metric(E, "b")], {}, 50.0,
            id="a-group-with-nothing-to-count-counts-as-100",
        ),
        pytest.param(
            [metric(P, "a"), metric(H, "a"), metric(P, "b"), metric(H, "c")], {"a": 60}, 50.0,
            id="unweighted-groups-share-the-rest",  # 50*0.6 + 100*0.2 + 0*0.2
        ),
        pytest.param(
            [metric(P, "a"), metric(P, "b")], {"a": 50, "z": 30}, 70.0,
            id="weights-are-not-renormalised",  # 100*0.5 + 100*(100-80)/100; z is absent
        ),
        pytest.param(
            [metric(P, "a"), metric(H, "a"), metric(H, "b")], {"a": 33.33, "b": 66.67}, 16.67,
            id="rounded-half-up-to-two-decimals",  # 50*0.3333 = 16.665 -> 16.67
        ),
        pytest.param([metric(H, "a", muted=True), metric(P, "a")], {}, 100.0,
                     id="muted-metrics-are-dropped"),
        pytest.param([metric(P), metric(H)], {}, 50.0, id="ungrouped-metrics-share-a-group"),
        pytest.param(
            [metric(P, "a", "b"), metric(H, "b")], {"a": 50, "b": 50}, 75.0,
            id="a-metric-counts-in-each-of-its-groups",
        ),
    ],
)  # fmt: skip
def test_weighted_sum_rules(
    results: list[MetricResult], weights: dict[str, float], expected: float
) -> None:
    assert score(results, weights).score == pytest.approx(expected, abs=1e-9)


@pytest.mark.parametrize(
    ("results", "reason_part"),
    [
        pytest.param([metric(P, "a"), metric(H, "a", critical=True, name="p99")],
                     "critical metric failed: p99", id="critical-high"),
        pytest.param([metric(P, "a"), metric(N, "a", critical=True, name="errors")],
                     "critical metric failed: errors", id="critical-nodata"),
        pytest.param([metric(N, "a"), metric(N, "a"), metric(P, "a"), metric(P, "a")],
                     "2 of 4 metrics have no data", id="half-nodata"),
        pytest.param([], "no metrics to score", id="no-metrics"),
    ],
)  # fmt: skip
def test_overrides_that_make_the_summary_zero(
    results: list[MetricResult], reason_part: str
) -> None:
    result = score(results)
    assert result.score == 0.0
    assert result.outcome is Outcome.FAIL
    assert reason_part in result.reason


def test_under_half_nodata_and_a_passing_critical_metric_keep_the_score() -> None:
    results = [metric(N, "a"), metric(P, "a", critical=True), metric(P, "a")]
    assert score(results).score == 100.0


def test_muted_nodata_does_not_count_towards_the_nodata_limit() -> None:
    results = [metric(N, "a", muted=True), metric(N, "a", muted=True), metric(P, "a")]
    assert score(results).score == 100.0


@pytest.mark.parametrize(
    ("value", "outcome"),
    [
        pytest.param(100.0, Outcome.PASS, id="above-pass"),
        pytest.param(95.0, Outcome.PASS, id="at-pass"),
        pytest.param(94.99, Outcome.MARGINAL, id="below-pass"),
        pytest.param(75.0, Outcome.MARGINAL, id="at-marginal"),
        pytest.param(74.99, Outcome.FAIL, id="below-marginal"),
    ],
)
def test_score_thresholds(value: float, outcome: Outcome) -> None:
    assert ScoreThresholds(95, 75).outcome(value) is outcome


@pytest.mark.parametrize(
    ("outcome_results", "verdict"),
    [
        pytest.param([metric(P, "a")], Verdict.PASS, id="pass"),
        pytest.param([metric(P, "a")] * 4 + [metric(H, "a")], Verdict.HOLD, id="marginal-holds"),
        pytest.param([metric(H, "a")], Verdict.FAIL, id="fail"),
    ],
)
def test_the_summary_becomes_a_check_result(
    outcome_results: list[MetricResult], verdict: Verdict
) -> None:
    assert score(outcome_results).to_check().verdict is verdict


@pytest.mark.parametrize(
    ("weights", "thresholds", "message"),
    [
        pytest.param({"a": -1}, None, "must be >= 0", id="negative-weight"),
        pytest.param({"a": 70, "b": 40}, None, "more than 100", id="weights-over-100"),
        pytest.param({}, (50, 70), "marginal <= pass", id="marginal-above-pass"),
    ],
)
def test_invalid_weights_and_thresholds_are_rejected(
    weights: dict[str, float], thresholds: tuple[float, float] | None, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        score([metric(P, "a")], weights, ScoreThresholds(*thresholds or (95.0, 75.0)))


def test_round_half_up_follows_the_decimal_text() -> None:
    assert round_half_up(16.665) == 16.67  # Python's round() gives 16.66 on the binary value
    assert round_half_up(2.675) == 2.68
    assert round_half_up(99.994999) == 99.99


labels = st.sampled_from(list(Classification))
group_names = st.sampled_from(["a", "b", "c"])
results_strategy = st.lists(
    st.builds(
        metric,
        labels,
        group_names,
        critical=st.booleans(),
        muted=st.booleans(),
    ),
    max_size=12,
)
weights_strategy = st.dictionaries(group_names, st.floats(0, 33), max_size=3)


@settings(max_examples=200, deadline=None)
@given(results=results_strategy, weights=weights_strategy)
def test_the_score_is_between_0_and_100(
    results: list[MetricResult], weights: dict[str, float]
) -> None:
    assert 0.0 <= score(results, weights).score <= 100.0


@settings(max_examples=200, deadline=None)
@given(
    results=results_strategy,
    weights=weights_strategy,
    failing=st.sampled_from([H, L, N]),
    marginal=st.floats(0.01, 100),
)
def test_adding_a_critical_failing_metric_makes_the_result_fail(
    results: list[MetricResult],
    weights: dict[str, float],
    failing: Classification,
    marginal: float,
) -> None:
    thresholds = ScoreThresholds(passing=100.0, marginal=marginal)
    with_failure = [*results, metric(failing, "a", critical=True)]
    assert score(with_failure, weights, thresholds).outcome is Outcome.FAIL


def test_results_serialise_with_group_scores() -> None:
    result = score([metric(P, "a"), metric(E, "b")], {"a": 40})
    check = result.to_check().to_dict()
    assert check["value"] == 100.0
    assert check["evidence"] == {
        "groups": [
            {"name": "a", "score": 100.0, "noData": False, "weight": 40, "counts": {"Pass": 1}},
            {"name": "b", "score": 0.0, "noData": True, "weight": 60.0, "counts": {"Error": 1}},
        ]
    }


def test_metric_config_groups_reach_the_result() -> None:
    result = classify(MetricConfig("latency", groups=("perf",)), [1.0, 2.0], [1.0, 2.0])
    assert result.groups == ("perf",)
