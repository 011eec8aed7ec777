"""Inside a run: readiness, manual requests, analysis ticks, failed checks and weight steps."""

from __future__ import annotations

from canary.analysis.results import Verdict
from canary.api.canary import (
    DEFAULT_EVIDENCE_TIMEOUT,
    CanarySpec,
    EvidenceRequirement,
    EvidenceTimeoutAction,
    Phase,
    WebhookType,
)
from canary.api.common import parse_duration
from canary.engine.endings import promote, rollback
from canary.engine.judging import guard_tick, judge
from canary.engine.lifecycle import start_run
from canary.engine.status import (
    analysis_started,
    evidence_timeout_marked,
    forget_evidence_timeout,
    mark_analysis_started,
    mark_evidence_timeout,
)
from canary.engine.strategies import next_step, step_gate
from canary.engine.tick import (
    POLL_SECONDS,
    Tick,
    analysis_due,
    gate_answer,
    is_first_tick,
    pending_request,
    seconds_until_due,
    seconds_until_guard,
    sequential_config,
)
from canary.engine.types import ALL_PRIMARY, ManualRequest, RequestKind, ScaleCanary


def run(tick: Tick) -> None:
    """One tick of a run; the next call is at the next analysis or guard tick, whichever first."""
    run_tick(tick)
    if tick.status.phase in (Phase.PROGRESSING, Phase.WAITING_PROMOTION):
        guard = seconds_until_guard(tick)
        if guard is not None:
            tick.requeue = min(tick.requeue, guard)


def run_tick(tick: Tick) -> None:
    status, obs, spec = tick.status, tick.obs, tick.spec
    if obs.revision != status.last_applied_spec:
        on_revision_change(tick)
        return
    if obs.gates:
        # Gates were asked: whatever this tick does with their answers, the next ask is one
        # interval later (analysis_due() reads the status as it came in, so the check below still
        # sees this tick as due).
        status.last_analysis_at = tick.now
    request = pending_request(status, obs.request)
    if request is not None and request.kind == RequestKind.ABORT:
        tick.take_request()
        # The request's id is all that says who asked (operators put their name in it).
        rollback(tick, Phase.ABORTED, "aborted by request", note=f"request {request.id}")
        return
    rollback_gate = obs.gates.get(WebhookType.ROLLBACK)
    if rollback_gate is not None and rollback_gate.passed:
        rollback(
            tick, Phase.FAILED, f"rollback requested by webhook {rollback_gate.message}".strip()
        )
        return
    if not canary_ready(tick):
        return  # a request waits for the canary, and is acted on when it is ready
    taken = tick.take_request() if request is not None else None
    if taken is not None and on_run_request(tick, taken):
        return
    if status.phase == Phase.PAUSED:
        tick.status.message = "paused by request; resume to continue"
        tick.requeue = tick.interval
        return
    if spec.skip_analysis:
        promote(tick, "skipAnalysis is set")
        return
    if status.failed_checks >= spec.analysis.threshold:
        rollback(tick, Phase.FAILED, f"failed checks threshold reached {status.failed_checks}")
        return
    if not analysis_due(tick.canary, tick.now):
        if obs.traffic is not None or obs.guard is not None:
            breach = guard_tick(tick)
            if breach is not None:
                rollback(tick, Phase.FAILED, breach)
                return
        tick.requeue = seconds_until_due(tick)
        return
    status.last_analysis_at = tick.now
    tick.requeue = tick.interval
    if is_first_tick(status):
        first_tick(tick)
    else:
        analysis_tick(tick)


def on_revision_change(tick: Tick) -> None:
    if tick.obs.revision == tick.status.last_promoted_spec:
        tick.set_routes(ALL_PRIMARY, "the target went back to the promoted revision")
        tick.actions.append(ScaleCanary(up=False, reason="the run was cancelled"))
        tick.status.last_applied_spec = tick.obs.revision
        tick.enter(Phase.SUCCEEDED, "the target went back to the promoted revision: run cancelled")
        tick.record("Cancelled", tick.status.message)
        tick.event("Cancelled", tick.status.message)
        return
    start_run(tick, "new revision during the rollout, restarting from weight 0")


