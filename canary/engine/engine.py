"""The rollout engine: a pure function from (Canary, observations) to the next status and actions.

No I/O and no clock: the time comes in `Observations.now`. The same inputs always give the same
decision, which is what lets the simulator, the controller and the tests share this one core.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from canary.analysis.results import CheckResult, Verdict, json_number, json_safe
from canary.analysis.sequential import SequentialConfig, llr_increments
from canary.api.canary import (
    Canary,
    CanarySpec,
    CanaryStatus,
    MetricStatus,
    Phase,
    SequentialState,
    WebhookType,
)
from canary.api.common import parse_duration
from canary.engine.status import close_tick
from canary.engine.strategies import next_step, promotion_routes, route_back_step
from canary.engine.types import (
    ALL_PRIMARY,
    Action,
    Decision,
    GateResult,
    Initialize,
    ManualRequest,
    Needs,
    Notify,
    Observations,
    PromotePrimary,
    RecordEvent,
    RequestKind,
    Revert,
    Routes,
    RunWebhooks,
    ScaleCanary,
    SetRoutes,
)
from canary.engine.verdicts import interval_verdict

IDLE_PHASES = frozenset({Phase.INITIALIZED, Phase.SUCCEEDED, Phase.FAILED, Phase.ABORTED})
RUN_PHASES = frozenset({Phase.PROGRESSING, Phase.PAUSED, Phase.WAITING_PROMOTION})
ANALYSIS_PHASES = frozenset({Phase.PROGRESSING, Phase.WAITING_PROMOTION})
POLL_SECONDS = 5.0
"""How often to look again while waiting for a Deployment or a gate (capped by the interval)."""


def needs(canary: Canary, revision: str, now: datetime) -> Needs:
    """What decide() will want to know at `now`: whether to run the analysis, which gates to ask."""
    spec, status = canary.spec, canary.status
    hooks = {hook.type for hook in spec.analysis.webhooks}
    gates: set[WebhookType] = set()
    phase = status.phase
    due = _analysis_due(canary, now)
    # Gates are asked at most once per interval: reconciles also follow Deployment changes, and a
    # webhook must not be called at every one of them.
    waiting_and_due = phase != Phase.WAITING or due
    if phase in IDLE_PHASES | {Phase.WAITING} and _is_new_revision(status, revision):
        if waiting_and_due and not spec.suspend:
            gates.add(WebhookType.CONFIRM_ROLLOUT)
    if phase in ANALYSIS_PHASES and due:
        gates.add(WebhookType.ROLLBACK)
    analysis = False
    if phase in ANALYSIS_PHASES and not spec.skip_analysis and due:
        if _is_first_tick(status):
            gates.add(WebhookType.PRE_ROLLOUT)
        else:
            analysis = bool(spec.analysis.metrics) or _sequential_config(spec) is not None
            gates.add(WebhookType.ROLLOUT)
            final = next_step(spec, status).routes is None
            gates.add(
                WebhookType.CONFIRM_PROMOTION if final else WebhookType.CONFIRM_TRAFFIC_INCREASE
            )
    return Needs(analysis=analysis, gates=frozenset(gates & hooks))


def decide(canary: Canary, obs: Observations) -> Decision:
    """The next status of `canary` and the actions that get the world there."""
    tick = Tick(canary, obs)
    phase = tick.status.phase
    if obs.deleting:
        _on_deletion(tick)
    elif canary.spec.suspend:
        tick.status.message = "suspended: spec.suspend is set"
        tick.requeue = tick.interval
    elif phase in (None, Phase.INITIALIZING):
        _initialize(tick)
    elif phase in IDLE_PHASES or phase == Phase.WAITING:
        _idle(tick)
    elif phase in RUN_PHASES:
        _run(tick)
    elif phase == Phase.PROMOTING:
        _promoting(tick)
    elif phase == Phase.FINALISING:
        _finalise(tick)
    return tick.decision()


class Tick:
    """The decision being built: a copy of the status, the actions, and when to look again."""

    def __init__(self, canary: Canary, obs: Observations) -> None:
        self.canary = canary
        self.spec: CanarySpec = canary.spec
        self.obs = obs
        self.previous = canary.status
        self.status: CanaryStatus = canary.status.model_copy(deep=True)
        self.actions: list[Action] = []
        self.interval = self.spec.analysis.interval_seconds
        self.requeue = min(self.interval, POLL_SECONDS)
        self.verdict = ""

    @property
    def now(self) -> datetime:
        return self.obs.now

    @property
    def routes(self) -> Routes:
        """The live weights, or what status last recorded when the router cannot tell."""
        if self.obs.routes is not None:
            return self.obs.routes
        return Routes(
            primary=100 - self.status.canary_weight,
            canary=self.status.canary_weight,
            mirror=self.status.mirror_weight,
        )

    def take_request(self) -> ManualRequest | None:
        """The operator's request, once: a request already acted on is ignored."""
        request = self.obs.request
        if request is None or request.id == self.status.handled_request:
            return None
        self.status.handled_request = request.id
        return request

    def enter(self, phase: Phase, message: str) -> None:
        if self.status.phase != phase:
            self.status.phase = phase
            self.status.phase_started_at = self.now
        self.status.message = message

    def set_routes(self, routes: Routes, reason: str) -> None:
        self.actions.append(SetRoutes(routes, reason))
        self.status.canary_weight = routes.canary
        self.status.mirror_weight = routes.mirror

    def event(self, reason: str, message: str, *, warning: bool = False) -> None:
        self.actions.append(RecordEvent("Warning" if warning else "Normal", reason, message))

    def notify(self, severity: str, message: str) -> None:
        assert severity in ("info", "warn", "error")
        self.actions.append(Notify(severity, message))  # type: ignore[arg-type]

    def record(self, verdict: str, reason: str) -> None:
        """Remember this tick's verdict for the history entry written at the end."""
        self.verdict = verdict
        self.status.message = reason

    def decision(self) -> Decision:
        close_tick(self.previous, self.status, self.now, self.verdict)
        return Decision(status=self.status, actions=self.actions, requeue_after=self.requeue)


