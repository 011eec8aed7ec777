"""Invariants of the engine over random specs and random sequences of observations (hypothesis)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from canary.analysis.results import Verdict
from canary.api.canary import Canary, Phase, WebhookType
from canary.engine.engine import decide
from canary.engine.strategies import max_canary_weight
from canary.engine.types import (
    GateResult,
    ManualRequest,
    Observations,
    PromotePrimary,
    Readiness,
    RequestKind,
    Routes,
    SetRoutes,
)
from tests.engine.conftest import NEW, OLD, T0, check, make_canary

GATES = [
    WebhookType.CONFIRM_ROLLOUT,
    WebhookType.PRE_ROLLOUT,
    WebhookType.ROLLOUT,
    WebhookType.CONFIRM_TRAFFIC_INCREASE,
    WebhookType.CONFIRM_PROMOTION,
    WebhookType.ROLLBACK,
]


@st.composite
def specs(draw: st.DrawFn) -> dict[str, Any]:
    ladder = sorted(draw(st.sets(st.integers(1, 100), min_size=1, max_size=6)))
    strategy = draw(
        st.sampled_from(
            [
                {
                    "canary": {
                        "stepWeight": draw(st.integers(1, 60)),
                        "maxWeight": draw(st.integers(60, 100)),
                    }
                },
                {"canary": {"stepWeights": ladder}},
                {
                    "canary": {
                        "stepWeights": ladder,
                        "mirror": {
                            "percent": draw(st.integers(1, 100)),
                            "iterations": draw(st.integers(1, 3)),
                        },
                    }
                },
                {"blueGreen": {"iterations": draw(st.integers(1, 4))}},
                {
                    "abTesting": {
                        "iterations": draw(st.integers(1, 4)),
                        "match": [{"headers": {"x": {"exact": "1"}}}],
                    }
                },
            ]
        )
    )
    hooks = draw(st.sets(st.sampled_from(GATES)))
    return {
        "strategy": strategy,
        "skipAnalysis": draw(st.booleans()),
        "analysis": {
            "interval": "1m",
            "threshold": draw(st.integers(1, 4)),
            "webhooks": [
                {"name": f"h{i}", "type": str(h), "url": "http://hook/"}
                for i, h in enumerate(sorted(hooks))
            ],
        },
    }


@st.composite
def observation_steps(draw: st.DrawFn) -> list[dict[str, Any]]:
    step = st.fixed_dictionaries(
        {
            "seconds": st.integers(1, 150),
            "revision": st.sampled_from([NEW, NEW, NEW, NEW, OLD, "rev-newer"]),
            "primary": st.sampled_from([True, True, True, False]),
            "canary": st.sampled_from([True, True, True, False]),
            "verdict": st.sampled_from(
                [Verdict.PASS] * 4 + [Verdict.FAIL, Verdict.HOLD, Verdict.NO_DATA]
            ),
            "gates": st.dictionaries(st.sampled_from(GATES), st.booleans()),
            "request": st.one_of(
                st.none(), st.none(), st.none(), st.sampled_from(list(RequestKind))
            ),
        }
    )
    return draw(st.lists(step, min_size=1, max_size=40))


def run(
    spec: dict[str, Any], steps: list[dict[str, Any]]
) -> list[tuple[Canary, Observations, Any]]:
    """Feeds the steps to the engine; returns (canary before, observations, decision) per step."""
    canary = make_canary(
        {"phase": "Succeeded", "lastAppliedSpec": OLD, "lastPromotedSpec": OLD}, **spec
    )
    now = T0
    trace = []
    for index, step in enumerate(steps):
        now += timedelta(seconds=step["seconds"])
        weight = canary.status.canary_weight
        obs = Observations(
            now=now,
            revision=step["revision"],
            primary=Readiness(step["primary"], "random"),
            canary=Readiness(step["canary"], "random"),
            routes=Routes(primary=100 - weight, canary=weight, mirror=canary.status.mirror_weight),
            analysis=[check(step["verdict"])],
            gates={g: GateResult(passed) for g, passed in step["gates"].items()},
            request=None
            if step["request"] is None
            else ManualRequest(f"r{index}", step["request"]),
        )
        decision = decide(canary, obs)
        trace.append((canary, obs, decision))
        canary = canary.model_copy(update={"status": decision.status})
    return trace


SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(specs(), observation_steps())
def test_weights_are_integers_in_range_that_sum_to_100(
    spec: dict[str, Any], steps: list[dict[str, Any]]
) -> None:
    for _, _, decision in run(spec, steps):
        assert 0 <= decision.status.canary_weight <= 100
        assert 0 <= decision.status.mirror_weight <= 100
        for action in decision.actions:
            if isinstance(action, SetRoutes):
                routes = action.routes
                assert isinstance(routes.primary, int)
                assert isinstance(routes.canary, int)
                assert routes.primary + routes.canary == 100


@SETTINGS
@given(specs(), observation_steps())
def test_canary_weight_never_exceeds_the_maximum_before_promotion(
    spec: dict[str, Any], steps: list[dict[str, Any]]
) -> None:
    for before, _, decision in run(spec, steps):
        if decision.status.phase in (Phase.PROGRESSING, Phase.PAUSED, Phase.WAITING_PROMOTION):
            assert decision.status.canary_weight <= max_canary_weight(before.spec)


@SETTINGS
@given(specs(), observation_steps())
def test_nothing_is_promoted_without_the_required_passed_checks(
    spec: dict[str, Any], steps: list[dict[str, Any]]
) -> None:
    passes, manual = 0, False
    for before, obs, decision in run(spec, steps):
        if decision.status.phase == Phase.PROGRESSING and before.status.phase != Phase.PROGRESSING:
            passes, manual = 0, False
        if obs.request is not None and obs.request.kind in (
            RequestKind.PROMOTE,
            RequestKind.PROMOTE_FULL,
        ):
            manual = True
        latest = decision.status.history[-1] if decision.status.history else None
        # A promotion decided by this tick's analysis records "Promoting": its check passed too.
        if (
            latest is not None
            and latest.time == obs.now
            and latest.verdict in ("Pass", "Promoting")
            and decision.status.metrics
        ):
            passes += 1
        if any(isinstance(a, PromotePrimary) for a in decision.actions) and not (
            manual or before.spec.skip_analysis
        ):
            assert passes >= required_passes(before), (passes, decision.status.message)


def required_passes(canary: Canary) -> int:
    """Analysed steps before promotion: every weight step after the first, plus the last one."""
    strategy = canary.spec.strategy
    if strategy.canary is not None:
        mirror = strategy.canary.mirror.iterations if strategy.canary.mirror else 0
        return len(strategy.canary.ladder()) + mirror
    iterations = (
        strategy.blue_green.iterations if strategy.blue_green else strategy.ab_testing.iterations
    )  # type: ignore[union-attr]
    return iterations


@SETTINGS
@given(specs(), observation_steps())
def test_every_rollback_ends_with_all_traffic_on_the_primary_and_the_mirror_off(
    spec: dict[str, Any], steps: list[dict[str, Any]]
) -> None:
    for before, _, decision in run(spec, steps):
        rolled_back = (
            decision.status.phase in (Phase.FAILED, Phase.ABORTED)
            and before.status.phase != decision.status.phase
        )
        if rolled_back and before.status.phase != Phase.PROMOTING:
            routes = [a.routes for a in decision.actions if isinstance(a, SetRoutes)]
            if before.status.phase != Phase.WAITING:
                assert routes[-1] == Routes(primary=100, canary=0, mirror=0)
            assert (decision.status.canary_weight, decision.status.mirror_weight) == (0, 0)


@SETTINGS
@given(specs(), observation_steps())
def test_the_same_inputs_always_give_the_same_outputs(
    spec: dict[str, Any], steps: list[dict[str, Any]]
) -> None:
    for before, obs, decision in run(spec, steps):
        again = decide(before, obs)
        assert again.status == decision.status
        assert again.actions == decision.actions
        assert again.requeue_after == decision.requeue_after
