"""One reconcile of one Canary: observe, ask the engine, carry out its actions, write its status."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol, runtime_checkable

import structlog
from kubernetes.client.exceptions import ApiException
from pydantic import ValidationError

from canary import redact
from canary.analysis.results import CheckResult
from canary.api.canary import Canary, Phase, Webhook, WebhookType
from canary.api.loading import describe
from canary.controller.blocked import (
    INVALID_SPEC,
    PERMANENT_RETRY,
    READY,
    RECONCILED,
    TARGET_NOT_FOUND,
    Blocked,
    blocked_by,
)
from canary.controller.requests import manual_request
from canary.engine import engine
from canary.engine.types import (
    Action,
    Decision,
    GateResult,
    Initialize,
    Needs,
    Notify,
    Observations,
    PromotePrimary,
    Readiness,
    RecordEvent,
    Revert,
    RunWebhooks,
    ScaleCanary,
    SetRoutes,
    TrafficSample,
)
from canary.kube import autoscalers, workloads
from canary.kube.client import Kube
from canary.kube.names import FINALIZER, Names, name_problems
from canary.kube.readiness import deployment_readiness
from canary.kube.revision import ConfigRefs, revision
from canary.kube.status import (
    Involved,
    read_canary,
    record_event,
    set_condition,
    set_finalizer,
    write_status,
)
from canary.protocols import Analyzer, Notifier, TrafficRouter, WebhookRunner
from canary.webhooks import payload_context

JSON = dict[str, Any]
log = structlog.get_logger("canary.controller")


def _first(images: list[str]) -> str:
    return images[0] if images else ""


def _images(deployment: JSON | None) -> list[str]:
    pod = ((deployment or {}).get("spec") or {}).get("template", {}).get("spec") or {}
    return [str(c.get("image", "")) for c in pod.get("containers") or []]


@runtime_checkable
class Revertible(Protocol):
    """A router that can restore a taken-over routing object (IstioRouter can)."""

    def revert(self, canary: Canary) -> None: ...


class DecisionObserver(Protocol):
    """Told about every decision (the Prometheus metrics implement it)."""

    def observe(self, canary: Canary, decision: Decision, now: datetime) -> None: ...

    def forget(self, namespace: str, name: str) -> None: ...


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class World:
    """What was read from the cluster in this reconcile (before the engine decides)."""

    canary: Canary
    obj: JSON
    target: JSON | None
    renamed: ConfigRefs = field(default_factory=ConfigRefs)
    configs: dict[str, JSON] = field(default_factory=dict)
    tracked: dict[str, str] = field(default_factory=dict)
    revision: str = ""
    primary: Readiness = field(default_factory=lambda: Readiness(ready=False))
    autoscaler: JSON | None = None
    """The target's HPA, once `autoscaler_read` (HPAs are not watched: one GET per reconcile)."""
    autoscaler_read: bool = False

    @property
    def deleting(self) -> bool:
        return bool(self.obj["metadata"].get("deletionTimestamp"))


