"""Liveness: a rollout that should end does end, in the time its spec implies (issue 9, part 1)."""

from __future__ import annotations

import itertools
from collections import Counter
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from canary.api.canary import Phase, WebhookType
from canary.engine.types import RequestKind
from tests.engine.driver import Trace, canary_for, drive, steps_to_promotion, time_bound

GATE_TYPES = [t for t in WebhookType if t != WebhookType.EVENT]
CANARY_READY, PRIMARY_READY = 20.0, 15.0


def hooks(*types: WebhookType) -> list[dict[str, str]]:
    return [{"name": f"h-{t}", "type": str(t), "url": "http://hook/"} for t in types]


def spec_with(types: list[WebhookType], **spec: Any) -> dict[str, Any]:
    analysis = {**spec.pop("analysis", {}), "webhooks": hooks(*types)}
    return {**spec, "analysis": analysis}


def assert_each_gate_asked_at_most_once_per_interval(trace: Trace, interval: float) -> None:
    for gate, times in trace.calls.items():
        gaps = [b - a for a, b in itertools.pairwise(times)]
        assert all(gap >= interval for gap in gaps), (gate, times)


def test_an_approving_traffic_increase_gate_moves_to_the_first_step_at_once() -> None:
    """Given stepWeight 20, interval 1m and a confirm-traffic-increase gate that always approves,
    when the canary becomes ready, then it serves 20% at once and the run ends as without it."""
    spec = spec_with(
        [WebhookType.CONFIRM_TRAFFIC_INCREASE, WebhookType.PRE_ROLLOUT],
        strategy={"canary": {"stepWeight": 20}},
    )
    gated = drive(canary_for(spec))
    plain = drive(canary_for(spec_with([], strategy={"canary": {"stepWeight": 20}})))

    assert gated.phase == Phase.SUCCEEDED
    first_step = next(t for t, _, weight in gated.phases if weight > 0)
    assert first_step <= CANARY_READY + 5
    assert gated.ended_at == plain.ended_at
    assert len(gated.calls[WebhookType.PRE_ROLLOUT]) == 1
    assert len(gated.calls[WebhookType.CONFIRM_TRAFFIC_INCREASE]) == 4  # to 20, 40, 60, 80
    started = [e for e in gated.events if e[1] == "Started"]
    assert len(started) == 1


def test_a_traffic_increase_gate_that_never_approves_holds_at_zero_without_new_events() -> None:
    """Given a confirm-traffic-increase gate that never approves, then the run holds at 100/0,
    the pre-rollout hook ran once, no Event repeats, and an abort request ends it."""
    spec = spec_with([WebhookType.CONFIRM_TRAFFIC_INCREASE, WebhookType.PRE_ROLLOUT])
    closed = drive(
        canary_for(spec),
        approves=lambda gate, _: gate != WebhookType.CONFIRM_TRAFFIC_INCREASE,
        requests={3600.0: RequestKind.ABORT},
    )
    assert closed.phase == Phase.ABORTED
    held = [(phase, weight) for t, phase, weight in closed.phases if 60 < t < 3600]
    assert set(held) == {(Phase.PROGRESSING, 0)}
    assert len(closed.calls[WebhookType.PRE_ROLLOUT]) == 1
    assert_each_gate_asked_at_most_once_per_interval(closed, 60)
    assert not [e for e in closed.events if 60 < e[0] < 3600]


@st.composite
def strategies(draw: st.DrawFn) -> dict[str, Any]:
    """Every strategy: canary by stepWeight or a ladder, with and without mirroring; blue/green
    with and without mirroring; A/B testing."""
    ladder = sorted(draw(st.sets(st.integers(1, 100), min_size=1, max_size=4)))
    mirror = {"percent": draw(st.integers(1, 100)), "iterations": draw(st.integers(1, 2))}
    iterations = draw(st.integers(1, 3))
    return draw(
        st.sampled_from(
            [
                {"canary": {"stepWeight": draw(st.integers(10, 60))}},
                {"canary": {"stepWeights": ladder}},
                {"canary": {"stepWeights": ladder, "mirror": mirror}},
                {"canary": {"stepWeight": draw(st.integers(20, 50)), "mirror": mirror}},
                {"blueGreen": {"iterations": iterations}},
                {"blueGreen": {"iterations": iterations, "mirror": {"percent": 100}}},
                {"abTesting": {"iterations": iterations, "match": [{"headers": {}}]}},
            ]
        )
    )


@st.composite
def rollouts(draw: st.DrawFn) -> dict[str, Any]:
    """A spec with any subset of the eight webhook types, skipAnalysis on or off, with or
    without a guard metric."""
    types = sorted(draw(st.sets(st.sampled_from(list(WebhookType)))))
    interval = draw(st.sampled_from(["5s", "10s", "30s", "1m"]))
    return {
        "strategy": draw(strategies()),
        "skipAnalysis": draw(st.booleans()),
        "analysis": {
            "interval": interval,
            "threshold": draw(st.integers(1, 3)),
            **draw(st.sampled_from([{}, GUARDED])),
        },
        "types": types,
    }


