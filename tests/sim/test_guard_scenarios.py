"""Whole rollouts on the simulator with the sequential test's guard and promotion on evidence."""

from __future__ import annotations

from typing import Any

from canary.api.canary import Canary, Phase
from canary.engine.status import EVIDENCE_CONCLUSIVE
from canary.sim.scenario import Scenario
from canary.sim.simulator import Outcome, simulate


def canary(**sequential: Any) -> Canary:
    """Steps of 20% every 30s, judged by the sequential test alone."""
    return Canary.model_validate(
        {
            "metadata": {"name": "my-app", "namespace": "default"},
            "spec": {
                "targetRef": {"name": "my-app"},
                "service": {"port": 80},
                "strategy": {"canary": {"stepWeight": 20}},
                "analysis": {"interval": "30s", "threshold": 5, "sequential": sequential},
            },
        }
    )


def world(canary_error_rate: float, *, rps: float = 50, **extra: Any) -> Scenario:
    return Scenario.model_validate(
        {
            "name": "guard",
            "duration": "40m",
            "traffic": [{"rps": rps}],
            "primary": {"errorRate": 0.001},
            "canary": {"errorRate": canary_error_rate, "readyAfter": "20s"},
            # Exact counts: these scenarios are about the engine's rules, not Prometheus' view
            # (a guard shorter than two scrapes would read empty windows there).
            "prometheus": {"exact": True},
            **extra,
        }
    )


def first_step(outcome: Outcome) -> int:
    return next(t.seconds for t in outcome.ticks if t.canary_weight > 0)


def test_a_200x_regression_is_rolled_back_at_the_first_guard_tick() -> None:
    # Given a canary failing 20% of requests against the primary's 0.1% (200x),
    given = world(0.2)
    # when the guard looks every 5s (and, for comparison, only at the 30s analysis ticks),
    guarded = simulate(canary(guardInterval="5s"), given, seed=3)
    unguarded = simulate(canary(guardInterval="30s"), given, seed=3)
    # then the guard rolls back at its first look, and the canary serves far fewer failures.
    assert guarded.phase == unguarded.phase == Phase.FAILED
    assert guarded.decision_seconds is not None
    assert unguarded.decision_seconds is not None
    assert guarded.decision_seconds - first_step(guarded) <= 5
    assert unguarded.decision_seconds - first_step(unguarded) >= 30
    assert "sequential-failures" in guarded.ticks[-1].reason
    assert guarded.canary_failed_requests * 3 < unguarded.canary_failed_requests


def test_a_healthy_canary_waits_for_evidence_then_is_promoted() -> None:
    # Given a healthy canary at 1% errors like the primary, at low traffic,
    given = world(0.01, rps=10, primary={"errorRate": 0.01})
    # when promotion requires evidence,
    outcome = simulate(canary(requireEvidence="promotion", evidenceTimeout="30m"), given, seed=5)
    # then the last step waits past its interval for "no regression", then promotes.
    assert outcome.phase == Phase.SUCCEEDED
    assert any("waiting for conclusive evidence" in t.reason for t in outcome.ticks)
    assert outcome.canary is not None
    assert outcome.canary.status.sequential is not None
    state = outcome.canary.status.sequential
    assert state.log_likelihood_ratio <= -2.99  # log(beta) at the default beta of 5%
    promoting = next(t.seconds for t in outcome.ticks if t.phase == Phase.PROMOTING)
    last_step = next(t.seconds for t in outcome.ticks if t.canary_weight == 80)
    assert promoting - last_step > 30


def test_without_the_requirement_the_same_canary_promotes_on_time() -> None:
    given = world(0.01, rps=10, primary={"errorRate": 0.01})
    outcome = simulate(canary(), given, seed=5)
    promoting = next(t.seconds for t in outcome.ticks if t.phase == Phase.PROMOTING)
    last_step = next(t.seconds for t in outcome.ticks if t.canary_weight == 80)
    assert promoting - last_step <= 30


def no_evidence(action: str, **extra: Any) -> Outcome:
    """A canary that never fails (nor does the primary): the test can never conclude."""
    given = world(0.0, primary={"errorRate": 0.0}, **extra)
    spec = canary(requireEvidence="promotion", evidenceTimeout="2m", onEvidenceTimeout=action)
    return simulate(spec, given, seed=7)


def test_an_evidence_timeout_that_promotes_promotes_after_the_timeout() -> None:
    outcome = no_evidence("promote")
    last_step = next(t.seconds for t in outcome.ticks if t.canary_weight == 80)
    promoting = next(t.seconds for t in outcome.ticks if t.phase == Phase.PROMOTING)
    assert outcome.phase == Phase.SUCCEEDED
    assert 120 <= promoting - last_step <= 120 + 30


def test_an_evidence_timeout_that_rolls_back_rolls_back_after_the_timeout() -> None:
    outcome = no_evidence("rollback")
    last_step = next(t.seconds for t in outcome.ticks if t.canary_weight == 80)
    assert outcome.phase == Phase.FAILED
    assert outcome.decision_seconds is not None
    assert 120 <= outcome.decision_seconds - last_step <= 120 + 30
    assert "no conclusive evidence" in outcome.ticks[-1].reason


