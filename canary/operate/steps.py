"""How far a run is, read from the Canary's JSON: "step 2 of 4", "iteration 3 of 10".

This repeats `CanaryStrategy.ladder()` on plain JSON so that `kubectl canary get` need not load
pydantic; tests/operate/test_steps.py checks that both agree on every valid strategy.
"""

from __future__ import annotations

from typing import Any

DEFAULT_STEP_WEIGHT = 20
DEFAULT_MAX_WEIGHT = 80
DEFAULT_ITERATIONS = 10


def ladder(canary_strategy: dict[str, Any]) -> list[int]:
    """The canary weights of each step (see `CanaryStrategy.ladder`)."""
    if canary_strategy.get("stepWeights"):
        return [int(w) for w in canary_strategy["stepWeights"]]
    step = int(canary_strategy.get("stepWeight") or DEFAULT_STEP_WEIGHT)
    top = canary_strategy.get("maxWeight")
    top = max(int(top) if top is not None else DEFAULT_MAX_WEIGHT, step)
    return [*range(step, top, step), top]


def progress(spec: dict[str, Any], status: dict[str, Any]) -> str:
    """Where the run is: the mirror iteration, the weight step, or the iteration."""
    strategy = spec.get("strategy") or {}
    iterations = int(status.get("iterations", 0))
    for kind in ("blueGreen", "abTesting"):
        if strategy.get(kind) is not None:
            total = int(strategy[kind].get("iterations", DEFAULT_ITERATIONS))
            return f"iteration {iterations} of {total}"
    canary = strategy.get("canary") or {}
    step = int(status.get("step", 0))
    mirror = canary.get("mirror")
    if mirror is not None and step == 0 and iterations > 0:
        return f"mirror {iterations} of {int(mirror.get('iterations', 1))}"
    return f"step {step} of {len(ladder(canary))}"
