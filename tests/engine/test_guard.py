"""The sequential test's windows, the guard (the test and guard metrics), promotion on evidence."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from canary.analysis.results import Verdict
from canary.analysis.sequential import SequentialConfig
from canary.api.canary import Canary, Phase
from canary.engine.engine import decide, needs
from canary.engine.status import EVIDENCE_CONCLUSIVE
from canary.engine.types import (
    Observations,
    RecordEvent,
    SetRoutes,
    TrafficSample,
    traffic_window,
)
from canary.metrics.evaluate import QUERY_ERROR, Readings, error_result, evaluate
from canary.metrics.results import Reading
from tests.engine.conftest import NEW, NOW, T0, check, make_canary, observe, running

CONFIG = SequentialConfig()
GRID = list(CONFIG.ratios)
QUIET = TrafficSample(100, 0, 400, 0)
"""A window with no failures: no evidence either way."""
BAD = TrafficSample(100, 10, 400, 0)
"""Ten canary failures and none on the primary: a conclusive regression at a 20% share."""


def seq(read_until: datetime | None = None, llr: float = 0.0, **extra: Any) -> dict[str, Any]:
    """status.sequential with the test's LLR at min_effect (the rest of the grid at 0)."""
    return {
        "readUntil": read_until.isoformat() if read_until else None,
        "logLikelihoodRatio": llr,
        "ratios": GRID,
        "logLikelihoodRatios": [llr] + [0.0] * (len(GRID) - 1),
        **extra,
    }


def at_step(
    step: int = 1,
    *,
    analysed_ago: float = 30,
    read_ago: float | None = 30,
    started_ago: float = 60,
    llr: float = 0.0,
    sequential: dict[str, Any] | None = None,
    **status: Any,
) -> Canary:
    """A run at `step` (20% per step, 5 steps) whose last analysis was `analysed_ago` seconds
    before NOW and whose last window ended `read_ago` seconds before NOW."""
    read = None if read_ago is None else NOW - timedelta(seconds=read_ago)
    body = running(
        step,
        lastAnalysisAt=(NOW - timedelta(seconds=analysed_ago)).isoformat(),
        stepStartedAt=(NOW - timedelta(seconds=started_ago)).isoformat(),
        sequential=seq(read, llr),
        **status,
    )
    analysis: dict[str, Any] = {"sequential": {"guardInterval": "10s", **(sequential or {})}}
    return make_canary(body, analysis=analysis)


@pytest.mark.parametrize(
    ("canary", "ready", "expected"),
    [
        pytest.param(at_step(analysed_ago=30, read_ago=12), True, 12, id="guard-tick"),
        pytest.param(at_step(analysed_ago=30, read_ago=5), True, None, id="guard-not-due"),
        pytest.param(at_step(analysed_ago=60, read_ago=5), True, 5, id="analysis-tick-reads-too"),
        pytest.param(at_step(analysed_ago=30, read_ago=12), False, None, id="canary-not-ready"),
        pytest.param(at_step(0, analysed_ago=60, read_ago=None), True, None, id="before-traffic"),
        pytest.param(
            at_step(analysed_ago=30, read_ago=12, phase="Paused"), True, None, id="paused"
        ),
        pytest.param(
            at_step(analysed_ago=30, read_ago=12, sequential={"enabled": False}),
            True,
            None,
            id="test-disabled",
        ),
        pytest.param(
            at_step(analysed_ago=30, read_ago=12, phase="WaitingPromotion"),
            True,
            12,
            id="waiting-for-promotion-is-guarded",
        ),
    ],
)
def test_needs_asks_for_the_traffic_since_the_last_window(
    canary: Canary, ready: bool, expected: float | None
) -> None:
    wanted = needs(canary, NEW, NOW, canary_ready=ready)
    since = None if expected is None else NOW - timedelta(seconds=expected)
    assert wanted.traffic_since == since


def test_a_guard_tick_asks_no_gate_and_no_analysis() -> None:
    hooks = [
        {"name": t, "type": t, "url": "http://hooks/"}
        for t in ("rollout", "rollback", "confirm-traffic-increase")
    ]
    canary = at_step(analysed_ago=30, read_ago=12)
    canary = make_canary(
        canary.model_dump(by_alias=True, mode="json")["status"],
        analysis={"sequential": {"guardInterval": "10s"}, "webhooks": hooks},
    )
    wanted = needs(canary, NEW, NOW)
    assert (wanted.analysis, wanted.gates) == (False, frozenset())
    assert wanted.traffic_since == NOW - timedelta(seconds=12)