def test_an_evidence_timeout_that_holds_stays_at_the_weight_until_the_operator_promotes() -> None:
    held = no_evidence("hold", duration="15m")
    assert held.phase == Phase.PROGRESSING
    assert held.decision_seconds is None
    assert held.canary is not None
    assert held.canary.status.canary_weight == 80
    assert any(c.type == EVIDENCE_CONCLUSIVE for c in held.canary.status.conditions)
    ended = no_evidence("hold", requests=[{"at": "10m", "kind": "promote"}])
    assert ended.phase == Phase.SUCCEEDED
    assert ended.decision_seconds is not None
    assert ended.decision_seconds >= 600


# Metrics marked `guard` (circuit breakers), with the sequential test off.

BREACH_AT = 100
"""When the canary starts failing most requests (seconds after the new revision appears)."""
ANALYSIS_INTERVAL = 120


def breaker_canary(*, guard: bool = True) -> Canary:
    """Steps of 20% every 2m judged by the latency; the success rate below 50% is a guard
    metric looked at every 10 s; no sequential test."""
    return Canary.model_validate(
        {
            "metadata": {"name": "my-app", "namespace": "default"},
            "spec": {
                "targetRef": {"name": "my-app"},
                "service": {"port": 80},
                "strategy": {"canary": {"stepWeight": 20}},
                "analysis": {
                    "interval": f"{ANALYSIS_INTERVAL}s",
                    "threshold": 2,
                    "guardInterval": "10s",
                    "sequential": {"enabled": False},
                    "metrics": [
                        {"name": "request-duration", "thresholdRange": {"max": 500}},
                        {
                            "name": "request-success-rate",
                            "interval": "30s",
                            "thresholdRange": {"min": 50},
                            "guard": guard,
                        },
                    ],
                },
            },
        }
    )


def breaking(*, exact: bool) -> Scenario:
    """A canary that fails 90% of its requests from BREACH_AT on (it is at 20% by then)."""
    changes = [{"at": f"{BREACH_AT}s", "errorRate": 0.9}]
    return world(0.001, rps=50, canary={"readyAfter": "20s", "changes": changes},
                 prometheus={"exact": exact})  # fmt: skip


def test_a_guard_metric_rolls_back_at_the_first_guard_tick_after_the_breach() -> None:
    # Given a canary whose success rate collapses at BREACH_AT, in the middle of a 2m step,
    given = breaking(exact=True)
    # when the success rate is a guard metric (and, for comparison, an ordinary one),
    guarded = simulate(breaker_canary(), given, seed=11)
    plain = simulate(breaker_canary(guard=False), given, seed=11)
    # then the guard rolls back once its 30s window is mostly failures, at the next 10s look:
    # well before the analysis tick that would have seen it.
    assert guarded.phase == plain.phase == Phase.FAILED
    assert guarded.decision_seconds is not None
    assert plain.decision_seconds is not None
    assert 0 < guarded.decision_seconds - BREACH_AT <= 30 + 10
    assert guarded.decision_seconds < first_step(guarded) + ANALYSIS_INTERVAL
    assert "guard check failed: request-success-rate" in guarded.ticks[-1].reason
    assert plain.decision_seconds - BREACH_AT > ANALYSIS_INTERVAL
    assert guarded.canary_failed_requests * 3 < plain.canary_failed_requests


def test_through_prometheus_eyes_the_guard_still_acts_within_a_step() -> None:
    # Given the same breach seen through the modelled Prometheus (15s scrapes, 1s lag),
    outcome = simulate(breaker_canary(), breaking(exact=False), seed=11)
    # then the guard sees it a scrape or two later, still long before the step ends.
    assert outcome.phase == Phase.FAILED
    assert outcome.decision_seconds is not None
    assert 0 < outcome.decision_seconds - BREACH_AT <= 30 + 2 * 15 + 10
    assert "guard check failed: request-success-rate" in outcome.ticks[-1].reason


def test_a_healthy_canary_with_a_guard_metric_is_promoted_and_guard_ticks_leave_no_history() -> (
    None
):
    # Given a healthy canary (as the primary) with the success-rate guard looking every 10s,
    given = world(0.001, rps=50)
    outcome = simulate(breaker_canary(), given, seed=13)
    plain = simulate(breaker_canary(guard=False), given, seed=13)
    # then it is promoted when the same canary without the guard is,
    assert outcome.phase == plain.phase == Phase.SUCCEEDED
    assert outcome.decision_seconds == plain.decision_seconds
    # and the guard's dozens of looks wrote nothing in the history: same entries, same times.
    assert outcome.canary is not None
    assert plain.canary is not None
    history = [(h.time, h.verdict, h.canary_weight) for h in outcome.canary.status.history]
    assert history == [(h.time, h.verdict, h.canary_weight) for h in plain.canary.status.history]
    assert outcome.canary.status.last_guard_at is not None
