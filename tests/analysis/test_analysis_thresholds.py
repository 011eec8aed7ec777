"""Threshold, relative and low-traffic checks: Flagger's semantics plus no-data policies."""

from __future__ import annotations

import json
import math

import pytest

from canary.analysis.results import CheckResult, Verdict
from canary.analysis.thresholds import (
    NoDataPolicy,
    RelativeMode,
    check_relative,
    check_threshold,
    check_traffic,
)


@pytest.mark.parametrize(
    ("value", "low", "high", "verdict", "reason_part"),
    [
        pytest.param(99.5, 99.0, None, Verdict.PASS, "within >= 99", id="above-min"),
        pytest.param(98.0, 99.0, None, Verdict.FAIL, "98 < 99", id="below-min"),
        pytest.param(99.0, 99.0, None, Verdict.PASS, "within", id="at-min-is-inclusive"),
        pytest.param(600.0, None, 500.0, Verdict.FAIL, "600 > 500", id="above-max"),
        pytest.param(500.0, None, 500.0, Verdict.PASS, "within", id="at-max-is-inclusive"),
        pytest.param(5.0, 1.0, 10.0, Verdict.PASS, "1 <= value <= 10", id="inside-range"),
        pytest.param(0.5, 1.0, 10.0, Verdict.FAIL, "0.5 < 1", id="below-range"),
        pytest.param(7.0, None, None, Verdict.PASS, "no bounds", id="no-bounds"),
    ],
)
def test_threshold_checks_follow_flaggers_min_max(
    value: float, low: float | None, high: float | None, verdict: Verdict, reason_part: str
) -> None:
    result = check_threshold("request-success-rate", value, low, high, no_data=NoDataPolicy.FAIL)
    assert result.verdict is verdict
    assert reason_part in result.reason
    assert result.value == value
    assert result.primary_value is None


@pytest.mark.parametrize("value", [None, math.nan, math.inf, -math.inf], ids=str)
@pytest.mark.parametrize(
    ("policy", "verdict"),
    [
        pytest.param(NoDataPolicy.FAIL, Verdict.FAIL, id="fail"),
        pytest.param(NoDataPolicy.HOLD, Verdict.NO_DATA, id="hold"),
        pytest.param(NoDataPolicy.PASS, Verdict.PASS, id="pass"),
    ],
)
def test_missing_or_non_finite_values_follow_the_no_data_policy(
    value: float | None, policy: NoDataPolicy, verdict: Verdict
) -> None:
    result = check_threshold("latency", value, None, 500.0, no_data=policy)
    assert result.verdict is verdict
    assert "no data" in result.reason
    assert result.evidence["noDataPolicy"] == policy.value


def test_no_data_never_promotes_by_default() -> None:
    assert not check_threshold("latency", None, None, 500.0).verdict.allows_advance
    relative = check_relative("errors", 0.1, None, mode="ratio", max=1.1)
    assert not relative.verdict.allows_advance
    assert not relative.verdict.counts_as_failure


@pytest.mark.parametrize(
    ("canary", "primary", "mode", "low", "high", "verdict", "reason_part"),
    [
        pytest.param(1.05, 1.0, "ratio", None, 1.1, Verdict.PASS, "ratio 1.05", id="ratio-within"),
        pytest.param(1.2, 1.0, "ratio", None, 1.1, Verdict.FAIL, "out of range", id="ratio-above"),
        pytest.param(0.8, 1.0, "ratio", 0.9, None, Verdict.FAIL, "ratio 0.8", id="ratio-below"),
        pytest.param(
            120.0, 100.0, "difference", None, 25.0, Verdict.PASS, "difference 20", id="diff-within"
        ),
        pytest.param(
            130.0, 100.0, "difference", None, 25.0, Verdict.FAIL, "difference 30", id="diff-above"
        ),
        pytest.param(
            0.0, 0.0, "ratio", None, 1.1, Verdict.PASS, "both 0; the ratio is taken as 1",
            id="zero-over-zero-is-no-change",
        ),
        pytest.param(
            0.5, 0.0, "ratio", None, 1.1, Verdict.FAIL, "the primary is 0",
            id="positive-over-zero-is-unbounded",
        ),
        pytest.param(
            0.5, 0.0, "ratio", 0.9, None, Verdict.PASS, "unbounded",
            id="unbounded-ratio-passes-a-lower-bound",
        ),
        pytest.param(
            0.5, 0.0, "difference", None, 1.0, Verdict.PASS, "difference 0.5",
            id="difference-needs-no-guard",
        ),
    ],
)  # fmt: skip
def test_relative_checks_compare_canary_with_primary(
    canary: float,
    primary: float,
    mode: RelativeMode,
    low: float | None,
    high: float | None,
    verdict: Verdict,
    reason_part: str,
) -> None:
    result = check_relative(
        "errors", canary, primary, mode=mode, min=low, max=high, no_data=NoDataPolicy.FAIL
    )
    assert result.verdict is verdict
    assert reason_part in result.reason
    assert result.value == canary
    assert result.primary_value == primary


@pytest.mark.parametrize(
    ("canary", "primary", "missing"),
    [
        pytest.param(None, 1.0, "the canary", id="canary-missing"),
        pytest.param(1.0, math.nan, "the primary", id="primary-nan"),
        pytest.param(None, None, "the canary and the primary", id="both-missing"),
    ],
)
def test_relative_checks_name_the_side_without_data(
    canary: float | None, primary: float | None, missing: str
) -> None:
    result = check_relative("errors", canary, primary, mode="ratio", max=1.1)
    assert result.verdict is Verdict.NO_DATA
    assert f"no data for {missing}" in result.reason


@pytest.mark.parametrize(
    ("requests", "verdict", "reason"),
    [
        pytest.param(12.0, Verdict.HOLD, "low traffic: 12 requests < 100", id="low"),
        pytest.param(None, Verdict.HOLD, "low traffic: 0 requests < 100", id="no-requests"),
        pytest.param(100.0, Verdict.PASS, "enough traffic: 100 requests >= 100", id="enough"),
    ],
)
def test_low_traffic_is_reported_as_low_traffic_not_as_a_failure(
    requests: float | None, verdict: Verdict, reason: str
) -> None:
    result = check_traffic("canary-traffic", requests, 100)
    assert result.verdict is verdict
    assert result.reason == reason
    assert not result.verdict.counts_as_failure


def test_results_serialise_to_camel_case_json_without_nan() -> None:
    result = CheckResult(
        "latency",
        Verdict.PASS,
        math.nan,
        1.0,
        "<= 500",
        "fine",
        {"interval": (0.0, math.inf), "sizes": {"control": 3}},
    )
    data = result.to_dict()
    assert set(data) == {
        "name", "verdict", "value", "primaryValue", "threshold", "reason", "evidence"
    }  # fmt: skip
    assert data["value"] is None
    assert data["evidence"] == {"interval": [0.0, None], "sizes": {"control": 3}}
    json.dumps(data, allow_nan=False)


def test_every_threshold_result_is_json_serialisable() -> None:
    results = [
        check_threshold("a", 1.0, 0.0, 2.0),
        check_threshold("b", None, 0.0, 2.0),
        check_relative("c", 1.0, 0.0, mode="ratio", max=2.0),
        check_traffic("d", 5, 10, primary_requests=40),
    ]
    for result in results:
        json.dumps(result.to_dict(), allow_nan=False)
