"""The CLI's step count (plain JSON) agrees with the API model's ladder on every valid strategy."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from canary.api.canary import CanaryStrategy
from canary.operate.steps import ladder, progress

weights = st.integers(min_value=1, max_value=100)
strategies = st.fixed_dictionaries(
    {},
    optional={
        "stepWeight": weights,
        "maxWeight": weights,
        "stepWeights": st.lists(weights, min_size=1, max_size=8, unique=True).map(sorted),
    },
)


@given(strategies)
def test_the_ladder_is_the_models(strategy: dict[str, Any]) -> None:
    try:
        model = CanaryStrategy.model_validate(strategy)
    except ValidationError:
        return
    assert ladder(strategy) == model.ladder()


def test_progress_names_the_step_the_mirror_or_the_iteration() -> None:
    assert progress({}, {"step": 2}) == "step 2 of 4"
    mirror = {"strategy": {"canary": {"mirror": {"iterations": 3}, "stepWeights": [10, 50]}}}
    assert progress(mirror, {"step": 0, "iterations": 2}) == "mirror 2 of 3"
    assert progress(mirror, {"step": 1, "iterations": 3}) == "step 1 of 2"
    blue_green = {"strategy": {"blueGreen": {"iterations": 5}}}
    assert progress(blue_green, {"iterations": 3}) == "iteration 3 of 5"
