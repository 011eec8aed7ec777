"""The decisions benchmark: the suite's structure, the SPRT limit by hand, and gross regressions caught."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from bench import decisions
from canary.api.canary import Phase

CELL_FIELDS = {
    "policy",
    "scenario",
    "kind",
    "bad",
    "ratio",
    "rps",
    "runs",
    "promoted",
    "rolledBack",
    "undecided",
    "rollbackPercent",
    "rollbackPercentCi95",
    "missed",
    "falseRollbacks",
    "decisionSecondsMedian",
    "decisionSecondsP95",
    "failedRequestsMedian",
    "failedRequestsP95",
    "limit",
    "vsFlagger",
    "vsLimit",
}


def by_name() -> dict[str, decisions.BenchScenario]:
    return {bench.name: bench for bench in decisions.suite()}


def test_the_suite_has_every_scenario_the_issue_asks_for() -> None:
    suite = by_name()
    errors = {b.ratio for b in suite.values() if b.kind == "error" and b.rps == decisions.RPS}
    latency = {b.ratio for b in suite.values() if b.kind == "latency"}
    assert errors == {1.5, 2.0, 5.0, 10.0, 50.0, 200.0}
    assert latency == {1.5, 2.0}
    assert {b.rps for b in suite.values()} == {100.0, 10.0, 2.0}
    assert {"healthy", "healthy-noisy", "healthy-bursty", "healthy-slow-ready"} <= set(suite)
    assert all(b.scenario.primary.error_rate == 0.001 for b in suite.values())
    assert suite["errors-200x"].scenario.canary.error_rate == pytest.approx(0.2)


def test_only_regressions_count_as_bad() -> None:
    suite = by_name()
    assert not suite["healthy-bursty"].bad
    assert suite["errors-2x"].bad
    assert suite["latency-2x"].bad


def test_the_policies_are_the_documented_default_and_flaggers_example() -> None:
    specs = decisions.policies()
    flagger = specs["flagger"].spec
    assert flagger.strategy.canary is not None
    assert flagger.strategy.canary.ladder() == [10, 20, 30, 40, 50]
    assert (flagger.analysis.interval, flagger.analysis.threshold) == ("1m", 5)
    assert not flagger.analysis.sequential.enabled
    latency = [m for m in specs["default"].spec.analysis.metrics if m.name == "request-duration"]
    # The default judges latency against the primary's, not against a fixed bound alone.
    assert latency
    assert latency[0].compare is not None


def test_the_sprt_limit_of_a_200x_regression_matches_walds_formula_by_hand() -> None:
    default = decisions.policies()["default"]
    limit = decisions.sprt_limit(by_name()["errors-200x"], default)
    assert limit is not None
    sequential = default.spec.analysis.sequential
    assert sequential.min_effect == 2
    # At weight w a failure is the canary's with probability r*w/(r*w + 1 - w); Wald's upper
    # bound is log A = ln((1 - beta) / alpha); a 200x regression ends at A almost surely, so
    # E[failures] = log A / E[step] (Wald 1947).
    alpha, beta = sequential.false_rollback_rate, sequential.false_promotion_rate
    log_a = math.log((1 - beta) / alpha)

    def expected(w: float) -> tuple[float, float]:
        pi0, pi1, pi = w, 2 * w / (2 * w + 1 - w), 200 * w / (200 * w + 1 - w)
        drift = pi * math.log(pi1 / pi0) + (1 - pi) * math.log((1 - pi1) / (1 - pi0))
        failures = log_a / drift
        requests = failures / (0.001 * (200 * w + 1 - w))
        return requests / 100, requests * w * 0.2

    seconds_top, _ = expected(0.5)
    _, failed_first = expected(0.1)
    assert limit["seconds"] == pytest.approx(seconds_top, rel=1e-3)
    assert limit["failedRequests"] == pytest.approx(failed_first, rel=1e-3)


def test_latency_scenarios_have_no_error_rate_limit() -> None:
    assert decisions.sprt_limit(by_name()["latency-2x"], decisions.policies()["default"]) is None


@pytest.mark.parametrize("policy", ["default", "flagger"])
def test_a_200x_regression_is_rolled_back_in_every_seed(policy: str) -> None:
    bench = by_name()["errors-200x"]
    canary = decisions.policies()[policy]
    runs = [decisions.run_one((policy, canary, bench, seed)) for seed in range(1000, 1004)]
    assert all(run.phase == Phase.FAILED for run in runs)


def test_a_promoted_bad_canary_is_charged_its_failures_until_the_horizon() -> None:
    # Flagger's 99% bound does not see 5x of 0.1% (0.5%): it promotes, and users pay afterwards.
    bench = by_name()["errors-5x"]
    run = decisions.run_one(("flagger", decisions.policies()["flagger"], bench, 1000))
    assert run.phase == Phase.SUCCEEDED
    assert run.decision_seconds is not None
    after = (3600 - run.decision_seconds) * 100 * 0.005
    assert run.failed_requests == pytest.approx(run.failed_before_decision + after)


def test_every_policy_sees_the_same_seeds() -> None:
    jobs = decisions.jobs(decisions.policies(), decisions.suite()[:1], seeds=3)
    seeds = {
        policy: [seed for p, _, _, seed in jobs if p == policy] for policy in ("default", "flagger")
    }
    assert seeds["default"] == seeds["flagger"] == [1000, 1001, 1002]


def test_wilson_interval_of_no_event_in_100_runs() -> None:
    low, high = decisions.wilson(0, 100)
    assert low == 0.0
    assert high == pytest.approx(0.037, abs=0.001)


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out: Path = tmp_path_factory.mktemp("bench")
    argv = ["--quick", "--seeds", "2", "--jobs", "1", "--observe", "exact"]
    assert decisions.main([*argv, "--only", "errors-200x,latency-2x", "--out", str(out)]) == 0
    assert "| errors-200x | default |" in (out / "decisions.md").read_text()
    body: dict[str, Any] = json.loads((out / "decisions.json").read_text())
    return body


def test_the_json_has_the_documented_fields(report: dict[str, Any]) -> None:
    assert set(report) == {"meta", "policies", "scenarios", "cells", "targets"}
    assert set(report["policies"]) == {"default", "flagger"}
    assert report["meta"]["observe"] == "exact"
    assert {"commit", "cores", "cpu", "seeds", "ciHalfWidth"} <= set(report["meta"])
    assert len(report["cells"]) == 4
    for cell in report["cells"]:
        assert set(cell) >= CELL_FIELDS, CELL_FIELDS - set(cell)
        assert cell["runs"] == 2
    assert [t["met"] for t in report["targets"]].count(None) == 0


def test_latency_2x_is_rolled_back_by_the_default_and_promoted_by_flagger(
    report: dict[str, Any],
) -> None:
    # p99 300 ms is 2x the primary's but under Flagger's fixed 500 ms.
    cells = {c["policy"]: c for c in report["cells"] if c["scenario"] == "latency-2x"}
    assert cells["default"]["rolledBack"] == 2
    assert cells["flagger"]["promoted"] == 2


def test_observe_chooses_the_simulated_prometheus_or_exact_counts() -> None:
    bench = by_name()["healthy"]
    modelled, mode = decisions.observed(bench, "prometheus")
    assert mode == "prometheus"
    assert modelled.scenario.prometheus.exact is False
    exact, mode = decisions.observed(bench, "exact")
    assert mode == "exact"
    assert exact.scenario.prometheus.exact is True
    assert (
        exact.scenario.model_copy(update={"prometheus": bench.scenario.prometheus})
        == bench.scenario
    )