def guard(canary: Canary, traffic: TrafficSample | None, now: datetime = NOW) -> Any:
    return decide(canary, observe(canary, now=now, analysis=None, traffic=traffic))


def test_a_conclusive_regression_at_a_guard_tick_rolls_back_at_once() -> None:
    decision = guard(at_step(analysed_ago=30, read_ago=12), BAD)
    assert decision.status.phase == Phase.FAILED
    assert "sequential-failures: regression conclusive" in decision.status.message
    routes = [a.routes for a in decision.actions if isinstance(a, SetRoutes)]
    assert routes
    assert routes[-1].canary == 0


def test_an_inconclusive_guard_tick_only_adds_the_window_to_the_test() -> None:
    canary = at_step(analysed_ago=30, read_ago=12)
    decision = guard(canary, TrafficSample(100, 1, 400, 2))
    status = decision.status
    assert decision.actions == []
    assert status.history == canary.status.history  # no history entry
    assert (status.phase, status.canary_weight, status.step) == (Phase.PROGRESSING, 20, 1)
    assert status.metrics == canary.status.metrics
    assert status.sequential is not None
    assert status.sequential.read_until == NOW  # the next window starts where this one ended
    assert (status.sequential.canary_failures, status.sequential.primary_failures) == (1, 2)
    assert status.sequential.log_likelihood_ratio != 0.0
    assert status.blast_radius is not None
    assert status.blast_radius.failures == 1


@pytest.mark.parametrize(
    ("analysed_ago", "read_ago", "traffic", "requeue"),
    [
        # Read now: the next guard tick is 10s away, the next analysis 30s.
        pytest.param(30, 12, QUIET, 10, id="next-guard-tick"),
        # Read now: the next analysis (58s ago + 60s interval) comes first.
        pytest.param(58, 12, QUIET, 2, id="next-analysis-tick"),
        # Not read (5s ago): the guard is due in 5s.
        pytest.param(30, 5, None, 5, id="guard-due-later"),
        # The read failed (no traffic): a guard interval later, not at once.
        pytest.param(30, 12, None, 10, id="failed-read-waits-a-guard-interval"),
    ],
)
def test_the_requeue_is_the_next_guard_or_analysis_tick(
    analysed_ago: float, read_ago: float, traffic: TrafficSample | None, requeue: float
) -> None:
    decision = guard(at_step(analysed_ago=analysed_ago, read_ago=read_ago), traffic)
    assert decision.requeue_after == pytest.approx(requeue)


def test_the_window_ends_on_a_whole_second_and_the_next_starts_there() -> None:
    canary = at_step(analysed_ago=30, read_ago=12)
    now = NOW + timedelta(milliseconds=700)
    decision = guard(canary, QUIET, now=now)
    assert decision.status.sequential is not None
    start, end = traffic_window(NOW - timedelta(seconds=12), now)
    assert decision.status.sequential.read_until == end == NOW
    assert (end - start).total_seconds() == 12


def test_the_first_window_starts_with_the_first_step_not_with_the_revision() -> None:
    canary = make_canary(
        {
            "phase": "Progressing",
            "lastAppliedSpec": NEW,
            "lastPromotedSpec": "rev-old",
            "stepStartedAt": T0.isoformat(),
            "sequential": seq(None),
        }
    )
    wanted = needs(canary, NEW, NOW)
    assert wanted.traffic_since is None
    decision = decide(canary, observe(canary, analysis=None))
    assert decision.status.canary_weight == 20
    assert decision.status.sequential is not None
    assert decision.status.sequential.read_until == NOW


def test_min_requests_counts_the_guard_windows_since_the_last_analysis_tick() -> None:
    canary = make_canary(
        running(1, sequential=seq(NOW - timedelta(seconds=5), canaryRequestsSinceCheck=900)),
        analysis={"minRequests": 1000},
    )
    decision = decide(canary, observe(canary, traffic=QUIET))
    volume = next(m for m in decision.status.metrics if m.name == "request-volume")
    assert volume.verdict == "Pass"  # 900 from the guard windows + 100 from this one
    assert decision.status.sequential is not None
    assert decision.status.sequential.canary_requests_since_check == 0