def _on_deletion(tick: Tick) -> None:
    if tick.spec.revert_on_deletion and tick.status.phase != Phase.TERMINATED:
        tick.actions.append(Revert("the Canary is being deleted and revertOnDeletion is set"))
        tick.enter(Phase.TERMINATED, "restored the target and the objects taken over")
        tick.record("Terminated", tick.status.message)
        tick.event(
            "Terminated", "Canary deleted: the target and the objects taken over are restored"
        )
    tick.requeue = tick.interval


def _initialize(tick: Tick) -> None:
    tick.actions.append(Initialize("create the primary, the Services and the routing"))
    if not tick.obs.primary.ready:
        _primary_not_ready_yet(tick)
        return
    tick.status.not_ready_since = None
    tick.actions.append(ScaleCanary(up=False, reason="the primary serves all traffic"))
    tick.status.last_applied_spec = tick.obs.revision
    tick.status.last_promoted_spec = tick.obs.revision
    tick.status.tracked_configs = dict(tick.obs.tracked_configs)
    tick.enter(Phase.INITIALIZED, "initialization completed: the primary serves all traffic")
    tick.record("Initialized", tick.status.message)
    tick.event("Synced", "Initialization done")
    tick.notify("info", "New Deployment detected, initialization completed.")
    tick.requeue = tick.interval


def _primary_not_ready_yet(tick: Tick) -> None:
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
            tick.notify("error", f"Initialization stalled: {message}")
        tick.enter(Phase.INITIALIZING, message)
        return
    tick.enter(Phase.INITIALIZING, f"waiting for the primary to be ready: {reason}")


def _idle(tick: Tick) -> None:
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
        return
    if not (retry or _is_new_revision(status, obs.revision)):
        if status.phase == Phase.WAITING:
            tick.enter(Phase.SUCCEEDED, "the revision waiting for approval was withdrawn")
        return
    # An operator's retry is itself the approval; a new revision waits for confirm-rollout.
    gate = None if retry else _gate(tick, WebhookType.CONFIRM_ROLLOUT)
    if gate is not None and not gate.passed:
        _wait_for_approval(tick, gate.message)
        return
    _start_run(tick, "retry requested" if retry else "new revision detected")


def _wait_for_approval(tick: Tick, answer: str) -> None:
    """Waiting: the confirm-rollout webhooks are asked again one interval after they answered."""
    if tick.status.phase != Phase.WAITING:
        tick.notify("warn", f"Waiting for approval to start the rollout: {answer}")
    if WebhookType.CONFIRM_ROLLOUT in tick.obs.gates:
        tick.status.last_analysis_at = tick.now
        tick.enter(Phase.WAITING, f"waiting for confirm-rollout approval: {answer}")
    tick.requeue = _seconds_until_due(tick) or tick.interval