@dataclass
class Reconciler:
    """Carries out the engine's decisions for one Canary per call; holds no rollout state itself."""

    kube: Kube
    router: TrafficRouter
    analyzer: Analyzer | None = None
    webhooks: WebhookRunner | None = None
    notifier: Notifier | None = None
    event_webhooks: WebhookRunner | None = None
    """Runs the Canary's `event` hooks (canary.webhook_events.QueuedWebhooks in the controller,
    so a slow receiver never slows a rollout); None: `webhooks`, in the reconcile."""
    clock: Callable[[], datetime] = utc_now
    observer: DecisionObserver | None = None
    may_write: Callable[[], bool] = lambda: True
    """False when this replica is not the leader: the reconcile then changes nothing."""
    _not_found: dict[tuple[str, str], int] = field(default_factory=dict)
    """Reconciles in a row that met a 404, by Canary (a 404 that persists is permanent)."""

    def reconcile(self, namespace: str, name: str) -> float | None:
        """Reconcile once; the seconds until the next reconcile, or None to wait for a change."""
        if not self.may_write():
            return None
        obj = read_canary(self.kube, namespace, name)
        if obj is None:
            if self.observer is not None:
                self.observer.forget(namespace, name)
            return None
        try:
            canary = Canary.model_validate(obj)
        except ValidationError as error:
            self._invalid(obj, error)
            return None
        key = (namespace, name)
        try:
            requeue = self._reconcile(canary, obj)
        except Exception as error:
            not_found = isinstance(error, ApiException) and error.status == 404
            streak = self._not_found.get(key, 0) + 1 if not_found else 0
            self._not_found[key] = streak
            blocked = blocked_by(error, streak)
            if blocked is None:
                raise
            return self._block(canary, blocked)
        self._not_found.pop(key, None)
        return requeue

    def _reconcile(self, canary: Canary, obj: JSON) -> float | None:
        now = self.clock()
        world = self._observe_world(canary, obj)
        if world.deleting:
            if FINALIZER not in (obj["metadata"].get("finalizers") or []):
                return None  # nothing to undo: the ownerReferences clean up
        else:
            if world.target is None:
                target = canary.spec.target_ref.name
                message = f"deployment {target} not found"
                self._block(canary, Blocked(TARGET_NOT_FOUND, message))
                return canary.spec.analysis.interval_seconds
            problems = name_problems(
                canary, world.target, world.renamed.config_maps, world.renamed.secrets
            )
            if problems:
                # Checked before the first write: the API server would refuse these names (422).
                return self._block(canary, Blocked(INVALID_SPEC, "; ".join(problems)))
            set_finalizer(self.kube, obj, FINALIZER, canary.spec.revert_on_deletion)
            if not canary.spec.suspend:
                self._keep_objects_in_sync(canary, world)
        ready = deployment_readiness(world.target, canary.spec.ready_thresholds.canary).ready
        request = manual_request(canary.metadata.annotations)
        needs = engine.needs(canary, world.revision, now, canary_ready=ready, request=request)
        decision = engine.decide(canary, self._observations(canary, world, needs, now))
        for action in decision.actions:
            self._carry_out(action, canary, world, now)
        decision.status.observed_generation = obj["metadata"].get("generation")
        set_condition(
            decision.status, READY, "True", RECONCILED, "every write was carried out", now
        )
        write_status(self.kube, canary.metadata.namespace, canary.metadata.name, decision.status)
        self._notify(canary, decision, world)
        self._call_event_hooks(
            canary.model_copy(update={"status": decision.status}),
            [a for a in decision.actions if isinstance(a, RecordEvent)],
        )
        if world.deleting:
            self._release(canary)
        self._log(canary, decision)
        if self.observer is not None:
            self.observer.observe(canary, decision, now)
        return decision.requeue_after

    # Observing

    def _observe_world(self, canary: Canary, obj: JSON) -> World:
        names = Names.of(canary)
        target = workloads.read_deployment(self.kube, names.namespace, names.target)
        world = World(canary=canary, obj=obj, target=target)
        if target is not None:
            world.renamed, world.configs = workloads.tracked_configs(self.kube, target)
            world.tracked = workloads.checksums(world.configs)
            world.revision = revision(target["spec"]["template"], world.tracked)
        primary = workloads.read_deployment(self.kube, names.namespace, names.primary)
        world.primary = deployment_readiness(primary, canary.spec.ready_thresholds.primary)
        return world

    def _observations(
        self, canary: Canary, world: World, needs: Needs, now: datetime
    ) -> Observations:
        analysis: Sequence[CheckResult] | None = None
        guard: Sequence[CheckResult] | None = None
        traffic: TrafficSample | None = None
        if self.analyzer is not None:
            try:
                if needs.analysis:
                    outcome = self.analyzer.analyze(canary, now, traffic_since=needs.traffic_since)
                    analysis, traffic = outcome.results, outcome.traffic
                else:
                    # A guard tick: the sequential test's window and the guard metrics only.
                    if needs.traffic_since is not None:
                        traffic = self.analyzer.traffic(canary, now, since=needs.traffic_since)
                    if needs.guard_metrics:
                        guard = self.analyzer.check_metrics(canary, now, needs.guard_metrics)
            except Exception as error:
                # Errors of the metric provider are data for the engine (it holds), not a crash.
                log.warning(
                    "analysis failed",
                    canary=canary.metadata.name,
                    namespace=canary.metadata.namespace,
                    error=str(error),
                )
        return Observations(
            now=now,
            revision=world.revision,
            primary=world.primary,
            canary=deployment_readiness(world.target, canary.spec.ready_thresholds.canary),
            routes=self.router.get_routes(canary),
            analysis=analysis,
            guard=guard,
            traffic=traffic,
            gates=self._gates(canary, world, needs.gates),
            request=manual_request(canary.metadata.annotations),
            deleting=world.deleting,
            tracked_configs=world.tracked,
        )

    def _gates(
        self, canary: Canary, world: World, types: frozenset[WebhookType]
    ) -> Mapping[WebhookType, GateResult]:
        answers: dict[WebhookType, GateResult] = {}
        for hook_type in sorted(types):
            answer = self._run_hooks(canary, world, hook_type)
            if answer is not None:
                answers[hook_type] = answer
        return answers

    def _run_hooks(self, canary: Canary, world: World, hook_type: WebhookType) -> GateResult | None:
        hooks: list[Webhook] = [h for h in canary.spec.analysis.webhooks if h.type == hook_type]
        if not hooks or self.webhooks is None:
            return None
        primary = workloads.read_deployment(
            self.kube, canary.metadata.namespace, Names.of(canary).primary
        )
        context = payload_context(
            canary_images=_images(world.target), primary_images=_images(primary)
        )
        try:
            return self.webhooks.run(canary, hooks, context)
        except Exception as error:
            return GateResult(passed=False, message=f"webhooks failed: {error}")

    # Acting

    def _keep_objects_in_sync(self, canary: Canary, world: World) -> None:
        """Services and routing follow spec.service at every reconcile, once the primary exists.

        The apex Service and the routing switch to the primary only when it is ready, so that
        taking over a live Service or VirtualService never routes users to pods that are not up.
        """
        if canary.status.phase in (None, Phase.INITIALIZING) and not world.primary.ready:
            return
        assert world.target is not None
        workloads.ensure_services(self.kube, canary, world.target)
        self.router.reconcile(canary)

    def _carry_out(self, action: Action, canary: Canary, world: World, now: datetime) -> None:
        match action:
            case Initialize():
                self._initialize(canary, world, now)
            case SetRoutes(routes=routes):
                self.router.set_routes(canary, routes)
            case ScaleCanary(up=up):
                autoscaler = self._autoscaler(canary, world, now) if up else None
                workloads.scale_target(self.kube, canary, up, autoscaler)
            case PromotePrimary():
                self._promote(canary, world, now)
            case RunWebhooks(type=hook_type):
                answer = self._run_hooks(canary, world, hook_type)
                if answer is not None and not answer.passed:
                    log.warning(
                        "webhooks failed",
                        canary=canary.metadata.name,
                        namespace=canary.metadata.namespace,
                        type=str(hook_type),
                        message=answer.message,
                    )
            case Notify():
                pass  # sent once the status is written (_notify), so a conflict sends nothing
            case RecordEvent(type=type_, reason=reason, message=message):
                self._event(canary, type_, reason, message, now)
            case Revert():
                self._revert(canary)

    def _initialize(self, canary: Canary, world: World, now: datetime) -> None:
        if world.target is None:
            return
        autoscaler, primary_hpa = self._check_owned(canary, world, now)
        workloads.copy_configs(self.kube, canary, world.configs)
        workloads.ensure_primary(self.kube, canary, world.target, world.renamed, world.revision)
        # Until the first promotion the primary simply follows the target, so a target changed
        # while initialising is what becomes the promoted revision.
        self._primary_follows_target(
            canary, world, autoscaler, primary_hpa, autoscalers.ensure_primary_autoscaler
        )
        self._keep_objects_in_sync(canary, world)

    def _promote(self, canary: Canary, world: World, now: datetime) -> None:
        autoscaler, primary_hpa = self._check_owned(canary, world, now)
        workloads.copy_configs(self.kube, canary, world.configs)
        self._primary_follows_target(
            canary, world, autoscaler, primary_hpa, autoscalers.promote_autoscaler
        )

    def _check_owned(
        self, canary: Canary, world: World, now: datetime
    ) -> tuple[JSON | None, JSON | None]:
        """ForeignObject, before the first write, when a `-primary` object belongs to someone
        else; (the target's HPA, the primary's as read now), both None without an HPA."""
        workloads.check_owned(self.kube, canary, world.configs)
        autoscaler = self._autoscaler(canary, world, now)
        if autoscaler is None:
            return None, None
        return autoscaler, autoscalers.read_primary_autoscaler(self.kube, canary, autoscaler)

    def _primary_follows_target(
        self,
        canary: Canary,
        world: World,
        autoscaler: JSON | None,
        primary_hpa: JSON | None,
        sync_autoscaler: Callable[[Kube, Canary, JSON, JSON | None], None],
    ) -> None:
        """The primary takes the target's spec (replicas only without an HPA, which owns them)."""
        assert world.target is not None
        workloads.promote(
            self.kube,
            canary,
            world.target,
            world.renamed,
            world.revision,
            autoscaled=autoscaler is not None,
        )
        if autoscaler is not None:
            sync_autoscaler(self.kube, canary, autoscaler, primary_hpa)

    def _autoscaler(self, canary: Canary, world: World, now: datetime) -> JSON | None:
        """The target's HPA, read at most once per reconcile and only when the Canary names one
        (no request without `autoscalerRef`); a missing one is reported once and the rollout
        goes on without it."""
        if world.autoscaler_read:
            return world.autoscaler
        ref = canary.spec.autoscaler_ref
        world.autoscaler = autoscalers.target_autoscaler(self.kube, canary)
        world.autoscaler_read = True
        if ref is not None and world.autoscaler is None:
            message = f"horizontalpodautoscaler {ref.name} not found: rolling out without it"
            self._event(canary, "Warning", "AutoscalerNotFound", message, now)
        return world.autoscaler

    def _revert(self, canary: Canary) -> None:
        workloads.restore_target(self.kube, canary)
        workloads.restore_services(self.kube, canary)
        if isinstance(self.router, Revertible):
            self.router.revert(canary)

    def _release(self, canary: Canary) -> None:
        """Drop the finalizer once the deletion has been carried out; the object then goes away."""
        obj = read_canary(self.kube, canary.metadata.namespace, canary.metadata.name)
        if obj is not None:
            set_finalizer(self.kube, obj, FINALIZER, False)

    def _notify(self, canary: Canary, decision: Decision, world: World) -> None:
        events = [action for action in decision.actions if isinstance(action, Notify)]
        if not events:
            return
        if self.notifier is None:
            # No notifier is wired (tests, tools): the notification still reaches the logs.
            for event in events:
                log.info(
                    "notification",
                    canary=canary.metadata.name,
                    namespace=canary.metadata.namespace,
                    severity=event.severity,
                    message=event.message,
                )
            return
        decided = canary.model_copy(update={"status": decision.status})
        try:
            primary = workloads.read_deployment(
                self.kube, canary.metadata.namespace, Names.of(canary).primary
            )
        except Exception:
            primary = None  # the images are a detail of the message, not a reason to lose it
        images = (_first(_images(primary)), _first(_images(world.target)))
        for event in events:
            try:
                self.notifier.notify(decided, event, images)
            except Exception as error:
                log.warning(
                    "notification failed",
                    canary=canary.metadata.name,
                    namespace=canary.metadata.namespace,
                    error=type(error).__name__,
                )

    def _call_event_hooks(self, canary: Canary, events: list[RecordEvent]) -> None:
        """The Canary's `event` webhooks, once per Kubernetes Event recorded (Flagger's rule:
        metadata carries eventMessage and eventType); called after the status write, so a
        conflict, which discards the decision, calls nothing."""
        hooks = [h for h in canary.spec.analysis.webhooks if h.type == WebhookType.EVENT]
        runner = self.event_webhooks or self.webhooks
        if not hooks or runner is None:
            return
        for event in events:
            context = payload_context(event_message=event.message, event_type=event.type)
            try:
                answer = runner.run(canary, hooks, context)
            except Exception as error:
                answer = GateResult(passed=False, message=f"webhooks failed: {error}")
            if not answer.passed:
                log.warning("event webhook failed", canary=canary.metadata.name,
                            reason=event.reason, message=answer.message)  # fmt: skip

    def _event(self, canary: Canary, type_: str, reason: str, message: str, now: datetime) -> None:
        try:
            record_event(self.kube, Involved.of(canary), type_, reason, message, now)
        except Exception as error:
            # An Event is a report; failing to write one must not stop the rollout.
            log.warning(
                "event not recorded", canary=canary.metadata.name, reason=reason, error=str(error)
            )

    def _block(self, canary: Canary, blocked: Blocked) -> float:
        """Report a permanent error: Ready=False with its reason in status, and one Warning
        Event when the reason or message is new (not one per retry); then look again slowly."""
        now = self.clock()
        status = canary.status.model_copy(deep=True)
        changed = set_condition(status, READY, "False", blocked.reason, blocked.message, now)
        log.warning(
            "canary blocked",
            canary=canary.metadata.name,
            namespace=canary.metadata.namespace,
            reason=blocked.reason,
            error=blocked.message,
        )
        if changed:
            self._event(canary, "Warning", blocked.reason, blocked.message, now)
            try:
                write_status(self.kube, canary.metadata.namespace, canary.metadata.name, status)
            except Exception as error:
                log.warning("status not written", canary=canary.metadata.name, error=str(error))
            self._call_event_hooks(
                canary.model_copy(update={"status": status}),
                [RecordEvent("Warning", blocked.reason, blocked.message)],
            )
        return max(PERMANENT_RETRY, canary.spec.analysis.interval_seconds)

    def _invalid(self, obj: JSON, error: ValidationError) -> None:
        """An invalid Canary is reported (log and Warning event) and left alone until it changes."""
        meta = obj.get("metadata", {})
        problems = "; ".join(describe(error))
        log.error(
            "invalid canary",
            canary=meta.get("name"),
            namespace=meta.get("namespace"),
            error=problems,
        )
        about = Involved(meta.get("name", ""), meta.get("namespace", ""), meta.get("uid", ""))
        try:
            record_event(self.kube, about, "Warning", "InvalidSpec", problems, self.clock())
        except Exception as failure:
            log.warning(
                "event not recorded", canary=about.name, reason="InvalidSpec", error=str(failure)
            )

    # Reporting

    def _log(self, canary: Canary, decision: Decision) -> None:
        status = decision.status
        # One info line per decision that changes something; a quiet requeue is debug, or a
        # Canary at rest would log at every interval.
        changed = bool(decision.actions) or (canary.status.phase, canary.status.message) != (
            status.phase,
            redact.text(status.message),  # as written to (and read back from) the status
        )
        (log.info if changed else log.debug)(
            "decision",
            canary=canary.metadata.name,
            namespace=canary.metadata.namespace,
            phase=str(status.phase) if status.phase else None,
            primary_weight=100 - status.canary_weight,
            canary_weight=status.canary_weight,
            mirror_weight=status.mirror_weight,
            reason=status.message,
            actions=[type(a).__name__ for a in decision.actions],
            requeue_after=decision.requeue_after,
        )
