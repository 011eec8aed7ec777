"""Traffic plans per strategy: where the next step goes and when the last step is reached."""

from __future__ import annotations

from dataclasses import dataclass

from canary.api.canary import CanarySpec, CanaryStatus, WebhookType
from canary.engine.types import Routes


@dataclass(frozen=True)
class NextStep:
    """Where traffic goes after a passed check, or None when the run is ready for promotion."""

    routes: Routes | None
    step: int
    iterations: int
    description: str


def next_step(spec: CanarySpec, status: CanaryStatus) -> NextStep:
    """The step after the current one, given that the current one passed its checks."""
    strategy = spec.strategy
    if strategy.blue_green is not None:
        return _next_iteration(
            status,
            strategy.blue_green.iterations,
            Routes(mirror=strategy.blue_green.mirror.percent if strategy.blue_green.mirror else 0),
        )
    if strategy.ab_testing is not None:
        return _next_iteration(status, strategy.ab_testing.iterations, Routes(ab_testing=True))
    canary = strategy.canary
    assert canary is not None
    mirror = canary.mirror
    if mirror is not None and status.step == 0 and status.iterations < mirror.iterations:
        return NextStep(
            Routes(mirror=mirror.percent),
            step=0,
            iterations=status.iterations + 1,
            description=f"mirror {mirror.percent}% of live traffic to the canary "
            f"({status.iterations + 1}/{mirror.iterations})",
        )
    ladder = canary.ladder()
    if status.step >= len(ladder):
        return NextStep(None, status.step, status.iterations, "maximum weight reached")
    weight = ladder[status.step]
    return NextStep(
        Routes(primary=100 - weight, canary=weight),
        step=status.step + 1,
        iterations=status.iterations,
        description=f"advance canary weight to {weight}",
    )


def step_gate(spec: CanarySpec, status: CanaryStatus) -> WebhookType | None:
    """The gate asked before the next step: confirm-promotion before promotion, and
    confirm-traffic-increase before a step that raises the canary's weight (Flagger's rule: a
    mirror step or a blue/green or A/B iteration raises none). The first step is no exception."""
    step = next_step(spec, status)
    if step.routes is None:
        return WebhookType.CONFIRM_PROMOTION
    if step.routes.canary > status.canary_weight:
        return WebhookType.CONFIRM_TRAFFIC_INCREASE
    return None


def _next_iteration(status: CanaryStatus, total: int, routes: Routes) -> NextStep:
    if status.iterations >= total:
        return NextStep(None, status.step, status.iterations, f"{total} iterations passed")
    return NextStep(
        routes,
        step=status.step,
        iterations=status.iterations + 1,
        description=f"iteration {status.iterations + 1}/{total}",
    )


def max_canary_weight(spec: CanarySpec) -> int:
    """The highest canary weight a run may reach before promotion."""
    if spec.strategy.canary is not None:
        return spec.strategy.canary.ladder()[-1]
    # Blue/green switches all traffic to the tested canary just before promotion.
    return 100 if spec.strategy.blue_green is not None else 0


def promotion_routes(spec: CanarySpec, current: Routes) -> Routes:
    """Routes while the primary takes the canary's spec: blue/green switches to the canary."""
    if spec.strategy.blue_green is not None:
        return Routes(primary=0, canary=100)
    if spec.strategy.ab_testing is not None:
        return Routes(ab_testing=True)
    return Routes(primary=current.primary, canary=current.canary)


def route_back_step(spec: CanarySpec, current: Routes) -> Routes:
    """One step of moving traffic back to the promoted primary (all at once by default)."""
    step = spec.strategy.canary.step_weight_promotion if spec.strategy.canary else None
    if step is None:
        return Routes()
    canary = max(0, current.canary - step)
    return Routes(primary=100 - canary, canary=canary)