def _start_run(tick: Tick, reason: str) -> None:
    status = tick.status
    status.last_applied_spec = tick.obs.revision
    status.tracked_configs = dict(tick.obs.tracked_configs)
    status.failed_checks = 0
    status.check_results = []
    status.iterations = 0
    status.step = 0
    status.metrics = []
    status.last_analysis_at = None
    status.not_ready_since = None
    status.step_started_at = tick.now
    status.sequential = SequentialState() if _sequential_config(tick.spec) is not None else None
    tick.actions.append(ScaleCanary(up=True, reason=reason))
    tick.set_routes(ALL_PRIMARY, "a run starts with all traffic on the primary")
    tick.enter(Phase.PROGRESSING, f"{reason}: scaling up the canary")
    tick.record("Started", tick.status.message)
    tick.event("NewRevision", f"New revision detected! Scaling up {tick.spec.target_ref.name}")
    tick.notify("info", f"New revision detected, starting the rollout ({reason}).")
    tick.requeue = min(tick.interval, POLL_SECONDS)


def _run(tick: Tick) -> None:
    status, obs, spec = tick.status, tick.obs, tick.spec
    if obs.revision != status.last_applied_spec:
        _on_revision_change(tick)
        return
    request = tick.take_request()
    if request is not None and request.kind == RequestKind.ABORT:
        _rollback(tick, Phase.ABORTED, "aborted by request")
        return
    rollback_gate = obs.gates.get(WebhookType.ROLLBACK)
    if rollback_gate is not None and rollback_gate.passed:
        _rollback(
            tick, Phase.FAILED, f"rollback requested by webhook {rollback_gate.message}".strip()
        )
        return
    if not _canary_ready(tick):
        return
    if request is not None and _on_run_request(tick, request):
        return
    if status.phase == Phase.PAUSED:
        tick.status.message = "paused by request; resume to continue"
        tick.requeue = tick.interval
        return
    if spec.skip_analysis:
        _promote(tick, "skipAnalysis is set")
        return
    if status.failed_checks >= spec.analysis.threshold:
        _rollback(tick, Phase.FAILED, f"failed checks threshold reached {status.failed_checks}")
        return
    if not _analysis_due(tick.canary, tick.now):
        tick.requeue = _seconds_until_due(tick)
        return
    status.last_analysis_at = tick.now
    tick.requeue = tick.interval
    if _is_first_tick(status):
        _first_tick(tick)
    else:
        _analysis_tick(tick)


def _on_revision_change(tick: Tick) -> None:
    if tick.obs.revision == tick.status.last_promoted_spec:
        tick.set_routes(ALL_PRIMARY, "the target went back to the promoted revision")
        tick.actions.append(ScaleCanary(up=False, reason="the run was cancelled"))
        tick.status.last_applied_spec = tick.obs.revision
        tick.enter(Phase.SUCCEEDED, "the target went back to the promoted revision: run cancelled")
        tick.record("Cancelled", tick.status.message)
        tick.event("Cancelled", tick.status.message)
        return
    _start_run(tick, "new revision during the rollout, restarting from weight 0")


def _on_run_request(tick: Tick, request: ManualRequest) -> bool:
    """Acts on pause, resume and promote; True when the tick is done."""
    if request.kind == RequestKind.PAUSE:
        tick.enter(Phase.PAUSED, "paused by request")
        tick.record("Paused", tick.status.message)
        tick.event("Paused", "Rollout paused by request")
        return True
    if request.kind == RequestKind.RESUME and tick.status.phase == Phase.PAUSED:
        tick.enter(Phase.PROGRESSING, "resumed by request")
        tick.event("Resumed", "Rollout resumed by request")
        return False
    if request.kind == RequestKind.PROMOTE_FULL:
        _promote(tick, "full promotion requested")
        return True
    if request.kind == RequestKind.PROMOTE:
        tick.status.phase = Phase.PROGRESSING
        _advance(tick, "promotion of one step requested", gated=False)
        return True
    return False


def _canary_ready(tick: Tick) -> bool:
    """False (and the tick decided) while the canary is not ready."""
    status, readiness = tick.status, tick.obs.canary
    if readiness.ready:
        status.not_ready_since = None
        return True
    since = status.not_ready_since or tick.now
    status.not_ready_since = since
    waited = (tick.now - since).total_seconds()
    if readiness.deadline_exceeded or waited >= tick.spec.progress_deadline_seconds:
        _rollback(
            tick, Phase.FAILED, f"progress deadline exceeded: canary not ready ({readiness.reason})"
        )
        return False
    tick.status.message = f"waiting for the canary to be ready: {readiness.reason}"
    return False