def evidence_spec(**sequential: Any) -> dict[str, Any]:
    return {"sequential": {"guardInterval": "10s", **sequential}}


def analysis_tick(
    step: int, started_ago: float, llr: float, **sequential: Any
) -> tuple[Canary, Any]:
    body = running(
        step,
        stepStartedAt=(NOW - timedelta(seconds=started_ago)).isoformat(),
        sequential=seq(NOW - timedelta(seconds=5), llr),
    )
    canary = make_canary(body, analysis=evidence_spec(**sequential))
    return canary, decide(canary, observe(canary, traffic=QUIET))


CONCLUSIVE = -3.5
"""Below log(beta) = -3.0: no regression of minEffect, conclusively."""

LAST = 4
"""At step 4 (80%) the next step is the promotion."""


@pytest.mark.parametrize(
    ("step", "started_ago", "llr", "sequential", "outcome"),
    [
        # requireEvidence: none (the default) keeps the old rules.
        pytest.param(LAST, 60, 0.0, {}, "promoted", id="none-promotes-on-time"),
        pytest.param(1, 60, 0.0, {}, "advanced", id="none-steps-on-time"),
        # promotion: the last step waits; the others do not.
        pytest.param(
            LAST, 60, 0.0, {"requireEvidence": "promotion"}, "waits", id="promotion-waits"
        ),
        pytest.param(
            LAST, 60, CONCLUSIVE, {"requireEvidence": "promotion"}, "promoted",
            id="promotion-on-evidence",
        ),
        pytest.param(
            1, 60, 0.0, {"requireEvidence": "promotion"}, "advanced", id="promotion-not-steps"
        ),
        # everyStep: every step waits.
        pytest.param(1, 60, 0.0, {"requireEvidence": "everyStep"}, "waits", id="every-step"),
        pytest.param(
            1, 60, CONCLUSIVE, {"requireEvidence": "everyStep"}, "advanced",
            id="every-step-on-evidence",
        ),
        # After evidenceTimeout (from the step's start): hold, promote or rollback.
        pytest.param(
            LAST, 600, 0.0,
            {"requireEvidence": "promotion", "evidenceTimeout": "10m"}, "holds",
            id="timeout-holds-by-default",
        ),
        pytest.param(
            LAST, 600, 0.0,
            {"requireEvidence": "promotion", "evidenceTimeout": "10m",
             "onEvidenceTimeout": "promote"},
            "promoted", id="timeout-promotes",
        ),
        pytest.param(
            LAST, 600, 0.0,
            {"requireEvidence": "promotion", "evidenceTimeout": "10m",
             "onEvidenceTimeout": "rollback"},
            "rolled back", id="timeout-rolls-back",
        ),
        pytest.param(
            1, 600, 0.0,
            {"requireEvidence": "everyStep", "evidenceTimeout": "10m",
             "onEvidenceTimeout": "promote"},
            "advanced", id="every-step-timeout-takes-the-step",
        ),
        # The default timeout is maxFinalStepDuration, then 30m.
        pytest.param(
            LAST, 1200, 0.0,
            {"requireEvidence": "promotion", "maxFinalStepDuration": "30m",
             "onEvidenceTimeout": "promote"},
            "waits", id="timeout-defaults-to-max-final-step-duration",
        ),
        pytest.param(
            LAST, 1800, 0.0,
            {"requireEvidence": "promotion", "onEvidenceTimeout": "rollback"},
            "rolled back", id="timeout-defaults-to-30m",
        ),
        # maxFinalStepDuration alone means what it meant: wait for evidence, then promote.
        pytest.param(
            LAST, 600, 0.0, {"maxFinalStepDuration": "15m"}, "waits",
            id="max-final-step-waits",
        ),
        pytest.param(
            LAST, 900, 0.0, {"maxFinalStepDuration": "15m"}, "promoted",
            id="max-final-step-then-promotes",
        ),
        # minStepDuration still comes first.
        pytest.param(
            1, 60, CONCLUSIVE, {"requireEvidence": "everyStep", "minStepDuration": "5m"},
            "waits", id="min-step-duration-first",
        ),
    ],
)  # fmt: skip
def test_promotion_on_evidence(
    step: int, started_ago: float, llr: float, sequential: dict[str, Any], outcome: str
) -> None:
    canary, decision = analysis_tick(step, started_ago, llr, **sequential)
    status = decision.status
    seen = {
        Phase.PROMOTING: "promoted",
        Phase.FAILED: "rolled back",
    }.get(status.phase)  # type: ignore[arg-type]
    if seen is None:
        if status.step > canary.status.step:
            seen = "advanced"
        elif any(c.type == EVIDENCE_CONCLUSIVE for c in status.conditions):
            seen = "holds"
        else:
            seen = "waits"
    assert seen == outcome


