"""How a run ends: promotion (and a promotion that fails), finalisation and rollback."""

from __future__ import annotations

from canary.api.canary import Phase, WebhookType
from canary.engine.strategies import promotion_routes, route_back_step
from canary.engine.tick import POLL_SECONDS, Tick
from canary.engine.types import ALL_PRIMARY, PromotePrimary, Routes, RunWebhooks, ScaleCanary


def promote(tick: Tick, reason: str) -> None:
    routes = promotion_routes(tick.spec, tick.routes)
    if routes != tick.routes:
        tick.set_routes(routes, "traffic while the primary takes the new revision")
    tick.actions.append(PromotePrimary(reason))
    tick.enter(Phase.PROMOTING, f"promoting: {reason}")
    tick.record("Promoting", tick.status.message)
    tick.event("Promoting", f"Copying {tick.spec.target_ref.name} template spec to the primary")
    tick.notify("info", f"Promotion started: {reason}.", "promoting")
    tick.requeue = min(tick.interval, POLL_SECONDS)


def promoting(tick: Tick) -> None:
    status, obs = tick.status, tick.obs
    tick.take_request()  # refused, with the reason, while the primary takes the new revision
    if obs.primary.ready:
        status.not_ready_since = None
        routes = route_back_step(tick.spec, tick.routes)
        tick.set_routes(routes, "the promoted primary is ready")
        if routes.canary == 0:
            finalise(tick)
        else:
            tick.enter(Phase.PROMOTING, f"moving traffic back to the primary: {routes.primary}%")
            tick.requeue = tick.interval
        return
    since = status.not_ready_since or tick.now
    status.not_ready_since = since
    waited = (tick.now - since).total_seconds()
    if obs.primary.deadline_exceeded or waited >= tick.spec.progress_deadline_seconds:
        failed_promotion(tick)
        return
    tick.status.message = (
        f"waiting for the primary to roll out the new revision: {obs.primary.reason}"
    )
    tick.requeue = min(tick.interval, POLL_SECONDS)


def failed_promotion(tick: Tick) -> None:
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
    tick.notify("error", f"Promotion failed, primary not ready: {reason}", "failed")
    tick.requeue = tick.interval


def finalise(tick: Tick) -> None:
    status = tick.status
    tick.actions.append(ScaleCanary(up=False, reason="the primary runs the new revision"))
    tick.actions.append(RunWebhooks(WebhookType.POST_ROLLOUT, "the rollout succeeded"))
    status.last_promoted_spec = status.last_applied_spec
    status.canary_weight = 0
    status.mirror_weight = 0
    tick.enter(Phase.SUCCEEDED, "promotion finished: the primary runs the new revision")
    tick.record("Succeeded", status.message)
    tick.event("Succeeded", "Promotion completed! Scaling down the canary")
    tick.notify("info", "Canary analysis completed successfully, promotion finished.", "succeeded")
    tick.requeue = tick.interval


def rollback(tick: Tick, phase: Phase, reason: str, transition: str = "", note: str = "") -> None:
    """Everything back on the primary; `note` is added to the notification only."""
    tick.set_routes(ALL_PRIMARY, f"rollback: {reason}")
    tick.actions.append(ScaleCanary(up=False, reason=f"rollback: {reason}"))
    tick.actions.append(RunWebhooks(WebhookType.POST_ROLLOUT, f"the rollout ended: {reason}"))
    tick.enter(phase, f"rolled back: {reason}")
    tick.record(str(phase), tick.status.message)
    tick.event("RolledBack", f"Rolling back {tick.spec.target_ref.name}: {reason}", warning=True)
    kind = transition or ("aborted" if phase == Phase.ABORTED else "rolledback")
    tick.notify("error", f"Rolled back: {reason}" + (f" ({note})" if note else ""), kind)
    tick.requeue = tick.interval