def _first_tick(tick: Tick) -> None:
    """The canary has no traffic yet: only the pre-rollout hooks are judged, then the first step."""
    gate = _gate(tick, WebhookType.PRE_ROLLOUT)
    if gate is not None and not gate.passed:
        _count_check(tick, passed=False, reason=f"pre-rollout webhook failed: {gate.message}")
        return
    tick.event("Started", "Starting canary analysis")
    _advance(tick, "pre-rollout checks passed")


def _analysis_tick(tick: Tick) -> None:
    verdict, reason, critical = _judge(tick)
    if critical:
        _rollback(tick, Phase.FAILED, f"critical check failed: {reason}")
        return
    if verdict == Verdict.FAIL:
        _count_check(tick, passed=False, reason=reason)
        return
    if verdict != Verdict.PASS:
        tick.record(str(verdict), f"holding: {reason}")
        return
    _count_check(tick, passed=True, reason=reason)
    if not _step_long_enough(tick):
        return
    _advance(tick, reason)


def _judge(tick: Tick) -> tuple[Verdict, str, bool]:
    """This interval's verdict, its reason, and whether a critical check failed."""
    rollout_gate = _gate(tick, WebhookType.ROLLOUT)
    interval = interval_verdict(tick.spec, tick.obs.analysis, tick.obs.traffic)
    sequential = _sequential_check(tick)
    results = [*interval.results, *([sequential] if sequential is not None else [])]
    _report_metric_errors(tick, interval.results)
    tick.status.metrics = [_metric_status(result) for result in results]
    if rollout_gate is not None and not rollout_gate.passed:
        return Verdict.FAIL, f"rollout webhook failed: {rollout_gate.message}", False
    if sequential is not None and sequential.verdict == Verdict.FAIL:
        # A conclusive regression ends the run at once, whatever the failed-check threshold.
        reason = f"{sequential.name}: {sequential.reason}"
        if interval.verdict == Verdict.FAIL:
            reason = f"{interval.reason}; {reason}"
        return Verdict.FAIL, reason, True
    # A sequential test still collecting evidence holds nothing: the step duration rules decide.
    return interval.verdict, interval.reason, interval.critical


def _report_metric_errors(tick: Tick, results: list[CheckResult]) -> None:
    """A Warning event when a metric's template or query starts failing (not at every interval)."""
    before = {m.name: m.evidence.get("error") for m in tick.previous.metrics}
    for result in results:
        error = result.evidence.get("error")
        if isinstance(error, str) and before.get(result.name) != error:
            tick.event(error, f"{result.name}: {result.reason}", warning=True)


def _sequential_check(tick: Tick) -> CheckResult | None:
    """Adds this interval's traffic to the sequential test and reports where it stands."""
    config = _sequential_config(tick.spec)
    traffic = tick.obs.traffic
    if config is None or traffic is None:
        return None
    state = tick.status.sequential or SequentialState()
    increment = llr_increments(
        [traffic.canary_requests],
        [traffic.canary_failures],
        [traffic.primary_requests],
        [traffic.primary_failures],
        config,
    )
    state.log_likelihood_ratio += float(increment[0])
    state.canary_requests += traffic.canary_requests
    state.canary_failures += traffic.canary_failures
    state.primary_requests += traffic.primary_requests
    state.primary_failures += traffic.primary_failures
    tick.status.sequential = state
    llr = state.log_likelihood_ratio
    if llr >= config.upper_bound:
        verdict, reason = Verdict.FAIL, "regression conclusive"
    elif llr <= config.lower_bound:
        verdict, reason = Verdict.PASS, "no regression, conclusive"
    else:
        verdict, reason = Verdict.HOLD, "collecting evidence"
    rates = (
        f"canary {state.canary_failures}/{state.canary_requests} failed, "
        f"primary {state.primary_failures}/{state.primary_requests}"
    )
    return CheckResult(
        name="sequential-failures",
        verdict=verdict,
        value=_rate(state.canary_failures, state.canary_requests),
        primary_value=_rate(state.primary_failures, state.primary_requests),
        threshold=f"{config.lower_bound:.2f} < LLR < {config.upper_bound:.2f}",
        reason=f"{reason} (LLR {llr:.2f}; {rates})",
        evidence={
            "llr": llr,
            "lowerBound": config.lower_bound,
            "upperBound": config.upper_bound,
            "minEffect": config.min_effect,
            "canaryRequests": state.canary_requests,
            "canaryFailures": state.canary_failures,
            "primaryRequests": state.primary_requests,
            "primaryFailures": state.primary_failures,
        },
    )


