"""Runs the real engine on a virtual clock against synthetic traffic: a whole rollout, no cluster."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import numpy as np

from canary.analysis.results import CheckResult
from canary.api.canary import Canary, Phase, WebhookType
from canary.api.common import parse_duration
from canary.engine.engine import decide, needs
from canary.engine.types import (
    Decision,
    GateResult,
    ManualRequest,
    Observations,
    PromotePrimary,
    Readiness,
    Routes,
    ScaleCanary,
    SetRoutes,
)
from canary.metrics.evaluate import evaluate
from canary.sim.observer import Observer
from canary.sim.observer import observer as make_observer
from canary.sim.scenario import RequestAt, Scenario, Side
from canary.sim.traffic import Traffic

EPOCH = datetime(2026, 1, 1, tzinfo=UTC)
"""The virtual clock's origin: the moment the new revision appears."""
OLD, NEW = "rev-v1", "rev-v2"
FINAL_PHASES = frozenset({Phase.SUCCEEDED, Phase.FAILED, Phase.ABORTED})


@dataclass(frozen=True)
class Tick:
    """One call of the engine: what it saw and decided."""

    seconds: int
    phase: Phase
    primary_weight: int
    canary_weight: int
    mirror_weight: int
    verdict: str
    reason: str
    metrics: list[CheckResult]


@dataclass
class Outcome:
    """The result of a simulated rollout."""

    scenario: str
    seed: int
    phase: Phase
    decision_seconds: int | None
    canary_requests: int
    canary_failed_requests: int
    user_requests: int
    ticks: list[Tick] = field(default_factory=list)
    canary: Canary | None = None


@dataclass
class World:
    """The simulated cluster: routes, readiness and traffic."""

    scenario: Scenario
    rng: np.random.Generator
    routes: Routes = field(default_factory=Routes)
    canary_up_at: int | None = None
    promoted_at: int | None = None
    traffic: Traffic = field(init=False)

    def __post_init__(self) -> None:
        self.traffic = Traffic(self.scenario, self.rng)

    def apply(self, decision: Decision, now: int) -> None:
        for action in decision.actions:
            if isinstance(action, SetRoutes):
                self.routes = action.routes
            elif isinstance(action, ScaleCanary):
                self.canary_up_at = now if action.up else None
            elif isinstance(action, PromotePrimary):
                self.promoted_at = now

    def canary_readiness(self, now: int) -> Readiness:
        if self.canary_up_at is None:
            return Readiness(False, "scaled to zero")
        return _readiness(self.scenario.canary, now - self.canary_up_at, "canary")

    def primary_readiness(self, now: int) -> Readiness:
        if self.promoted_at is None:
            return Readiness(True)
        return _readiness(self.scenario.primary, now - self.promoted_at, "primary")