def on_run_request(tick: Tick, request: ManualRequest) -> bool:
    """Acts on pause, resume and promote; True when the tick is done."""
    if request.kind == RequestKind.PAUSE:
        tick.enter(Phase.PAUSED, "paused by request")
        tick.record("Paused", tick.status.message)
        tick.event("Paused", "Rollout paused by request")
        return True
    if request.kind == RequestKind.RESUME and tick.status.phase == Phase.PAUSED:
        tick.enter(Phase.PROGRESSING, "resumed by request")
        tick.record("Resumed", tick.status.message)
        tick.event("Resumed", "Rollout resumed by request")
        # The gates were not asked while paused: the checks run at the next reconcile.
        tick.requeue = min(tick.interval, POLL_SECONDS)
        return True
    if request.kind == RequestKind.PROMOTE_FULL or (
        # With skipAnalysis the next tick promotes anyway: one step would only delay it.
        request.kind == RequestKind.PROMOTE and tick.spec.skip_analysis
    ):
        promote(tick, "full promotion requested")
        return True
    if request.kind == RequestKind.PROMOTE:
        tick.status.phase = Phase.PROGRESSING
        tick.status.last_analysis_at = tick.now  # the new step is checked one interval later
        advance(tick, "promotion of one step requested", gated=False)
        return True
    return False


def canary_ready(tick: Tick) -> bool:
    """False (and the tick decided) while the canary is not ready."""
    status, readiness = tick.status, tick.obs.canary
    if readiness.ready:
        status.not_ready_since = None
        return True
    since = status.not_ready_since or tick.now
    status.not_ready_since = since
    waited = (tick.now - since).total_seconds()
    if readiness.deadline_exceeded or waited >= tick.spec.progress_deadline_seconds:
        rollback(
            tick,
            Phase.FAILED,
            f"progress deadline exceeded: canary not ready ({readiness.reason})",
            transition="deadline",
        )
        return False
    tick.status.message = f"waiting for the canary to be ready: {readiness.reason}"
    return False


def first_tick(tick: Tick) -> None:
    """The canary has no traffic yet: only the pre-rollout hooks are judged, then the first step.

    The hooks run once per run: once they passed, a run still at weight 0 (its first step waiting
    for confirm-traffic-increase) asks only that gate at the next intervals.
    """
    if not analysis_started(tick.status):
        gate = gate_answer(tick, WebhookType.PRE_ROLLOUT)
        if gate is not None and not gate.passed:
            count_check(tick, passed=False, reason=f"pre-rollout webhook failed: {gate.message}")
            return
        mark_analysis_started(tick.status, tick.now)
        tick.event("Started", "Starting canary analysis")
    advance(tick, "pre-rollout checks passed")


def analysis_tick(tick: Tick) -> None:
    verdict, reason, critical = judge(tick)
    if critical:
        rollback(tick, Phase.FAILED, f"critical check failed: {reason}")
        return
    if verdict == Verdict.FAIL:
        count_check(tick, passed=False, reason=reason)
        return
    if verdict != Verdict.PASS:
        tick.record(str(verdict), f"holding: {reason}")
        return
    count_check(tick, passed=True, reason=reason)
    if not step_long_enough(tick):
        return
    advance(tick, reason)


def count_check(tick: Tick, *, passed: bool, reason: str) -> None:
    status, analysis = tick.status, tick.spec.analysis
    if analysis.failure_window is not None:
        status.check_results = [*status.check_results, passed][-analysis.failure_window :]
        status.failed_checks = status.check_results.count(False)
    elif not passed:
        status.failed_checks += 1
    if passed:
        tick.record("Pass", reason)
        return
    tick.record("Fail", f"check failed: {reason}")
    tick.event(
        "CheckFailed",
        f"Check failed ({status.failed_checks}/{analysis.threshold}): {reason}",
        warning=True,
    )
    if status.failed_checks >= analysis.threshold:
        rollback(
            tick, Phase.FAILED, f"failed checks threshold reached {status.failed_checks}: {reason}"
        )


def advance(tick: Tick, reason: str, *, gated: bool = True) -> None:
    status, spec = tick.status, tick.spec
    step = next_step(spec, status)
    if step.routes is None:
        gate = gate_answer(tick, WebhookType.CONFIRM_PROMOTION) if gated else None
        if gate is not None and not gate.passed:
            if status.phase != Phase.WAITING_PROMOTION:
                tick.notify("warn", f"Waiting for approval to promote: {gate.message}", "waiting")
            tick.enter(
                Phase.WAITING_PROMOTION, f"waiting for confirm-promotion approval: {gate.message}"
            )
            return
        promote(tick, f"{step.description}: {reason}")
        return
    increase = step_gate(spec, status) == WebhookType.CONFIRM_TRAFFIC_INCREASE
    gate = gate_answer(tick, WebhookType.CONFIRM_TRAFFIC_INCREASE) if gated and increase else None
    if gate is not None and not gate.passed:
        tick.record("Pass", f"waiting for confirm-traffic-increase approval: {gate.message}")
        return
    tick.set_routes(step.routes, step.description)
    start_reading_traffic(tick)
    forget_evidence_timeout(status)
    status.step = step.step
    status.iterations = step.iterations
    status.step_started_at = tick.now
    tick.enter(Phase.PROGRESSING, f"{step.description}: {reason}")
    tick.record("Pass", tick.status.message)
    tick.event("Advanced", f"{step.description[0].upper()}{step.description[1:]}")
    tick.notify("info", f"{step.description[0].upper()}{step.description[1:]}.", "step")