def test_a_hold_warns_once_and_ends_with_the_evidence() -> None:
    canary, decision = analysis_tick(
        LAST, 600, 0.0, requireEvidence="promotion", evidenceTimeout="10m"
    )
    warnings = [a for a in decision.actions if isinstance(a, RecordEvent) and a.type == "Warning"]
    assert [w.reason for w in warnings] == ["EvidenceTimeout"]
    assert "promote or abort" in decision.status.message
    assert decision.status.canary_weight == canary.status.canary_weight
    # An interval later, still inconclusive: no new Event.
    later = canary.model_copy(update={"status": decision.status})
    again = decide(later, observe(later, now=NOW + timedelta(minutes=1), traffic=QUIET))
    assert not [a for a in again.actions if isinstance(a, RecordEvent)]
    assert any(c.type == EVIDENCE_CONCLUSIVE for c in again.status.conditions)
    # Then the evidence concludes: promotion, and the condition goes.
    state = again.status.sequential
    assert state is not None
    concluded = state.model_copy(
        update={
            "log_likelihood_ratio": CONCLUSIVE,
            "log_likelihood_ratios": [CONCLUSIVE, *state.log_likelihood_ratios[1:]],
        }
    )
    last = later.model_copy(
        update={"status": again.status.model_copy(update={"sequential": concluded})}
    )
    ended = decide(last, observe(last, now=NOW + timedelta(minutes=2), traffic=QUIET))
    assert ended.status.phase == Phase.PROMOTING


def test_an_operator_promote_ends_a_hold() -> None:
    from canary.engine.types import ManualRequest, RequestKind

    canary, decision = analysis_tick(
        LAST, 600, 0.0, requireEvidence="promotion", evidenceTimeout="10m"
    )
    held = canary.model_copy(update={"status": decision.status})
    obs: Observations = observe(
        held,
        now=NOW + timedelta(seconds=20),
        request=ManualRequest("promote/ops", RequestKind.PROMOTE),
    )
    assert decide(held, obs).status.phase == Phase.PROMOTING


# Metrics marked `guard`: checked at every guard tick, with or without the sequential test.

BREAKER: dict[str, Any] = {
    "name": "error-breaker",
    "templateRef": {"name": "error-rate"},
    "thresholdRange": {"max": 50},
    "guard": True,
}
"""A circuit breaker: the canary's error rate (percent) above 50 rolls back at once."""
SUCCESS: dict[str, Any] = {"name": "request-success-rate", "thresholdRange": {"min": 99}}


def guarded(
    step: int = 1,
    *,
    analysed_ago: float = 30,
    guarded_ago: float | None = 12,
    breaker: dict[str, Any] | None = None,
    analysis: dict[str, Any] | None = None,
    **status: Any,
) -> Canary:
    """A run at `step` with the breaker as a guard metric and the sequential test off; the guard
    last looked `guarded_ago` seconds before NOW (None: never), every 10 s."""
    body = running(
        step,
        lastAnalysisAt=(NOW - timedelta(seconds=analysed_ago)).isoformat(),
        **status,
    )
    if guarded_ago is not None:
        body["lastGuardAt"] = (NOW - timedelta(seconds=guarded_ago)).isoformat()
    spec: dict[str, Any] = {
        "metrics": [SUCCESS, {**BREAKER, **(breaker or {})}],
        "sequential": {"enabled": False, "guardInterval": "10s"},
        **(analysis or {}),
    }
    return make_canary(body, analysis=spec)


