"""Every phase transition of the engine, one row each: given a Canary and observations, then what."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest

from canary.analysis.results import Verdict
from canary.api.canary import Phase, WebhookType
from canary.engine.engine import decide, needs
from canary.engine.types import (
    GateResult,
    Initialize,
    ManualRequest,
    PromotePrimary,
    Readiness,
    RecordEvent,
    RequestKind,
    Revert,
    Routes,
    ScaleCanary,
    SetRoutes,
)
from tests.engine.conftest import NEW, NOW, OLD, check, idle, make_canary, observe, running

CONFIRM = {"webhooks": [{"name": "gate", "type": "confirm-rollout", "url": "http://gate/"}]}
CONFIRM_PROMOTION = {
    "webhooks": [{"name": "gate", "type": "confirm-promotion", "url": "http://gate/"}]
}
ROLLBACK_HOOK = {"webhooks": [{"name": "rb", "type": "rollback", "url": "http://rb/"}]}


@dataclass
class Row:
    status: dict[str, Any] | None
    expect_phase: Phase
    expect_weight: int | None = None
    spec: dict[str, Any] = field(default_factory=dict)
    obs: dict[str, Any] = field(default_factory=dict)
    expect_actions: tuple[type, ...] = ()
    expect_message: str = ""


def request(kind: RequestKind) -> ManualRequest:
    return ManualRequest(id=f"req-{kind}", kind=kind)


ROWS = {
    "new canary, primary not ready: Initializing": Row(
        None,
        Phase.INITIALIZING,
        obs={"primary": Readiness(False, "0/2 available")},
        expect_actions=(Initialize,),
    ),
    "new canary, primary ready: Initialized, target scaled to zero": Row(
        None, Phase.INITIALIZED, 0, expect_actions=(Initialize, ScaleCanary)
    ),
    "Initializing, primary ready: Initialized": Row(
        {"phase": "Initializing"}, Phase.INITIALIZED, 0
    ),
    "Initialized, same revision: nothing happens": Row(
        {"phase": "Initialized", "lastAppliedSpec": NEW, "lastPromotedSpec": NEW},
        Phase.INITIALIZED,
        0,
    ),
    "Succeeded, new revision: Progressing, canary scaled up": Row(
        idle(),
        Phase.PROGRESSING,
        0,
        expect_actions=(ScaleCanary, SetRoutes),
        expect_message="new revision detected",
    ),
    "Initialized, new revision, confirm-rollout closed: Waiting": Row(
        idle("Initialized"),
        Phase.WAITING,
        0,
        spec={"analysis": CONFIRM},
        obs={"gates": {WebhookType.CONFIRM_ROLLOUT: GateResult(False, "403")}},
    ),
    "Waiting, confirm-rollout opens: Progressing": Row(
        idle("Waiting"),
        Phase.PROGRESSING,
        0,
        spec={"analysis": CONFIRM},
        obs={"gates": {WebhookType.CONFIRM_ROLLOUT: GateResult(True)}},
    ),
    "Waiting, abort requested: Aborted": Row(
        idle("Waiting"),
        Phase.ABORTED,
        0,
        spec={"analysis": CONFIRM},
        obs={"request": request(RequestKind.ABORT)},
    ),
    "Progressing, first tick: first weight step without metrics": Row(
        running(step=0, weight=0, lastAnalysisAt=None),
        Phase.PROGRESSING,
        20,
        obs={"analysis": None},
        expect_actions=(SetRoutes,),
    ),
    "Progressing, checks pass: next weight": Row(
        running(step=1), Phase.PROGRESSING, 40, expect_actions=(SetRoutes,)
    ),
    "Progressing, check fails below threshold: weight held, failure counted": Row(
        running(step=2),
        Phase.PROGRESSING,
        40,
        obs={"analysis": [check(Verdict.FAIL)]},
        expect_message="check failed",
    ),
    "Progressing, check fails at threshold: Failed, all traffic to primary": Row(
        running(step=2, failedChecks=1),
        Phase.FAILED,
        0,
        obs={"analysis": [check(Verdict.FAIL)]},
        expect_actions=(SetRoutes, ScaleCanary),
    ),
    "Progressing, critical check fails: Failed at once": Row(
        running(step=2),
        Phase.FAILED,
        0,
        spec={
            "analysis": {
                "threshold": 5,
                "metrics": [
                    {
                        "name": "request-success-rate",
                        "thresholdRange": {"min": 99},
                        "critical": True,
                    }
                ],
            }
        },
        obs={"analysis": [check(Verdict.FAIL)]},
        expect_message="critical check failed",
    ),
    "Progressing, no data: hold without counting a failure": Row(
        running(step=2),
        Phase.PROGRESSING,
        40,
        obs={"analysis": [check(Verdict.NO_DATA)]},
        expect_message="holding",
    ),
    "Progressing, analysis not due: nothing changes": Row(
        running(step=2, lastAnalysisAt=(NOW - timedelta(seconds=10)).isoformat()),
        Phase.PROGRESSING,
        40,
    ),
    "Progressing at max weight, checks pass: Promoting": Row(
        running(step=4), Phase.PROMOTING, 80, expect_actions=(PromotePrimary,)
    ),
    "Progressing at max weight, confirm-promotion closed: WaitingPromotion": Row(
        running(step=4),
        Phase.WAITING_PROMOTION,
        80,
        spec={"analysis": CONFIRM_PROMOTION},
        obs={"gates": {WebhookType.CONFIRM_PROMOTION: GateResult(False, "403")}},
    ),
    "WaitingPromotion, confirm-promotion opens: Promoting": Row(
        running(step=4, phase="WaitingPromotion"),
        Phase.PROMOTING,
        80,
        spec={"analysis": CONFIRM_PROMOTION},
        obs={"gates": {WebhookType.CONFIRM_PROMOTION: GateResult(True)}},
    ),
    "Promoting, primary ready: Succeeded, traffic back on the primary": Row(
        running(step=4, phase="Promoting"),
        Phase.SUCCEEDED,
        0,
        expect_actions=(SetRoutes, ScaleCanary),
    ),
    "Promoting, primary not ready yet: keep waiting": Row(
        running(step=4, phase="Promoting"),
        Phase.PROMOTING,
        80,
        obs={"primary": Readiness(False, "1/2 updated")},
    ),
    "Promoting, primary never ready: Failed with users on the ready canary": Row(
        running(step=4, phase="Promoting", notReadySince=(NOW - timedelta(minutes=10)).isoformat()),
        Phase.FAILED,
        100,
        obs={"primary": Readiness(False, "crash loop")},
        expect_message="promotion failed",
    ),
    "Progressing, canary not ready past the deadline: Failed": Row(
        running(step=1, notReadySince=(NOW - timedelta(minutes=6)).isoformat()),
        Phase.FAILED,
        0,
        obs={"canary": Readiness(False, "0/2 available")},
        expect_message="progress deadline exceeded",
    ),
    "Progressing, canary not ready before the deadline: wait": Row(
        running(step=1),
        Phase.PROGRESSING,
        20,
        obs={"canary": Readiness(False, "0/2 available")},
        expect_message="waiting for the canary",
    ),
    "Progressing, abort requested: Aborted, all traffic to primary": Row(
        running(step=2),
        Phase.ABORTED,
        0,
        obs={"request": request(RequestKind.ABORT)},
        expect_actions=(SetRoutes, ScaleCanary),
    ),
    "Progressing, pause requested: Paused, weight held": Row(
        running(step=2), Phase.PAUSED, 40, obs={"request": request(RequestKind.PAUSE)}
    ),
    "Paused, checks pass: still Paused": Row(running(step=2, phase="Paused"), Phase.PAUSED, 40),
    # No gate is asked while paused, so the checks wait for the next reconcile.
    "Paused, resume requested: Progressing again, checks at the next tick": Row(
        running(step=2, phase="Paused"),
        Phase.PROGRESSING,
        40,
        obs={"request": request(RequestKind.RESUME)},
    ),
    "Progressing, promote requested: one step without analysis": Row(
        running(step=2, lastAnalysisAt=NOW.isoformat()),
        Phase.PROGRESSING,
        60,
        obs={"request": request(RequestKind.PROMOTE), "analysis": None},
    ),
    "Progressing, full promotion requested: Promoting": Row(
        running(step=1),
        Phase.PROMOTING,
        20,
        obs={"request": request(RequestKind.PROMOTE_FULL)},
        expect_actions=(PromotePrimary,),
    ),
    "Progressing, rollback webhook fires: Failed": Row(
        running(step=2),
        Phase.FAILED,
        0,
        spec={"analysis": ROLLBACK_HOOK},
        obs={"gates": {WebhookType.ROLLBACK: GateResult(True, "200")}},
        expect_message="rollback requested by webhook",
    ),
    "Progressing, new revision: restart from weight 0": Row(
        running(step=3),
        Phase.PROGRESSING,
        0,
        obs={"revision": "rev-newer"},
        expect_message="restarting from weight 0",
    ),
    "Progressing, target back to the promoted revision: run cancelled": Row(
        running(step=3),
        Phase.SUCCEEDED,
        0,
        obs={"revision": OLD},
        expect_message="went back to the promoted revision",
    ),
    "Failed, same revision: nothing starts": Row(
        {"phase": "Failed", "lastAppliedSpec": NEW, "lastPromotedSpec": OLD}, Phase.FAILED, 0
    ),
    "Failed, retry requested: Progressing again": Row(
        {"phase": "Failed", "lastAppliedSpec": NEW, "lastPromotedSpec": OLD},
        Phase.PROGRESSING,
        0,
        obs={"request": request(RequestKind.RETRY)},
    ),
    "Progressing with skipAnalysis: Promoting at once": Row(
        running(step=0, weight=0), Phase.PROMOTING, 0, spec={"skipAnalysis": True}
    ),
    "Deleted with revertOnDeletion: Terminated, originals restored": Row(
        running(step=2),
        Phase.TERMINATED,
        40,
        spec={"revertOnDeletion": True},
        obs={"deleting": True},
        expect_actions=(Revert,),
    ),
    "Suspended: nothing happens": Row(
        running(step=2), Phase.PROGRESSING, 40, spec={"suspend": True}, expect_message="suspended"
    ),
}


@pytest.mark.parametrize("row", ROWS.values(), ids=ROWS.keys())
def test_phase_transition(row: Row) -> None:
    canary = make_canary(row.status, **row.spec)
    decision = decide(canary, observe(canary, **row.obs))
    assert decision.status.phase == row.expect_phase, decision.status.message
    if row.expect_weight is not None:
        assert decision.status.canary_weight == row.expect_weight
    kinds = [type(action) for action in decision.actions]
    for expected in row.expect_actions:
        assert expected in kinds, kinds
    assert row.expect_message in decision.status.message


def test_mirror_phase_copies_traffic_before_any_user_moves_then_clears_it() -> None:
    mirror = {"canary": {"stepWeight": 20, "mirror": {"percent": 100, "iterations": 1}}}
    canary = make_canary(running(step=0, weight=0, lastAnalysisAt=None), strategy=mirror)
    first = decide(canary, observe(canary, analysis=None))
    assert (first.status.canary_weight, first.status.mirror_weight) == (0, 100)
    after = make_canary(
        # One interval later: the mirror step has lasted as long as the sequential test asks.
        {
            **first.status.to_wire(),
            "lastAnalysisAt": (NOW - timedelta(minutes=1)).isoformat(),
            "stepStartedAt": (NOW - timedelta(minutes=1)).isoformat(),
        },
        strategy=mirror,
    )
    second = decide(after, observe(after))
    assert (second.status.canary_weight, second.status.mirror_weight) == (20, 0)
    routes = [a.routes for a in second.actions if isinstance(a, SetRoutes)]
    assert routes == [Routes(primary=80, canary=20, mirror=0)]


def test_blue_green_switches_all_traffic_to_the_canary_before_promoting() -> None:
    strategy = {"blueGreen": {"iterations": 2}}
    canary = make_canary(running(step=0, weight=0, iterations=2), strategy=strategy)
    decision = decide(canary, observe(canary))
    assert decision.status.phase == Phase.PROMOTING
    assert Routes(primary=0, canary=100) in [
        a.routes for a in decision.actions if isinstance(a, SetRoutes)
    ]


def test_ab_testing_routes_matching_users_to_the_canary() -> None:
    strategy = {"abTesting": {"iterations": 3, "match": [{"headers": {"x-beta": {"exact": "1"}}}]}}
    canary = make_canary(running(step=0, weight=0, iterations=1), strategy=strategy)
    decision = decide(canary, observe(canary))
    assert decision.status.iterations == 2
    assert decision.status.phase == Phase.PROGRESSING


def test_a_request_is_acted_on_once() -> None:
    canary = make_canary(running(step=2))
    paused = decide(canary, observe(canary, request=request(RequestKind.PAUSE)))
    resumed = make_canary({**paused.status.to_wire(), "phase": "Progressing"})
    again = decide(resumed, observe(resumed, request=request(RequestKind.PAUSE)))
    assert again.status.phase == Phase.PROGRESSING


def test_failure_window_counts_only_recent_checks() -> None:
    analysis = {"threshold": 2, "failureWindow": 3}
    status = running(step=1, checkResults=[False, True, True], failedChecks=1)
    canary = make_canary(status, analysis=analysis)
    decision = decide(canary, observe(canary, analysis=[check(Verdict.FAIL)]))
    # The oldest failure left the window of 3: one failure in the window, below the threshold of 2.
    assert decision.status.phase == Phase.PROGRESSING
    assert decision.status.failed_checks == 1


def test_needs_asks_for_analysis_and_gates_only_when_due() -> None:
    spec = {
        "analysis": {
            "webhooks": [
                {"name": "lt", "type": "rollout", "url": "http://lt/"},
                {"name": "rb", "type": "rollback", "url": "http://rb/"},
            ]
        }
    }
    due = make_canary(running(step=1), **spec)
    assert needs(due, NEW, NOW).analysis
    assert needs(due, NEW, NOW).gates == {WebhookType.ROLLOUT, WebhookType.ROLLBACK}
    early = make_canary(running(step=1, lastAnalysisAt=NOW.isoformat()), **spec)
    assert not needs(early, NEW, NOW).analysis
    # Gates are asked once per interval, not at every reconcile a Deployment change causes.
    assert needs(early, NEW, NOW).gates == set()


def test_conditions_say_promoted_and_whether_a_rollout_is_in_progress() -> None:
    canary = make_canary(idle())
    status = decide(canary, observe(canary)).status
    conditions = {c.type: c for c in status.conditions}
    assert conditions["Promoted"].status == "Unknown"
    assert conditions["RollingOut"].status == "True"
    assert conditions["RollingOut"].reason == "Progressing"
    assert "new revision" in conditions["RollingOut"].message


def test_history_is_bounded() -> None:
    history = [
        {"time": NOW.isoformat(), "phase": "Progressing", "canaryWeight": 20, "verdict": "Pass"}
    ] * 50
    canary = make_canary(running(step=1, history=history))
    status = decide(canary, observe(canary)).status
    assert len(status.history) == 50
    assert status.history[-1].canary_weight == 40


def test_a_primary_that_never_becomes_ready_is_reported_once_after_the_deadline() -> None:
    since = (NOW - timedelta(minutes=6)).isoformat()
    canary = make_canary({"phase": "Initializing", "notReadySince": since})
    first = decide(canary, observe(canary, primary=Readiness(False, "0/2 available")))
    assert first.status.phase == Phase.INITIALIZING
    assert "not ready after" in first.status.message
    assert [a.reason for a in first.actions if isinstance(a, RecordEvent)] == ["PrimaryNotReady"]
    again = make_canary(first.status.to_wire())
    second = decide(again, observe(again, primary=Readiness(False, "0/2 available")))
    assert not [a for a in second.actions if isinstance(a, RecordEvent)]


def test_waiting_asks_confirm_rollout_again_only_after_an_interval() -> None:
    canary = make_canary(idle("Initialized"), analysis=CONFIRM)
    closed = {WebhookType.CONFIRM_ROLLOUT: GateResult(False, "403 Forbidden")}
    waiting = decide(canary, observe(canary, gates=closed)).status
    assert waiting.phase == Phase.WAITING
    after = make_canary(waiting.to_wire(), analysis=CONFIRM)
    assert needs(after, NEW, NOW + timedelta(seconds=10)).gates == set()
    assert needs(after, NEW, NOW + timedelta(minutes=1)).gates == {WebhookType.CONFIRM_ROLLOUT}


def test_a_retry_is_its_own_approval() -> None:
    failed = {"phase": "Failed", "lastAppliedSpec": NEW, "lastPromotedSpec": OLD}
    canary = make_canary(failed, analysis=CONFIRM)
    decision = decide(canary, observe(canary, request=request(RequestKind.RETRY)))
    assert decision.status.phase == Phase.PROGRESSING
