"""Every manual request gets an answer: acted on, or refused with a reason (status and Event)."""

from __future__ import annotations

from typing import Any

import pytest

from canary.api.canary import Phase, RequestOutcome, WebhookType
from canary.engine.engine import decide
from canary.engine.requests import Situation, refusal
from canary.engine.types import GateResult, ManualRequest, Readiness, RecordEvent, RequestKind
from tests.engine.conftest import NEW, NOW, idle, make_canary, observe, running

P = RequestKind


@pytest.mark.parametrize(
    ("kind", "situation", "expected"),
    [
        (P.PROMOTE, Situation(Phase.PROGRESSING), None),
        (P.PROMOTE_FULL, Situation(Phase.PAUSED), None),
        (P.ABORT, Situation(Phase.WAITING), None),
        (P.PROMOTE, Situation(Phase.WAITING), None),
        (P.RETRY, Situation(Phase.FAILED), None),
        (P.RETRY, Situation(Phase.ABORTED), None),
        (P.PAUSE, Situation(Phase.WAITING_PROMOTION), None),
        (P.RESUME, Situation(Phase.PAUSED), None),
        (P.PROMOTE, Situation(Phase.SUCCEEDED), "nothing to promote, the Canary is Succeeded"),
        (P.PROMOTE_FULL, Situation(Phase.FAILED), "nothing to promote, the Canary is Failed"),
        (P.ABORT, Situation(Phase.SUCCEEDED), "nothing to abort, the Canary is Succeeded"),
        (P.RETRY, Situation(Phase.SUCCEEDED), "nothing to retry, the Canary is Succeeded"),
        (P.RETRY, Situation(Phase.PROGRESSING), "nothing to retry, the Canary is Progressing"),
        (P.RESUME, Situation(Phase.PROGRESSING), "nothing to resume, the Canary is Progressing"),
        (P.PAUSE, Situation(Phase.PAUSED), "the Canary is already Paused"),
        (P.PROMOTE, Situation(Phase.PROMOTING), "the primary is taking the new revision"),
        (P.PROMOTE, Situation(Phase.INITIALIZING), "initializing"),
        (P.PROMOTE, Situation(None), "initializing"),
        (P.ABORT, Situation(Phase.PROGRESSING, suspended=True), "suspended"),
        (P.ABORT, Situation(Phase.PROGRESSING, deleting=True), "being deleted"),
        (None, Situation(Phase.PROGRESSING), "unknown request kind 'explode'"),
    ],
)
def test_which_requests_are_refused_and_why(
    kind: RequestKind | None, situation: Situation, expected: str | None
) -> None:
    answer = refusal(ManualRequest(f"{kind or 'explode'}/1", kind), situation)
    if expected is None:
        assert answer is None
    else:
        assert answer is not None
        assert expected in answer


def _answer(status: dict[str, Any], request: ManualRequest, **obs: Any) -> Any:
    subject = make_canary(status)
    return decide(subject, observe(subject, request=request, **obs))


def test_a_refused_request_is_recorded_with_its_reason_and_a_warning_event() -> None:
    decision = _answer(
        idle(lastAppliedSpec=NEW, lastPromotedSpec=NEW), ManualRequest("promote/7", P.PROMOTE)
    )
    last = decision.status.last_request
    assert (last.id, last.kind, last.outcome) == ("promote/7", "promote", RequestOutcome.REFUSED)
    assert last.reason == "nothing to promote, the Canary is Succeeded"
    assert last.time == NOW
    assert decision.status.phase == Phase.SUCCEEDED
    assert (
        RecordEvent(
            "Warning",
            "RequestRefused",
            "promote (promote/7) refused: nothing to promote, the Canary is Succeeded",
        )
        in decision.actions
    )


def test_an_unknown_kind_is_refused_not_dropped() -> None:
    decision = _answer(running(), ManualRequest("explode/1", None))
    assert decision.status.last_request.outcome == RequestOutcome.REFUSED
    assert decision.status.last_request.kind == "explode"
    assert decision.status.handled_request == "explode/1"
    assert any(
        isinstance(a, RecordEvent) and a.reason == "RequestRefused" for a in decision.actions
    )


def test_an_accepted_request_is_recorded_and_acted_on() -> None:
    decision = _answer(running(), ManualRequest("abort/1", P.ABORT))
    assert decision.status.last_request.outcome == RequestOutcome.ACCEPTED
    assert decision.status.phase == Phase.ABORTED
    assert any(
        a == RecordEvent("Normal", "RequestAccepted", "abort (abort/1) accepted: rolling back now")
        for a in decision.actions
    )


def test_a_request_while_the_canary_is_not_ready_waits_for_it_and_is_not_lost() -> None:
    """Given a run whose canary is not ready, when promote arrives, then it is not answered yet
    (the CLI says "not seen yet"); once the canary is ready it is accepted and acted on."""
    request = ManualRequest("promote/2", P.PROMOTE)
    waiting = _answer(running(), request, canary=Readiness(False, "0/1 ready"))
    assert waiting.status.last_request is None
    assert waiting.status.handled_request != "promote/2"
    assert waiting.status.step == 1
    subject = make_canary(waiting.status.model_dump(by_alias=True, mode="json"))
    ready = decide(subject, observe(subject, request=request))
    assert ready.status.last_request is not None
    assert ready.status.last_request.outcome == RequestOutcome.ACCEPTED
    assert ready.status.step == 2


def test_the_same_request_is_answered_once() -> None:
    subject = make_canary(running())
    first = decide(subject, observe(subject, request=ManualRequest("pause/1", P.PAUSE)))
    again = make_canary(first.status.to_wire())
    second = decide(again, observe(again, request=ManualRequest("pause/1", P.PAUSE)))
    assert second.status.last_request == first.status.last_request
    assert not any(isinstance(a, RecordEvent) and "Request" in a.reason for a in second.actions)


def test_promote_while_waiting_passes_the_confirm_rollout_gate() -> None:
    hooks = {"webhooks": [{"name": "gate", "type": "confirm-rollout", "url": "http://gate/"}]}
    subject = make_canary(idle("Waiting"), analysis=hooks)
    closed = {WebhookType.CONFIRM_ROLLOUT: GateResult(passed=False, message="closed")}
    decision = decide(
        subject, observe(subject, request=ManualRequest("promote/3", P.PROMOTE), gates=closed)
    )
    assert decision.status.phase == Phase.PROGRESSING
    assert "start approved by request" in decision.status.message
    assert decision.status.last_request.outcome == RequestOutcome.ACCEPTED
