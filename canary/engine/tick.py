"""The decision being built in one call of the engine, and the small rules every phase uses."""

from __future__ import annotations

from datetime import datetime

from canary.analysis.sequential import SequentialConfig
from canary.api.canary import (
    Canary,
    CanarySpec,
    CanaryStatus,
    LastRequest,
    Phase,
    RequestOutcome,
    WebhookType,
)
from canary.engine.requests import Situation, acceptance, raw_kind, refusal
from canary.engine.status import close_tick
from canary.engine.types import (
    Action,
    Decision,
    GateResult,
    ManualRequest,
    Notify,
    Observations,
    RecordEvent,
    RequestKind,
    Routes,
    SetRoutes,
)

POLL_SECONDS = 5.0
"""How often to look again while waiting for a Deployment or a gate (capped by the interval)."""


class Tick:
    """The decision being built: a copy of the status, the actions, and when to look again."""

    def __init__(self, canary: Canary, obs: Observations) -> None:
        self.canary = canary
        self.spec: CanarySpec = canary.spec
        self.obs = obs
        self.previous = canary.status
        # Shallow: the engine replaces lists and nested models instead of changing them in place,
        # and a deep copy of the history at every call was most of the simulator's time.
        self.status: CanaryStatus = canary.status.model_copy()
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
        """The operator's request, once, when it can be carried out now.

        A request already seen is ignored; a new one is answered either way in
        `status.lastRequest` and with an Event, and a refused one is not returned.
        """
        request = pending_request(self.status, self.obs.request)
        if request is None:
            return None
        self.status.handled_request = request.id
        situation = Situation(
            self.status.phase,
            suspended=self.spec.suspend,
            deleting=self.obs.deleting,
        )
        refused = refusal(request, situation)
        kind = raw_kind(request)
        self.status.last_request = LastRequest(
            id=request.id,
            kind=kind,
            outcome=RequestOutcome.REFUSED if refused else RequestOutcome.ACCEPTED,
            reason=refused or acceptance(request),
            time=self.now,
        )
        if refused:
            self.event("RequestRefused", f"{kind} ({request.id}) refused: {refused}", warning=True)
            return None
        self.event("RequestAccepted", f"{kind} ({request.id}) accepted: {acceptance(request)}")
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

    def notify(self, severity: str, message: str, transition: str = "") -> None:
        """One message per transition: callers emit only when the phase or step changes."""
        assert severity in ("info", "warn", "error")
        self.actions.append(Notify(severity, message, transition=transition))  # type: ignore[arg-type]

    def record(self, verdict: str, reason: str) -> None:
        """Remember this tick's verdict for the history entry written at the end."""
        self.verdict = verdict
        self.status.message = reason

    def decision(self) -> Decision:
        close_tick(self.previous, self.status, self.now, self.verdict)
        return Decision(status=self.status, actions=self.actions, requeue_after=self.requeue)


def gate_answer(tick: Tick, hook_type: WebhookType) -> GateResult | None:
    """The answer of a configured gate; a gate that has not answered counts as closed."""
    if not any(hook.type == hook_type for hook in tick.spec.analysis.webhooks):
        return None
    answer = tick.obs.gates.get(hook_type)
    if answer is None:
        return GateResult(passed=False, message=f"{hook_type} webhooks have not answered")
    return answer


def pending_request(status: CanaryStatus, request: ManualRequest | None) -> ManualRequest | None:
    """The request when it has not been acted on yet."""
    return None if request is None or request.id == status.handled_request else request


def request_ends_tick(status: CanaryStatus, request: ManualRequest | None) -> bool:
    """Whether a run's tick acts on this request instead of judging its checks and gates."""
    request = pending_request(status, request)
    if request is None:
        return False
    if request.kind in (RequestKind.PAUSE, RequestKind.PROMOTE, RequestKind.PROMOTE_FULL):
        return True
    return request.kind == RequestKind.RESUME and status.phase == Phase.PAUSED


def is_new_revision(status: CanaryStatus, revision: str) -> bool:
    return revision not in (status.last_applied_spec, status.last_promoted_spec)


def is_first_tick(status: CanaryStatus) -> bool:
    return status.step == 0 and status.iterations == 0


def analysis_due(canary: Canary, now: datetime) -> bool:
    last = canary.status.last_analysis_at
    return last is None or (now - last).total_seconds() >= canary.spec.analysis.interval_seconds


def seconds_until_due(tick: Tick) -> float:
    last = tick.status.last_analysis_at
    if last is None:
        return 0.0
    return max(0.0, tick.interval - (tick.now - last).total_seconds())


def sequential_config(spec: CanarySpec) -> SequentialConfig | None:
    sequential = spec.analysis.sequential
    if not sequential.enabled:
        return None
    return SequentialConfig(
        false_rollback_rate=sequential.false_rollback_rate,
        false_promotion_rate=sequential.false_promotion_rate,
        min_effect=sequential.min_effect,
    )


def guard_seconds(spec: CanarySpec) -> float:
    """The guard's cadence in seconds: analysis.guardInterval, else
    analysis.sequential.guardInterval (whether or not the test is enabled)."""
    return spec.analysis.guard_seconds


def traffic_start(spec: CanarySpec, status: CanaryStatus) -> datetime | None:
    """Where the sequential test's reads start: when the run's first step sent traffic to the
    canary (status.sequential.readingSince); None before then.

    Every read covers the whole run so far and the test takes what is new in it (see
    `judging.new_traffic`): Prometheus' increase() over a window holding two scrapes extrapolates
    one scrape interval's failures to the whole window, counting each failure about twice and
    missing the rest, which made the test's error rates several times what it promises (measured
    by bench/decisions through the simulated Prometheus). Over the run so far the extrapolation
    is a few percent, and nothing is counted twice.
    """
    state = status.sequential
    if sequential_config(spec) is None or state is None:
        return None
    return state.reading_since or state.read_until


def last_read(spec: CanarySpec, status: CanaryStatus) -> datetime | None:
    """The end of the sequential test's last read; None before the canary has traffic."""
    state = status.sequential
    if sequential_config(spec) is None or state is None:
        return None
    return state.read_until


def last_guard(spec: CanarySpec, status: CanaryStatus) -> datetime | None:
    """The guard's clock: when it last looked; None while there is nothing to guard.

    With metrics marked `guard`, status.lastGuardAt (set when the first step sends traffic to
    the canary, then at every guard and analysis tick that checked them); the sequential test,
    if on, is read at the same ticks. Without them, the end of the sequential test's last read.
    One clock, so that the two never ask for two ticks a second apart.
    """
    if spec.analysis.guard_metrics:
        return status.last_guard_at
    return last_read(spec, status)


def guard_due(canary: Canary, now: datetime) -> bool:
    """Whether a guard interval has passed since the guard last looked (`last_guard`)."""
    since = last_guard(canary.spec, canary.status)
    return since is not None and (now - since).total_seconds() >= guard_seconds(canary.spec)


def seconds_until_guard(tick: Tick) -> float | None:
    """Seconds until the next guard tick; a guard interval when the last look is overdue (its
    read failed, or the canary was not ready): looking again sooner would only hammer the
    metrics server."""
    since = last_guard(tick.spec, tick.status)
    if since is None:
        return None
    guard = guard_seconds(tick.spec)
    left = guard - (tick.now - since).total_seconds()
    return left if left > 0 else guard
