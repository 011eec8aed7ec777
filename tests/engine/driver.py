"""A small world for liveness tests: the engine called at the times it asks for, gates that count
their calls, Deployments that become ready after a delay, and manual requests at given times."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from canary.analysis.results import Verdict
from canary.api.canary import Canary, Phase, WebhookType
from canary.engine.engine import decide, needs
from canary.engine.strategies import NextStep, next_step
from canary.engine.tick import POLL_SECONDS
from canary.engine.types import (
    GateResult,
    ManualRequest,
    Observations,
    PromotePrimary,
    Readiness,
    RecordEvent,
    RequestKind,
    Routes,
    RunWebhooks,
    ScaleCanary,
    SetRoutes,
)
from tests.engine.conftest import NEW, OLD, T0, check, make_canary

ENDED = frozenset({Phase.SUCCEEDED, Phase.FAILED, Phase.ABORTED})
Approves = Callable[[WebhookType, float], bool]
"""Whether a gate of this type approves at this many seconds after the new revision appeared."""


def always(gate: WebhookType, _: float) -> bool:
    """Every gate approves; the rollback gate (which rolls back when it passes) stays closed."""
    return gate != WebhookType.ROLLBACK


@dataclass
class Trace:
    """What happened in one driven rollout."""

    canary: Canary
    ended_at: float | None = None
    calls: dict[WebhookType, list[float]] = field(default_factory=dict)
    """Seconds at which each gate type was asked."""
    fired: Counter[WebhookType] = field(default_factory=Counter)
    """Fire-and-forget webhooks (post-rollout) run."""
    events: list[tuple[float, str, str]] = field(default_factory=list)
    phases: list[tuple[float, Phase | None, int]] = field(default_factory=list)
    """(seconds, phase, canary weight) after each call."""

    @property
    def phase(self) -> Phase | None:
        return self.canary.status.phase


def canary_for(spec: Mapping[str, Any]) -> Canary:
    """A Canary initialized on the old revision, with `spec` merged over the test defaults."""
    return make_canary(
        {"phase": "Initialized", "lastAppliedSpec": OLD, "lastPromotedSpec": OLD}, **spec
    )


def drive(
    canary: Canary,
    *,
    approves: Approves = always,
    canary_ready_after: float = 20,
    primary_ready_after: float = 15,
    requests: Mapping[float, RequestKind] | None = None,
    until: float = 4 * 3600,
    stop_when_ended: bool = True,
) -> Trace:
    """Runs the rollout of NEW from t=0 (seconds), calling the engine when it asks to be called."""
    trace = Trace(canary)
    scaled_up_at: float | None = None
    promoted_at: float | None = None
    routes = Routes()
    pending = sorted((requests or {}).items())
    request: ManualRequest | None = None
    now = 0.0
    while now <= until:
        while pending and pending[0][0] <= now:
            at, kind = pending.pop(0)
            request = ManualRequest(f"{kind}@{at}", kind)
        canary_ready = scaled_up_at is not None and now - scaled_up_at >= canary_ready_after
        primary_ready = promoted_at is None or now - promoted_at >= primary_ready_after
        clock = T0 + timedelta(seconds=now)
        wanted = needs(canary, NEW, clock, canary_ready=canary_ready, request=request)
        for gate in wanted.gates:
            trace.calls.setdefault(gate, []).append(now)
        obs = Observations(
            now=clock,
            revision=NEW,
            primary=Readiness(primary_ready, "rolling out"),
            canary=Readiness(canary_ready, "rolling out" if scaled_up_at else "scaled to zero"),
            routes=routes,
            analysis=healthy(canary) if wanted.analysis else None,
            guard=healthy(canary, wanted.guard_metrics) if wanted.guard_metrics else None,
            gates={g: GateResult(approves(g, now), "answered") for g in wanted.gates},
            request=request,
        )
        decision = decide(canary, obs)
        for action in decision.actions:
            if isinstance(action, SetRoutes):
                routes = action.routes
            elif isinstance(action, ScaleCanary):
                scaled_up_at = now if action.up else None
            elif isinstance(action, PromotePrimary):
                promoted_at = now
            elif isinstance(action, RunWebhooks):
                trace.fired[action.type] += 1
            elif isinstance(action, RecordEvent):
                trace.events.append((now, action.reason, action.message))
        canary = canary.model_copy(update={"status": decision.status})
        trace.canary = canary
        trace.phases.append((now, decision.status.phase, decision.status.canary_weight))
        if decision.status.phase in ENDED and trace.ended_at is None:
            trace.ended_at = now
            if stop_when_ended:
                break
        now += max(1.0, decision.requeue_after)
    return trace


def healthy(canary: Canary, only: frozenset[str] | None = None) -> list[Any]:
    """A passing result for every metric of the spec (or those in `only`)."""
    names = [m.name for m in canary.spec.analysis.metrics if only is None or m.name in only]
    return [check(Verdict.PASS, name) for name in names] or [check(Verdict.PASS)]


def steps_to_promotion(canary: Canary) -> int:
    """How many analysis intervals a run takes from its first tick to promotion: one per step
    (mirror iterations, weights or iterations) and the last one that promotes."""
    status = canary.status.model_copy(update={"step": 0, "iterations": 0, "canary_weight": 0})
    count = 0
    step: NextStep = next_step(canary.spec, status)
    while step.routes is not None:
        count += 1
        status = status.model_copy(
            update={
                "step": step.step,
                "iterations": step.iterations,
                "canary_weight": step.routes.canary,
            }
        )
        step = next_step(canary.spec, status)
    return count


def time_bound(canary: Canary, *, canary_ready_after: float, primary_ready_after: float) -> float:
    """The longest an approved, healthy rollout may take, from the spec.

    readiness of the canary + one poll to see it
    + steps x interval (the first step is taken at the first tick, each later step and the
      promotion one interval after the previous one; skipAnalysis has no steps)
    + readiness of the primary + one poll to see it.
    A poll is min(interval, 5 s), the engine's requeue while it waits for a Deployment.
    """
    interval = canary.spec.analysis.interval_seconds
    poll = min(interval, POLL_SECONDS)
    steps = 0 if canary.spec.skip_analysis else steps_to_promotion(canary)
    return canary_ready_after + poll + steps * interval + primary_ready_after + poll