def breaker_result(canary: Canary, value: float | None, *, primary: float | None = None) -> Any:
    """The breaker's result as the adapters evaluate it (canary.metrics.evaluate)."""
    metric = next(m for m in canary.spec.analysis.metrics if m.name == "error-breaker")
    readings = Readings(
        canary=Reading(value, "" if value is not None else "empty result"),
        primary=None if primary is None else Reading(primary, ""),
    )
    return evaluate(metric, readings)


GUARDS = frozenset({"error-breaker"})


@pytest.mark.parametrize(
    ("canary", "ready", "guards", "traffic"),
    [
        pytest.param(guarded(guarded_ago=12), True, GUARDS, False, id="guard-tick-without-test"),
        pytest.param(guarded(guarded_ago=5), True, frozenset(), False, id="not-due"),
        pytest.param(
            guarded(analysed_ago=60, guarded_ago=12), True, frozenset(), False,
            id="analysis-tick-checks-them-all",
        ),
        pytest.param(guarded(guarded_ago=12), False, frozenset(), False, id="canary-not-ready"),
        pytest.param(
            guarded(0, analysed_ago=60, guarded_ago=None), True, frozenset(), False,
            id="before-traffic",
        ),
        pytest.param(
            guarded(guarded_ago=12, phase="Paused"), True, frozenset(), False, id="paused"
        ),
        pytest.param(
            guarded(guarded_ago=12, phase="WaitingPromotion"), True, GUARDS, False,
            id="waiting-for-promotion-is-guarded",
        ),
        pytest.param(
            guarded(guarded_ago=12, analysis={"guardInterval": "20s"}), True, frozenset(), False,
            id="analysis-guard-interval-replaces-the-test's",
        ),
        pytest.param(
            guarded(guarded_ago=25, analysis={"guardInterval": "20s"}), True, GUARDS, False,
            id="analysis-guard-interval-due",
        ),
        pytest.param(
            guarded(
                guarded_ago=12,
                sequential=seq(NOW - timedelta(seconds=11), readingSince=T0.isoformat()),
                analysis={"sequential": {"guardInterval": "10s"}},
            ),
            True, GUARDS, True, id="with-the-test-one-clock-reads-both",
        ),
        pytest.param(
            guarded(guarded_ago=12, breaker={"guard": False}), True, frozenset(), False,
            id="no-guard-metric",
        ),
    ],
)  # fmt: skip
def test_needs_names_the_guard_metrics_on_a_guard_tick(
    canary: Canary, ready: bool, guards: frozenset[str], traffic: bool
) -> None:
    wanted = needs(canary, NEW, NOW, canary_ready=ready)
    assert wanted.guard_metrics == guards
    assert (wanted.traffic_since is not None) == traffic
    if guards:
        assert (wanted.analysis, wanted.gates) == (False, frozenset())


@pytest.mark.parametrize(
    ("breaker", "value", "rolled_back"),
    [
        pytest.param({}, 80.0, True, id="breach-rolls-back"),
        pytest.param({}, 20.0, False, id="within-bounds"),
        pytest.param({}, None, False, id="no-data-holds"),
        pytest.param({"noData": "fail"}, None, False, id="no-data-fail-still-no-rollback"),
        pytest.param(
            {"compare": {"max": 10}, "noData": "fail"}, 80.0, True,
            id="combined-breach-with-a-no-data-part",
        ),
        pytest.param(
            {"thresholdRange": {"max": 90}, "compare": {"max": 10}, "noData": "fail"}, 80.0,
            False, id="combined-only-no-data-fails",
        ),
    ],
)  # fmt: skip
def test_a_guard_tick_rolls_back_on_a_measured_breach_only(
    breaker: dict[str, Any], value: float | None, rolled_back: bool
) -> None:
    canary = guarded(breaker=breaker)
    result = breaker_result(canary, value)
    decision = decide(canary, observe(canary, analysis=None, guard=[result]))
    status = decision.status
    if rolled_back:
        assert status.phase == Phase.FAILED
        assert "guard check failed: error-breaker" in status.message
        routes = [a.routes for a in decision.actions if isinstance(a, SetRoutes)]
        assert routes
        assert routes[-1].canary == 0
        assert [m.verdict for m in status.metrics if m.name == "error-breaker"] == ["Fail"]
        return
    # Nothing else changes: no action, no history entry, no step, no failed check.
    assert decision.actions == []
    assert status.history == canary.status.history
    assert (status.phase, status.step, status.canary_weight) == (Phase.PROGRESSING, 1, 20)
    assert status.failed_checks == canary.status.failed_checks
    assert status.metrics == canary.status.metrics
    assert status.last_analysis_at == canary.status.last_analysis_at
    assert status.last_guard_at == NOW  # the guard's clock restarts
    assert decision.requeue_after == pytest.approx(10)