GUARDED = {
    "metrics": [
        {"name": "request-success-rate", "thresholdRange": {"min": 99}},
        {"name": "request-duration", "thresholdRange": {"max": 5000}, "guard": True},
    ],
    "guardInterval": "5s",
}
"""A guard metric looked at every 5 s: healthy guard ticks neither delay nor hasten the run."""


def build(rollout: dict[str, Any], *, types: list[WebhookType] | None = None) -> dict[str, Any]:
    spec = {k: v for k, v in rollout.items() if k != "types"}
    return spec_with(rollout["types"] if types is None else types, **spec)


LIVENESS = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
READY = st.integers(0, 90)
REQUESTS = st.sampled_from([None, RequestKind.PROMOTE, RequestKind.PROMOTE_FULL, "pause"])


@LIVENESS
@given(rollouts(), READY, READY, REQUESTS, st.integers(1, 400), st.integers(1, 300))
@example(  # a pause tick asked the rollback gate and restarted the interval clock
    rollout={
        "strategy": {"canary": {"stepWeight": 10}},
        "skipAnalysis": False,
        "analysis": {"interval": "1m", "threshold": 1},
        "types": [WebhookType.CONFIRM_ROLLOUT, WebhookType.ROLLBACK],
    },
    canary_ready=0,
    primary_ready=0,
    request="pause",
    request_at=246,
    paused_for=60,
)
def test_every_approved_healthy_rollout_ends_succeeded_within_the_bound_of_its_spec(
    rollout: dict[str, Any],
    canary_ready: int,
    primary_ready: int,
    request: RequestKind | str | None,
    request_at: int,
    paused_for: int,
) -> None:
    """Every gate approving, workloads ready after a delay, metrics healthy, and maybe an
    operator's request: the run ends Succeeded within time_bound() (plus the pause and one
    interval to notice the resume; plus one interval after a step taken by request), at the same time as the same run without any webhook; each
    gate is asked at most once per interval, pre-rollout at most once, post-rollout run once, and
    no Event is recorded twice."""
    requests: dict[float, RequestKind] = {}
    extra = 0.0
    canary = canary_for(build(rollout))
    if request == "pause":
        requests = {request_at: RequestKind.PAUSE, request_at + paused_for: RequestKind.RESUME}
        extra = paused_for + canary.spec.analysis.interval_seconds
    elif isinstance(request, RequestKind):
        requests = {request_at: request}
        # A step taken by request still lasts an interval before the next check may end it.
        extra = canary.spec.analysis.interval_seconds if request == RequestKind.PROMOTE else 0
    kwargs: dict[str, Any] = {
        "canary_ready_after": canary_ready,
        "primary_ready_after": primary_ready,
        "requests": requests,
    }
    gated = drive(canary, **kwargs)
    plain = drive(canary_for(build(rollout, types=[])), **kwargs)

    assert gated.phase == Phase.SUCCEEDED, gated.canary.status.message
    bound = time_bound(canary, canary_ready_after=canary_ready, primary_ready_after=primary_ready)
    assert gated.ended_at is not None
    assert gated.ended_at <= bound + extra
    assert gated.ended_at == plain.ended_at
    assert_each_gate_asked_at_most_once_per_interval(gated, canary.spec.analysis.interval_seconds)
    assert len(gated.calls.get(WebhookType.PRE_ROLLOUT, [])) <= 1
    assert gated.fired[WebhookType.POST_ROLLOUT] == 1
    repeated = [e for e, n in Counter(e[1:] for e in gated.events).items() if n > 1]
    assert not repeated


HOLDING = [
    WebhookType.CONFIRM_ROLLOUT,
    WebhookType.PRE_ROLLOUT,
    WebhookType.ROLLOUT,
    WebhookType.CONFIRM_TRAFFIC_INCREASE,
    WebhookType.CONFIRM_PROMOTION,
]


def expected_hold(canary: Any, gate: WebhookType) -> tuple[Phase, int] | None:
    """Where docs/concepts/liveness.md says a gate that never approves leaves the run (phase,
    canary weight), or None when the gate ends it (failed checks) or does not apply."""
    spec = canary.spec
    if gate == WebhookType.CONFIRM_ROLLOUT:
        return Phase.WAITING, 0
    if spec.skip_analysis or gate in (WebhookType.PRE_ROLLOUT, WebhookType.ROLLOUT):
        return None
    if gate == WebhookType.CONFIRM_TRAFFIC_INCREASE:
        # Only a step that raises the canary's weight asks it: the run holds before the first.
        return (Phase.PROGRESSING, 0) if spec.strategy.canary is not None else None
    last = spec.strategy.canary.ladder()[-1] if spec.strategy.canary is not None else 0
    return Phase.WAITING_PROMOTION, last


