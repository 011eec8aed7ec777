"""The rollout engine: a pure function from (Canary, observations) to the next status and actions.

No I/O and no clock: the time comes in `Observations.now`. The same inputs always give the same
decision, which is what lets the simulator, the controller and the tests share this one core.
"""

from __future__ import annotations

from datetime import datetime

from canary.api.canary import Canary, Phase, WebhookType
from canary.engine.endings import finalise, promoting
from canary.engine.lifecycle import idle, initialize, on_deletion
from canary.engine.run import run
from canary.engine.status import analysis_started
from canary.engine.strategies import step_gate
from canary.engine.tick import (
    Tick,
    analysis_due,
    guard_due,
    is_first_tick,
    is_new_revision,
    request_ends_tick,
    sequential_config,
    traffic_start,
)
from canary.engine.types import Decision, ManualRequest, Needs, Observations

IDLE_PHASES = frozenset({Phase.INITIALIZED, Phase.SUCCEEDED, Phase.FAILED, Phase.ABORTED})
RUN_PHASES = frozenset({Phase.PROGRESSING, Phase.PAUSED, Phase.WAITING_PROMOTION})
ANALYSIS_PHASES = frozenset({Phase.PROGRESSING, Phase.WAITING_PROMOTION})


def needs(
    canary: Canary,
    revision: str,
    now: datetime,
    *,
    canary_ready: bool = True,
    request: ManualRequest | None = None,
) -> Needs:
    """What decide() will want to know at `now`: whether to run the analysis, which gates to ask,
    and from when the sequential test wants the traffic (`Needs.traffic_since`, also between
    analysis ticks: the guard's ticks, every `analysis.guardInterval`, else
    `analysis.sequential.guardInterval`), and on a guard tick which metrics marked `guard` to
    check (`Needs.guard_metrics`; never with `Needs.analysis`, which checks them all).

    `canary_ready` is whether the target (canary) Deployment is ready: while it is not, a run
    asks only the rollback gate (once traffic has reached the canary), since decide() acts on
    nothing else until it is ready, and a gate whose answer is dropped would be called again.
    For the same reason a run's tick that acts on the operator's `request` (pause, resume,
    promote) asks no gate: the rollback gate is asked at the next tick.
    """
    spec, status = canary.spec, canary.status
    hooks = {hook.type for hook in spec.analysis.webhooks}
    gates: set[WebhookType] = set()
    phase = status.phase
    due = analysis_due(canary, now)
    # Gates are asked at most once per interval: reconciles also follow Deployment changes, and a
    # webhook must not be called at every one of them.
    waiting_and_due = phase != Phase.WAITING or due
    new_revision = is_new_revision(status, revision)
    idle = phase in IDLE_PHASES | {Phase.WAITING}
    if idle and new_revision and waiting_and_due and not spec.suspend:
        gates.add(WebhookType.CONFIRM_ROLLOUT)
    analysis = False
    # A tick that acts on the operator's request asks no gate either: asking one restarts the
    # interval clock, and the checks the request pre-empted would then wait a whole interval
    # more than the same rollout without webhooks (found by tests/engine/test_liveness.py).
    ends_tick = request_ends_tick(status, request)
    first_wait = not canary_ready and is_first_tick(status)
    if phase in ANALYSIS_PHASES and due and not ends_tick and not first_wait:
        gates.add(WebhookType.ROLLBACK)
    judging = canary_ready and not spec.skip_analysis and not ends_tick
    if phase in ANALYSIS_PHASES and due and judging:
        if not is_first_tick(status):
            analysis = bool(spec.analysis.metrics) or sequential_config(spec) is not None
            gates.add(WebhookType.ROLLOUT)
        elif not analysis_started(status):
            gates.add(WebhookType.PRE_ROLLOUT)
        # The gate of the next step is asked with the checks that may take it, the first step
        # included, so that an approval moves traffic in the same tick.
        gate = step_gate(spec, status)
        if gate is not None:
            gates.add(gate)
    # The sequential test reads the traffic since its last window at every analysis tick and,
    # between them, at every guard tick; before the first step there is no window to read. An
    # analysis tick checks every metric, the guards included, so it is never a guard tick too.
    traffic_since = None
    guard_metrics: frozenset[str] = frozenset()
    if phase in ANALYSIS_PHASES and judging and ((due and analysis) or guard_due(canary, now)):
        traffic_since = traffic_start(spec, status)
        if not analysis:
            guard_metrics = spec.analysis.guard_metrics
    return Needs(
        analysis=analysis,
        gates=frozenset(gates & hooks),
        traffic_since=traffic_since,
        guard_metrics=guard_metrics,
    )


def decide(canary: Canary, obs: Observations) -> Decision:
    """The next status of `canary` and the actions that get the world there."""
    tick = Tick(canary, obs)
    phase = tick.status.phase
    if obs.deleting or canary.spec.suspend or phase in (None, Phase.INITIALIZING):
        tick.take_request()  # refused, with the reason: there is no rollout to act on
    if obs.deleting:
        on_deletion(tick)
    elif canary.spec.suspend:
        tick.status.message = "suspended: spec.suspend is set"
        tick.requeue = tick.interval
    elif phase in (None, Phase.INITIALIZING):
        initialize(tick)
    elif phase in IDLE_PHASES or phase == Phase.WAITING:
        idle(tick)
    elif phase in RUN_PHASES:
        run(tick)
    elif phase == Phase.PROMOTING:
        promoting(tick)
    elif phase == Phase.FINALISING:
        finalise(tick)
    return tick.decision()


__all__ = ["decide", "needs"]