def test_results_of_metrics_not_marked_guard_are_ignored_on_a_guard_tick() -> None:
    canary = guarded()
    failing = check(Verdict.FAIL, "request-success-rate")
    decision = decide(canary, observe(canary, analysis=None, guard=[failing]))
    assert decision.status.phase == Phase.PROGRESSING
    assert decision.actions == []


def error_result_of(canary: Canary, message: str) -> Any:
    metric = next(m for m in canary.spec.analysis.metrics if m.name == "error-breaker")
    return error_result(metric, QUERY_ERROR, message)


def test_a_guard_query_error_warns_once_per_change_and_never_rolls_back() -> None:
    canary = guarded()
    first = decide(canary, observe(canary, analysis=None, guard=[error_result_of(canary, "down")]))
    warnings = [a for a in first.actions if isinstance(a, RecordEvent) and a.type == "Warning"]
    assert [w.reason for w in warnings] == [QUERY_ERROR]
    assert first.status.phase == Phase.PROGRESSING
    assert first.status.history == canary.status.history
    # The same error at the next guard tick: no new Event.
    later = canary.model_copy(update={"status": first.status})
    now = NOW + timedelta(seconds=10)
    again = decide(
        later, observe(later, now=now, analysis=None, guard=[error_result_of(later, "down")])
    )
    assert not [a for a in again.actions if isinstance(a, RecordEvent)]
    assert again.status.phase == Phase.PROGRESSING
    # It answers again: the entry is the answer, and still nothing else changes.
    healed = later.model_copy(update={"status": again.status})
    back = decide(
        healed,
        observe(healed, now=now + timedelta(seconds=10), analysis=None,
                guard=[breaker_result(healed, 1.0)]),
    )  # fmt: skip
    assert back.actions == []
    entry = next(m for m in back.status.metrics if m.name == "error-breaker")
    assert entry.verdict == "Pass"
    assert back.status.history == canary.status.history


@pytest.mark.parametrize(
    ("value", "no_data", "phase", "failed_checks"),
    [
        pytest.param(80.0, "hold", Phase.FAILED, 0, id="breach-rolls-back-at-once"),
        pytest.param(None, "fail", Phase.PROGRESSING, 1, id="no-data-fail-only-counts"),
    ],
)
def test_a_guard_metric_at_an_analysis_tick(
    value: float | None, no_data: str, phase: Phase, failed_checks: int
) -> None:
    canary = guarded(analysed_ago=60, breaker={"noData": no_data}, analysis={"threshold": 3})
    results = [check(Verdict.PASS), breaker_result(canary, value)]
    decision = decide(canary, observe(canary, analysis=results))
    assert decision.status.phase == phase
    assert decision.status.failed_checks == failed_checks
    if phase == Phase.PROGRESSING:
        assert decision.status.last_guard_at == NOW  # checked with the rest: the clock restarts


def test_the_first_step_starts_the_guard_clock_and_a_new_run_clears_it() -> None:
    canary = make_canary(
        {
            "phase": "Progressing",
            "lastAppliedSpec": NEW,
            "lastPromotedSpec": "rev-old",
            "stepStartedAt": T0.isoformat(),
        },
        analysis={"metrics": [SUCCESS, BREAKER], "sequential": {"enabled": False}},
    )
    decision = decide(canary, observe(canary, analysis=None))
    assert decision.status.canary_weight == 20
    assert decision.status.last_guard_at == NOW
    started = canary.model_copy(update={"status": decision.status})
    restarted = decide(started, observe(started, now=NOW + timedelta(seconds=5), revision="rev-3"))
    assert restarted.status.step == 0
    assert restarted.status.last_guard_at is None


def test_a_failed_guard_read_waits_a_guard_interval() -> None:
    canary = guarded(guarded_ago=12)
    decision = decide(canary, observe(canary, analysis=None, guard=None))
    assert decision.status.last_guard_at == canary.status.last_guard_at
    assert decision.requeue_after == pytest.approx(10)