def _rate(failures: int, requests: int) -> float | None:
    return failures / requests if requests else None


def _step_long_enough(tick: Tick) -> bool:
    """With the sequential test, a step lasts at least its minimum and ends early only when the
    absence of a regression is conclusive or its maximum duration has passed (the last step's
    maximum is maxFinalStepDuration when set)."""
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
    maximum = parse_duration(sequential.max_step_duration or tick.spec.analysis.interval)
    if (
        sequential.max_final_step_duration is not None
        and next_step(tick.spec, tick.status).routes is None
    ):
        # Steps may advance on time alone since the test keeps running; promotion is final, so
        # the last step may wait longer for a conclusive answer.
        maximum = parse_duration(sequential.max_final_step_duration)
    state = tick.status.sequential
    config = _sequential_config(tick.spec)
    conclusive = (
        state is not None
        and config is not None
        and state.log_likelihood_ratio <= config.lower_bound
    )
    if conclusive or age >= maximum:
        return True
    tick.record("Pass", f"{tick.status.message}; waiting for the sequential test or {maximum:.0f}s")
    return False


def _count_check(tick: Tick, *, passed: bool, reason: str) -> None:
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
        _rollback(
            tick, Phase.FAILED, f"failed checks threshold reached {status.failed_checks}: {reason}"
        )


def _advance(tick: Tick, reason: str, *, gated: bool = True) -> None:
    status, spec = tick.status, tick.spec
    step = next_step(spec, status)
    if step.routes is None:
        gate = _gate(tick, WebhookType.CONFIRM_PROMOTION) if gated else None
        if gate is not None and not gate.passed:
            if status.phase != Phase.WAITING_PROMOTION:
                tick.notify("warn", f"Waiting for approval to promote: {gate.message}")
            tick.enter(
                Phase.WAITING_PROMOTION, f"waiting for confirm-promotion approval: {gate.message}"
            )
            return
        _promote(tick, f"{step.description}: {reason}")
        return
    increase = step.routes.canary > status.canary_weight
    gate = _gate(tick, WebhookType.CONFIRM_TRAFFIC_INCREASE) if gated and increase else None
    if gate is not None and not gate.passed:
        tick.record("Pass", f"waiting for confirm-traffic-increase approval: {gate.message}")
        return
    tick.set_routes(step.routes, step.description)
    status.step = step.step
    status.iterations = step.iterations
    status.step_started_at = tick.now
    tick.enter(Phase.PROGRESSING, f"{step.description}: {reason}")
    tick.record("Pass", tick.status.message)
    tick.event("Advanced", f"{step.description[0].upper()}{step.description[1:]}")


def _promote(tick: Tick, reason: str) -> None:
    routes = promotion_routes(tick.spec, tick.routes)
    if routes != tick.routes:
        tick.set_routes(routes, "traffic while the primary takes the new revision")
    tick.actions.append(PromotePrimary(reason))
    tick.enter(Phase.PROMOTING, f"promoting: {reason}")
    tick.record("Promoting", tick.status.message)
    tick.event("Promoting", f"Copying {tick.spec.target_ref.name} template spec to the primary")
    tick.requeue = min(tick.interval, POLL_SECONDS)


def _promoting(tick: Tick) -> None:
    status, obs = tick.status, tick.obs
    if tick.take_request() is not None:
        status.message = "requests are ignored while the primary takes the new revision"
    if obs.primary.ready:
        status.not_ready_since = None
        routes = route_back_step(tick.spec, tick.routes)
        tick.set_routes(routes, "the promoted primary is ready")
        if routes.canary == 0:
            _finalise(tick)
        else:
            tick.enter(Phase.PROMOTING, f"moving traffic back to the primary: {routes.primary}%")
            tick.requeue = tick.interval
        return
    since = status.not_ready_since or tick.now
    status.not_ready_since = since
    waited = (tick.now - since).total_seconds()
    if obs.primary.deadline_exceeded or waited >= tick.spec.progress_deadline_seconds:
        _failed_promotion(tick)
        return
    tick.status.message = (
        f"waiting for the primary to roll out the new revision: {obs.primary.reason}"
    )
    tick.requeue = min(tick.interval, POLL_SECONDS)


