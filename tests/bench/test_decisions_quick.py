"""The decisions benchmark's quick mode: the documented JSON fields, and gross regressions caught."""

from __future__ import annotations

import json
from typing import Any

import pytest

from bench import decisions

CELL_FIELDS = {
    "policy",
    "scenario",
    "kind",
    "bad",
    "ratio",
    "runs",
    "promoted",
    "rolledBack",
    "undecided",
    "falseRollbacks",
    "missed",
    "decisionSecondsMedian",
    "decisionSecondsP95",
    "failedRequestsMedian",
    "failedRequestsP95",
    "failedRequestsMean",
    "canaryRequestsMedian",
    "canaryRequestsP95",
    "sprtBound",
}
POLICIES = ["flagger", "flagger+sequential", "threshold", "sequential", "sequential-fast"]
TARGETS = {
    "falseRollbacksAtMost1Percent",
    "noMissedErrorRegression2xOrMore",
    "failedRequestsAtMostAFifthOfFlagger",
    "failedRequestsWithin2xOfSprtBound",
    "healthyPromotedInAtMostHalfFlaggerTime",
}


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("bench")
    assert decisions.main(["--quick", "--runs", "2", "--out", str(out)]) == 0
    assert (out / "decisions.png").stat().st_size > 0
    body: dict[str, Any] = json.loads((out / "decisions.json").read_text())
    return body


def test_the_json_has_the_documented_fields(report: dict[str, Any]) -> None:
    assert set(report) == {"meta", "policies", "scenarios", "cells", "summary", "targets"}
    assert set(report["policies"]) == set(POLICIES)
    assert report["meta"]["runsPerScenario"] == 2
    for cell in report["cells"]:
        assert set(cell) >= CELL_FIELDS, CELL_FIELDS - set(cell)
        assert cell["runs"] == 2
    bounded = [c for c in report["cells"] if c["scenario"] == "errors-10x"]
    assert all(c["sprtBound"]["canaryFailedRequests"] > 0 for c in bounded)
    assert set(report["targets"]) == {"sequential", "sequential-fast"}
    assert set(report["targets"]["sequential"]) == TARGETS
    for summary in report["summary"].values():
        assert {"falseRollbackRate", "missedErrorRegressions2xOrMore"} <= set(summary)


# Under the simulator's Prometheus model (15 s scrapes), increase() over the sequential policies'
# 10 s analysis window holds at most one scrape per pod: no data, so the sequential test gets no
# canary evidence and, with no success-rate metric, nothing catches the errors. The engine's
# `Needs.traffic_since` (a longer window for the sequential test, issue 15) is the fix; until it
# is wired into the simulator these two cells are expected to miss. Not strict: they pass again
# once it lands, and the marks should then go.
BLIND_AT_10S = pytest.mark.xfail(
    reason="10 s window < 2 scrapes of 15 s: the sequential test sees no canary traffic",
    strict=False,
)


@pytest.mark.parametrize(
    "policy",
    [pytest.param(p, marks=BLIND_AT_10S) if p.startswith("sequential") else p for p in POLICIES],
)
def test_a_gross_regression_is_rolled_back_by_every_policy(
    report: dict[str, Any], policy: str
) -> None:
    cell = next(
        c for c in report["cells"] if c["policy"] == policy and c["scenario"] == "errors-20x"
    )
    assert cell["rolledBack"] == cell["runs"] == 2
    assert cell["missed"] == 0


def test_every_policy_sees_the_same_seeds() -> None:
    jobs = decisions.jobs(decisions.policies(), decisions.suite()[:1], runs=3)
    seeds = {
        policy: [seed for p, _, _, seed in jobs if p == policy]
        for policy in ("flagger", "sequential")
    }
    assert seeds["flagger"] == seeds["sequential"] == [1000, 1001, 1002]
