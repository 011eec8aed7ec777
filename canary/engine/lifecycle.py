"""Outside a run: deletion, initialization, waiting for a new revision, and starting a run."""

from __future__ import annotations

from canary.api.canary import Phase, SequentialState, WebhookType
from canary.engine.status import forget_analysis_started, forget_evidence_timeout
from canary.engine.tick import (
    POLL_SECONDS,
    Tick,
    gate_answer,
    is_new_revision,
    seconds_until_due,
    sequential_config,
)
from canary.engine.types import ALL_PRIMARY, Initialize, RequestKind, Revert, ScaleCanary


def on_deletion(tick: Tick) -> None:
    if tick.spec.revert_on_deletion and tick.status.phase != Phase.TERMINATED:
        tick.actions.append(Revert("the Canary is being deleted and revertOnDeletion is set"))
        tick.enter(Phase.TERMINATED, "restored the target and the objects taken over")
        tick.record("Terminated", tick.status.message)
        tick.event(
            "Terminated", "Canary deleted: the target and the objects taken over are restored"
        )
    tick.requeue = tick.interval


def initialize(tick: Tick) -> None:
    tick.actions.append(Initialize("create the primary, the Services and the routing"))
    if not tick.obs.primary.ready:
        primary_not_ready_yet(tick)
        return
    tick.status.not_ready_since = None
    tick.actions.append(ScaleCanary(up=False, reason="the primary serves all traffic"))
    tick.status.last_applied_spec = tick.obs.revision
    tick.status.last_promoted_spec = tick.obs.revision
    tick.status.tracked_configs = dict(tick.obs.tracked_configs)
    tick.enter(Phase.INITIALIZED, "initialization completed: the primary serves all traffic")
    tick.record("Initialized", tick.status.message)
    tick.event("Synced", "Initialization done")
    tick.notify("info", "New Deployment detected, initialization completed.", "initialized")
    tick.requeue = tick.interval


def primary_not_ready_yet(tick: Tick) -> None:
    """Initializing waits for the primary; past the deadline it says so, once, loudly."""
    since = tick.status.not_ready_since or tick.now
    tick.status.not_ready_since = since
    waited = (tick.now - since).total_seconds()
    deadline = tick.spec.progress_deadline_seconds
    reason = tick.obs.primary.reason
    if waited >= deadline or tick.obs.primary.deadline_exceeded:
        message = f"the primary is not ready after {waited:.0f}s: {reason}"
        if not tick.previous.message.startswith("the primary is not ready after"):
            tick.event("PrimaryNotReady", message, warning=True)
            tick.notify("error", f"Initialization stalled: {message}", "deadline")
        tick.enter(Phase.INITIALIZING, message)
        return
    tick.enter(Phase.INITIALIZING, f"waiting for the primary to be ready: {reason}")


def idle(tick: Tick) -> None:
    status, obs = tick.status, tick.obs
    request = tick.take_request()
    retry = request is not None and request.kind == RequestKind.RETRY
    retry = retry and status.phase in (Phase.FAILED, Phase.ABORTED)
    tick.requeue = tick.interval
    if status.phase == Phase.WAITING and request is not None and request.kind == RequestKind.ABORT:
        status.last_applied_spec = obs.revision
        tick.enter(Phase.ABORTED, "aborted by request while waiting for approval")
        tick.record("Aborted", tick.status.message)
        tick.event("Aborted", tick.status.message, warning=True)
        tick.notify(
            "error",
            f"Aborted by request {request.id} while waiting for approval.",
            "aborted",
        )
        return
    if not (retry or is_new_revision(status, obs.revision)):
        if status.phase == Phase.WAITING:
            tick.enter(Phase.SUCCEEDED, "the revision waiting for approval was withdrawn")
        return
    # An operator's retry, or promote while Waiting, is itself the approval; a new revision
    # otherwise waits for confirm-rollout.
    approved = (
        status.phase == Phase.WAITING
        and request is not None
        and request.kind == RequestKind.PROMOTE
    )
    gate = None if retry or approved else gate_answer(tick, WebhookType.CONFIRM_ROLLOUT)
    if gate is not None and not gate.passed:
        wait_for_approval(tick, gate.message)
        return
    reason = "retry requested" if retry else "new revision detected"
    start_run(tick, f"{reason}, start approved by request" if approved else reason)


def wait_for_approval(tick: Tick, answer: str) -> None:
    """Waiting: the confirm-rollout webhooks are asked again one interval after they answered."""
    if WebhookType.CONFIRM_ROLLOUT in tick.obs.gates:
        # Only the tick that enters Waiting says so: later intervals (and a tick before the
        # gate was first asked) repeat nothing.
        if tick.status.phase != Phase.WAITING:
            tick.notify("warn", f"Waiting for approval to start the rollout: {answer}", "waiting")
        tick.status.last_analysis_at = tick.now
        tick.enter(Phase.WAITING, f"waiting for confirm-rollout approval: {answer}")
    tick.requeue = seconds_until_due(tick) or tick.interval


def start_run(tick: Tick, reason: str) -> None:
    status = tick.status
    status.last_applied_spec = tick.obs.revision
    status.tracked_configs = dict(tick.obs.tracked_configs)
    status.failed_checks = 0
    status.check_results = []
    status.iterations = 0
    status.step = 0
    status.metrics = []
    status.blast_radius = None
    status.last_analysis_at = None
    status.last_guard_at = None
    status.not_ready_since = None
    status.step_started_at = tick.now
    forget_analysis_started(status)
    forget_evidence_timeout(status)
    status.sequential = SequentialState() if sequential_config(tick.spec) is not None else None
    tick.actions.append(ScaleCanary(up=True, reason=reason))
    tick.set_routes(ALL_PRIMARY, "a run starts with all traffic on the primary")
    tick.enter(Phase.PROGRESSING, f"{reason}: scaling up the canary")
    tick.record("Started", tick.status.message)
    tick.event("NewRevision", f"New revision detected! Scaling up {tick.spec.target_ref.name}")
    tick.notify("info", f"New revision detected, starting the rollout ({reason}).", "started")
    tick.requeue = min(tick.interval, POLL_SECONDS)