def start_reading_traffic(tick: Tick) -> None:
    """The first step sends traffic to the canary: the sequential test's first window starts now
    (never at the revision's appearance, whose traffic is all the primary's), and so does the
    guard metrics' clock."""
    if tick.spec.analysis.guard_metrics and tick.status.last_guard_at is None:
        tick.status.last_guard_at = tick.now
    state = tick.status.sequential
    if state is not None and state.read_until is None:
        tick.status.sequential = state.model_copy(
            update={"read_until": tick.now, "reading_since": tick.now}
        )


def step_long_enough(tick: Tick) -> bool:
    """With the sequential test, a step lasts at least its minimum and ends early only when the
    absence of a regression is conclusive or its maximum duration has passed. A step that
    requires evidence (`requireEvidence`; the last step when `maxFinalStepDuration` is set)
    waits for it up to the evidence timeout, then does what `onEvidenceTimeout` says."""
    sequential = tick.spec.analysis.sequential
    if not sequential.enabled or tick.status.step_started_at is None:
        return True
    age = (tick.now - tick.status.step_started_at).total_seconds()
    if sequential.min_step_duration is not None and age < parse_duration(
        sequential.min_step_duration
    ):
        tick.record(
            "Pass", f"{tick.status.message}; the step lasts at least {sequential.min_step_duration}"
        )
        return False
    state = tick.status.sequential
    config = sequential_config(tick.spec)
    conclusive = (
        state is not None
        and config is not None
        and state.log_likelihood_ratio <= config.lower_bound
    )
    rule = evidence_rule(tick.spec, final=next_step(tick.spec, tick.status).routes is None)
    if rule is None:
        maximum = parse_duration(sequential.max_step_duration or tick.spec.analysis.interval)
        if conclusive or age >= maximum:
            return True
        tick.record(
            "Pass", f"{tick.status.message}; waiting for the sequential test or {maximum:.0f}s"
        )
        return False
    timeout, action = rule
    if conclusive:
        return True
    if age < timeout:
        tick.record(
            "Pass",
            f"{tick.status.message}; waiting for conclusive evidence of no regression "
            f"(at most {timeout:.0f}s)",
        )
        return False
    return evidence_timed_out(tick, timeout, action)


def evidence_rule(spec: CanarySpec, *, final: bool) -> tuple[float, EvidenceTimeoutAction] | None:
    """(timeout in seconds, what then) when this step waits for evidence, else None.

    `maxFinalStepDuration` without `requireEvidence` keeps its meaning: the last step waits for
    evidence up to that duration, then promotes.
    """
    sequential = spec.analysis.sequential
    required = sequential.require_evidence
    waits = required == EvidenceRequirement.EVERY_STEP or (
        required == EvidenceRequirement.PROMOTION and final
    )
    if waits:
        timeout = (
            sequential.evidence_timeout
            or sequential.max_final_step_duration
            or DEFAULT_EVIDENCE_TIMEOUT
        )
        return parse_duration(timeout), sequential.on_evidence_timeout
    if final and sequential.max_final_step_duration is not None:
        return parse_duration(sequential.max_final_step_duration), EvidenceTimeoutAction.PROMOTE
    return None


def evidence_timed_out(tick: Tick, timeout: float, action: EvidenceTimeoutAction) -> bool:
    """Whether the step goes on after `timeout` without conclusive evidence."""
    reason = f"no conclusive evidence of no regression after {timeout:.0f}s"
    if action == EvidenceTimeoutAction.PROMOTE:
        return True
    if action == EvidenceTimeoutAction.ROLLBACK:
        rollback(tick, Phase.FAILED, reason)
        return False
    message = f"holding at {tick.status.canary_weight}%: {reason}; promote or abort to end the hold"
    if not evidence_timeout_marked(tick.status):
        # Once, when the hold begins: later intervals repeat no Event nor alert.
        mark_evidence_timeout(tick.status, message, tick.now)
        tick.event("EvidenceTimeout", message, warning=True)
        tick.notify("warn", f"Holding: {message}.", "waiting")
    tick.record("Hold", message)
    tick.status.message = message
    return False