@LIVENESS
@given(rollouts(), st.sampled_from(HOLDING), READY)
def test_a_gate_that_never_approves_holds_where_the_docs_say_until_a_request_ends_it(
    rollout: dict[str, Any], gate: WebhookType, canary_ready: int
) -> None:
    """A gate that never approves (the others approving): confirm-rollout holds in Waiting,
    confirm-traffic-increase holds a canary before its next weight increase, confirm-promotion
    holds in WaitingPromotion at the last weight; the hold records no new Event and asks each
    gate at most once per interval, and an abort request ends it. A pre-rollout or rollout gate
    that never passes ends the run Failed after `threshold` failed checks, within
    time_bound() + threshold intervals."""
    types = sorted({*rollout["types"], gate})
    canary = canary_for(build(rollout, types=types))
    interval = canary.spec.analysis.interval_seconds
    bound = time_bound(canary, canary_ready_after=canary_ready, primary_ready_after=0)
    hold_until = bound + 20 * interval
    trace = drive(
        canary,
        approves=lambda asked, _: asked != gate and asked != WebhookType.ROLLBACK,
        canary_ready_after=canary_ready,
        primary_ready_after=0,
        requests={hold_until: RequestKind.ABORT},
    )
    assert_each_gate_asked_at_most_once_per_interval(trace, interval)
    hold = expected_hold(canary, gate)
    if hold is None:
        failing = gate in (WebhookType.PRE_ROLLOUT, WebhookType.ROLLOUT)
        failing = failing and not canary.spec.skip_analysis
        assert trace.phase == (Phase.FAILED if failing else Phase.SUCCEEDED)
        threshold = canary.spec.analysis.threshold
        assert trace.ended_at is not None
        assert trace.ended_at <= bound + threshold * interval
        return
    assert trace.phase == Phase.ABORTED
    held = [(t, (phase, weight)) for t, phase, weight in trace.phases if t < hold_until]
    since = trace.calls[gate][0]  # the hold begins when the gate first says no
    assert all(state == hold for t, state in held if t >= since)
    assert not [e for e in trace.events if since < e[0] < hold_until]


EVIDENCE = settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def evidence_rollout(interval: int, required: str, timeout: int, action: str) -> Any:
    """A canary of 25% steps whose sequential test never concludes (the driver reports no
    traffic): only the evidence timeout can move the waiting steps."""
    return canary_for(
        {
            "strategy": {"canary": {"stepWeight": 25}},
            "analysis": {
                "interval": f"{interval}s",
                "sequential": {
                    "requireEvidence": required,
                    "evidenceTimeout": f"{timeout}s",
                    "onEvidenceTimeout": action,
                },
            },
        }
    )


@EVIDENCE
@given(
    st.integers(1, 120),
    st.sampled_from(["promotion", "everyStep"]),
    st.integers(1, 600),
    st.sampled_from(["promote", "rollback"]),
    READY,
)
def test_a_run_waiting_for_evidence_that_never_comes_ends_within_its_evidence_timeouts(
    interval: int, required: str, timeout: int, action: str, canary_ready: int
) -> None:
    """Each step that waits for evidence lasts at most max(1, ceil(timeout/interval)) intervals
    instead of one: onEvidenceTimeout promote ends Succeeded within time_bound() plus those
    waits, rollback ends Failed no later; no Event is recorded twice."""
    canary = evidence_rollout(interval, required, timeout, action)
    trace = drive(canary, canary_ready_after=canary_ready, primary_ready_after=PRIMARY_READY)
    bound = time_bound(canary, canary_ready_after=canary_ready, primary_ready_after=PRIMARY_READY)
    steps = steps_to_promotion(canary)  # each weight after the first, and the promotion
    waits = steps if required == "everyStep" else 1
    per_wait = max(1, -(-timeout // interval)) * interval
    assert trace.ended_at is not None
    assert trace.ended_at <= bound + waits * (per_wait - interval)
    assert trace.phase == (Phase.SUCCEEDED if action == "promote" else Phase.FAILED)
    repeated = [e for e, n in Counter(e[1:] for e in trace.events).items() if n > 1]
    assert not repeated


@EVIDENCE
@given(st.integers(1, 120), st.sampled_from(["promotion", "everyStep"]), st.integers(1, 600))
def test_an_evidence_hold_stays_at_its_weight_without_new_events_until_a_request_ends_it(
    interval: int, required: str, timeout: int
) -> None:
    """onEvidenceTimeout hold: the run holds at the weight it reached, records one
    EvidenceTimeout Event when the hold begins and nothing after it, and abort ends it."""
    canary = evidence_rollout(interval, required, timeout, "hold")
    bound = time_bound(canary, canary_ready_after=CANARY_READY, primary_ready_after=0)
    hold_until = bound + 4 * (timeout + interval) + 20 * interval
    trace = drive(
        canary,
        canary_ready_after=CANARY_READY,
        primary_ready_after=0,
        requests={hold_until: RequestKind.ABORT},
    )
    assert trace.phase == Phase.ABORTED
    began = [t for t, reason, _ in trace.events if reason == "EvidenceTimeout"]
    assert len(began) == 1
    ladder = canary.spec.strategy.canary.ladder()  # type: ignore[union-attr]
    weight = ladder[-1] if required == "promotion" else ladder[0]
    held = [(phase, w) for t, phase, w in trace.phases if began[0] <= t < hold_until]
    assert set(held) == {(Phase.PROGRESSING, weight)}
    assert not [e for e in trace.events if began[0] < e[0] < hold_until]
