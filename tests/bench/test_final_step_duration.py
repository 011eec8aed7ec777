"""The engine's `sequential.maxFinalStepDuration`, added for the decisions benchmark's policy (c)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from canary.api.canary import Phase
from canary.engine.engine import decide
from canary.engine.types import TrafficSample
from tests.engine.conftest import NOW, make_canary, observe, running

# No failures on either side: the sequential test stays inconclusive (LLR 0).
QUIET = TrafficSample(
    canary_requests=500, canary_failures=0, primary_requests=500, primary_failures=0
)


def _sequential(**settings: Any) -> dict[str, Any]:
    return {
        "interval": "10s",
        "sequential": {"minStepDuration": "30s", "maxStepDuration": "30s", **settings},
    }


def _at(step: int, age_seconds: int, **settings: Any) -> tuple[Phase | None, int]:
    """Phase and step after a passed check, `age_seconds` into step `step` of the 20..80 ladder."""
    started = (NOW - timedelta(seconds=age_seconds)).isoformat()
    status = running(step, stepStartedAt=started, sequential={})
    canary = make_canary(status, analysis=_sequential(**settings))
    decision = decide(canary, observe(canary, traffic=QUIET))
    return decision.status.phase, decision.status.step


@pytest.mark.parametrize("age", [30, 45])
def test_without_it_the_last_step_promotes_at_the_step_maximum(age: int) -> None:
    assert _at(4, age) == (Phase.PROMOTING, 4)


def test_with_it_the_last_step_waits_for_a_conclusive_test() -> None:
    assert _at(4, 45, maxFinalStepDuration="10m") == (Phase.PROGRESSING, 4)


def test_with_it_the_last_step_promotes_at_its_own_maximum() -> None:
    assert _at(4, 600, maxFinalStepDuration="10m") == (Phase.PROMOTING, 4)


def test_earlier_steps_still_advance_at_the_step_maximum() -> None:
    assert _at(2, 30, maxFinalStepDuration="10m") == (Phase.PROGRESSING, 3)
    assert _at(2, 20, maxFinalStepDuration="10m") == (Phase.PROGRESSING, 2)