def _failed_promotion(tick: Tick) -> None:
    """The primary cannot roll out the promoted revision: users go to whichever side is ready.

    The canary runs the same revision and passed the analysis, so when it is ready it takes all
    traffic; when neither is ready, the routes are left as they are rather than moved onto a
    Deployment known to be broken.
    """
    reason = f"promotion failed: the primary is not ready ({tick.obs.primary.reason})"
    if tick.obs.canary.ready:
        tick.set_routes(Routes(primary=0, canary=100), "the primary is broken; the canary is ready")
        reason += "; all traffic on the canary, which passed the analysis"
    else:
        reason += "; the canary is not ready either, routes left unchanged"
    tick.enter(Phase.FAILED, reason)
    tick.record("Failed", reason)
    tick.event("PromotionFailed", reason, warning=True)
    tick.notify("error", f"Promotion failed, primary not ready: {reason}")
    tick.requeue = tick.interval


def _finalise(tick: Tick) -> None:
    status = tick.status
    tick.actions.append(ScaleCanary(up=False, reason="the primary runs the new revision"))
    tick.actions.append(RunWebhooks(WebhookType.POST_ROLLOUT, "the rollout succeeded"))
    status.last_promoted_spec = status.last_applied_spec
    status.canary_weight = 0
    status.mirror_weight = 0
    tick.enter(Phase.SUCCEEDED, "promotion finished: the primary runs the new revision")
    tick.record("Succeeded", status.message)
    tick.event("Succeeded", "Promotion completed! Scaling down the canary")
    tick.notify("info", "Canary analysis completed successfully, promotion finished.")
    tick.requeue = tick.interval


def _rollback(tick: Tick, phase: Phase, reason: str) -> None:
    tick.set_routes(ALL_PRIMARY, f"rollback: {reason}")
    tick.actions.append(ScaleCanary(up=False, reason=f"rollback: {reason}"))
    tick.actions.append(RunWebhooks(WebhookType.POST_ROLLOUT, f"the rollout ended: {reason}"))
    tick.enter(phase, f"rolled back: {reason}")
    tick.record(str(phase), tick.status.message)
    tick.event("RolledBack", f"Rolling back {tick.spec.target_ref.name}: {reason}", warning=True)
    tick.notify("error", f"Rolled back: {reason}")
    tick.requeue = tick.interval


def _gate(tick: Tick, hook_type: WebhookType) -> GateResult | None:
    """The answer of a configured gate; a gate that has not answered counts as closed."""
    if not any(hook.type == hook_type for hook in tick.spec.analysis.webhooks):
        return None
    answer = tick.obs.gates.get(hook_type)
    if answer is None:
        return GateResult(passed=False, message=f"{hook_type} webhooks have not answered")
    return answer


def _is_new_revision(status: CanaryStatus, revision: str) -> bool:
    return revision not in (status.last_applied_spec, status.last_promoted_spec)


def _is_first_tick(status: CanaryStatus) -> bool:
    return status.step == 0 and status.iterations == 0


def _analysis_due(canary: Canary, now: datetime) -> bool:
    last = canary.status.last_analysis_at
    return last is None or (now - last).total_seconds() >= canary.spec.analysis.interval_seconds


def _seconds_until_due(tick: Tick) -> float:
    last = tick.status.last_analysis_at
    if last is None:
        return 0.0
    return max(0.0, tick.interval - (tick.now - last).total_seconds())


def _sequential_config(spec: CanarySpec) -> SequentialConfig | None:
    sequential = spec.analysis.sequential
    if not sequential.enabled:
        return None
    return SequentialConfig(
        false_rollback_rate=sequential.false_rollback_rate,
        false_promotion_rate=sequential.false_promotion_rate,
        min_effect=sequential.min_effect,
    )


def _metric_status(result: CheckResult) -> MetricStatus:
    evidence = json_safe(result.evidence)
    return MetricStatus(
        name=result.name,
        verdict=result.verdict.value,
        value=json_number(result.value),
        primary_value=json_number(result.primary_value),
        threshold=result.threshold,
        reason=result.reason,
        evidence=evidence if isinstance(evidence, dict) else {},
    )


__all__: Sequence[str] = ["decide", "needs"]