def _readiness(side: Side, age: int, label: str) -> Readiness:
    delay = parse_duration(side.ready_after)
    if side.never_ready:
        return Readiness(False, f"{label} pods never become ready (0/2 available)")
    if age < delay:
        return Readiness(False, f"{label} rollout in progress ({age}s of {delay:.0f}s)")
    if side.flapping is not None:
        period = parse_duration(side.flapping)
        if int((age - delay) // period) % 2 == 1:
            return Readiness(False, f"{label} pods flapping: 1/2 available")
    return Readiness(True)


def simulate(canary: Canary, scenario: Scenario, seed: int = 1) -> Outcome:
    """Initializes the canary on v1, then rolls out v2 until it is promoted or rolled back."""
    rng = np.random.default_rng(seed)
    world = World(scenario, rng)
    observer = make_observer(scenario, world.traffic, seed)
    canary = _initialized(canary)
    limit = int(parse_duration(scenario.duration))
    requests = sorted(scenario.requests, key=lambda r: parse_duration(r.at))
    outcome = Outcome(scenario.name, seed, Phase.INITIALIZED, None, 0, 0, 0)
    now, last_analysis = 0, 0
    started = False
    while now <= limit:
        world.traffic.run_until(now, world.routes)
        canary_readiness = world.canary_readiness(now)
        request = _due_request(requests, now)
        wanted = needs(
            canary,
            NEW,
            EPOCH + timedelta(seconds=now),
            canary_ready=canary_readiness.ready,
            request=request,
        )
        analysis, guard, traffic = None, None, None
        if wanted.analysis:
            analysis = _analyze(canary, observer, now)
        elif wanted.guard_metrics:
            guard = _analyze(canary, observer, now, only=wanted.guard_metrics)
        if wanted.analysis or wanted.traffic_since is not None:
            # The engine's window (canary.engine.types.traffic_window; whole seconds here).
            since = last_analysis
            if wanted.traffic_since is not None:
                since = int((wanted.traffic_since - EPOCH).total_seconds())
            # With a reading start the sequential test reads the run so far (the *_SINCE counts);
            # without one, the analysis interval's requests, as MetricAnalyzer.traffic does.
            traffic = observer.traffic(since, now, cumulative=wanted.traffic_since is not None)
            last_analysis = now
        obs = Observations(
            now=EPOCH + timedelta(seconds=now),
            revision=NEW,
            primary=world.primary_readiness(now),
            canary=canary_readiness,
            routes=world.routes,
            analysis=analysis,
            guard=guard,
            traffic=traffic,
            gates={g: _gate(scenario, g, now) for g in wanted.gates},
            request=request,
        )
        decision = decide(canary, obs)
        world.apply(decision, now)
        canary = canary.model_copy(update={"status": decision.status})
        started = started or decision.status.phase == Phase.PROGRESSING
        _record(outcome, decision, now, analysis)
        if started and decision.status.phase in FINAL_PHASES:
            outcome.decision_seconds = now
            break
        if not started and now == 0 and decision.status.last_applied_spec == NEW:
            started = True
        now += max(1, round(decision.requeue_after))
    outcome.phase = canary.status.phase or Phase.INITIALIZED
    outcome.canary_requests = world.traffic.user_canary_requests
    outcome.canary_failed_requests = world.traffic.user_canary_failures
    outcome.user_requests = world.traffic.user_requests
    outcome.canary = canary
    return outcome


def _initialized(canary: Canary) -> Canary:
    """The canary as the controller leaves it after initialization on the old revision."""
    obs = Observations(now=EPOCH, revision=OLD, primary=Readiness(True), canary=Readiness(False))
    fresh = canary.model_copy(update={"status": canary.status.model_copy(update={"phase": None})})
    status = decide(fresh, obs).status
    return canary.model_copy(update={"status": status})


def _analyze(
    canary: Canary, observer: Observer, now: int, only: frozenset[str] | None = None
) -> list[CheckResult]:
    """Every metric at `now`, or only those named in `only` (a guard tick's Needs.guard_metrics)."""
    metrics = canary.spec.analysis.metrics
    return [evaluate(m, observer.metric(m, now)) for m in metrics if only is None or m.name in only]


def _gate(scenario: Scenario, gate: WebhookType, now: int) -> GateResult:
    for opening in scenario.gates:
        if opening.type == gate:
            if opening.opens_at is not None and now >= parse_duration(opening.opens_at):
                return GateResult(True, "approved")
            return GateResult(False, "not approved yet")
    # Gates the scenario does not mention answer as an approving webhook would; rollback never fires.
    return GateResult(gate != WebhookType.ROLLBACK, "no such gate in the scenario")


def _due_request(requests: Sequence[RequestAt], now: int) -> ManualRequest | None:
    due = [r for r in requests if parse_duration(r.at) <= now]
    if not due:
        return None
    latest = due[-1]
    return ManualRequest(id=f"{latest.kind}@{latest.at}", kind=latest.kind)


def _record(
    outcome: Outcome, decision: Decision, now: int, analysis: list[CheckResult] | None
) -> None:
    status = decision.status
    routes = next((a.routes for a in reversed(decision.actions) if isinstance(a, SetRoutes)), None)
    history = status.history[-1] if status.history else None
    new_entry = history is not None and history.time == EPOCH + timedelta(seconds=now)
    if not new_entry and routes is None:
        return
    outcome.ticks.append(
        Tick(
            seconds=now,
            phase=status.phase or Phase.INITIALIZING,
            primary_weight=100 - status.canary_weight,
            canary_weight=status.canary_weight,
            mirror_weight=status.mirror_weight,
            verdict=history.verdict if new_entry and history else "",
            reason=status.message,
            metrics=list(analysis or []),
        )
    )
