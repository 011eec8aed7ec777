"""Invalid Canaries are rejected with the field's path and the reason; `canary validate` reports them."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from canary.api.canary import Canary
from canary.api.loading import Document, InvalidObject, parse
from canary.cli import main

VALID: dict[str, Any] = {
    "apiVersion": "canary.dev/v1alpha1",
    "kind": "Canary",
    "metadata": {"name": "my-app"},
    "spec": {
        "targetRef": {"name": "my-app"},
        "service": {"port": 80},
        "analysis": {"metrics": [{"name": "request-success-rate", "thresholdRange": {"min": 99}}]},
    },
}


def with_change(path: str, value: Any) -> dict[str, Any]:
    body = copy.deepcopy(VALID)
    node = body
    keys = path.split(".")
    for key in keys[:-1]:
        node = node[int(key)] if isinstance(node, list) else node.setdefault(key, {})
    if value is _DELETE:
        del node[keys[-1]]
    else:
        node[keys[-1]] = value
    return body


_DELETE = object()


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        pytest.param(
            "spec.unknownField", 1, "spec.unknownField: unknown field", id="unknown-field"
        ),
        pytest.param(
            "spec.strategy",
            {"canary": {"stepWeight": 120}},
            "spec.strategy.canary.stepWeight: Input should be less than or equal to 100",
            id="weight-out-of-range",
        ),
        pytest.param(
            "spec.strategy",
            {"canary": {"stepWeights": [10, 30, 20]}},
            "spec.strategy.canary.stepWeights: the ladder must strictly increase",
            id="ladder-not-increasing",
        ),
        pytest.param(
            "spec.strategy",
            {"canary": {"stepWeight": 30, "maxWeight": 20}},
            "spec.strategy.canary: maxWeight (20) is below the first step (30)",
            id="max-below-first-step",
        ),
        pytest.param(
            "spec.analysis.metrics",
            [{"name": "request-errors", "thresholdRange": {"max": 1}}],
            "spec.analysis.metrics[0]: unknown built-in metric 'request-errors'",
            id="unknown-builtin-metric",
        ),
        pytest.param(
            "spec.analysis.interval",
            "1 minute",
            "spec.analysis.interval: invalid duration '1 minute'",
            id="malformed-duration",
        ),
        pytest.param(
            "spec.targetRef", _DELETE, "spec.targetRef: Field required", id="missing-target"
        ),
        pytest.param(
            "spec.strategy",
            {"canary": {}, "blueGreen": {}},
            "spec.strategy: choose one strategy, got canary, blueGreen",
            id="two-strategies",
        ),
        pytest.param(
            "spec.analysis.interval",
            "500ms",
            "spec.analysis.interval: must be at least 1s",
            id="interval-below-a-second",
        ),
        pytest.param(
            "spec.analysis.metrics",
            [{"name": "request-duration"}],
            "spec.analysis.metrics[0]: set thresholdRange, compare or judge",
            id="metric-without-check",
        ),
        pytest.param(
            "spec.analysis.failureWindow",
            2,
            "spec.analysis: failureWindow (2) is smaller than threshold (5)",
            id="window-below-threshold",
        ),
    ],
)
def test_invalid_canary_is_rejected_naming_the_field(path: str, value: Any, expected: str) -> None:
    with pytest.raises(InvalidObject) as caught:
        parse(Document("test.yaml", with_change(path, value)))
    assert any(problem.startswith(expected) for problem in caught.value.problems), (
        caught.value.problems
    )


def test_the_seed_canary_is_one_line_of_strategy_and_starts_at_80_20() -> None:
    canary = Canary.model_validate(with_change("spec.strategy", {"canary": {"stepWeight": 20}}))
    assert canary.spec.strategy.canary is not None
    assert canary.spec.strategy.canary.ladder() == [20, 40, 60, 80]


@pytest.mark.parametrize(
    ("strategy", "ladder"),
    [
        pytest.param({}, [20, 40, 60, 80], id="default"),
        pytest.param(
            {"canary": {"stepWeight": 10, "maxWeight": 50}},
            [10, 20, 30, 40, 50],
            id="flagger-example",
        ),
        pytest.param(
            {"canary": {"stepWeight": 30, "maxWeight": 80}}, [30, 60, 80], id="last-step-capped"
        ),
        pytest.param(
            {"canary": {"stepWeights": [5, 10, 25, 50]}}, [5, 10, 25, 50], id="explicit-ladder"
        ),
        pytest.param({"canary": {"stepWeight": 50, "maxWeight": 100}}, [50, 100], id="to-full"),
    ],
)
def test_ladder_of_weights(strategy: dict[str, Any], ladder: list[int]) -> None:
    canary = Canary.model_validate(with_change("spec.strategy", strategy))
    assert canary.spec.strategy.canary is not None
    assert canary.spec.strategy.canary.ladder() == ladder


def test_validate_command_exits_1_and_names_the_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    manifest = tmp_path / "bad.yaml"
    manifest.write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n---\n"
        "apiVersion: canary.dev/v1alpha1\nkind: Canary\nmetadata: {name: a}\n"
        "spec: {targetRef: {name: a}, service: {port: 80}, strategy: {canary: {stepWeight: 0}}}\n"
    )
    assert main(["validate", str(manifest)]) == 1
    captured = capsys.readouterr()
    assert "skipped ConfigMap" in captured.out
    assert (
        "spec.strategy.canary.stepWeight: Input should be greater than or equal to 1"
        in captured.err
    )


def test_validate_command_exits_0_on_valid_files(capsys: pytest.CaptureFixture[str]) -> None:
    root = Path(__file__).parents[2]
    assert main(["validate", str(root / "examples/my-app.yaml")]) == 0
    assert "Canary is valid" in capsys.readouterr().out


def test_validate_command_reports_broken_yaml_without_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    manifest = tmp_path / "broken.yaml"
    manifest.write_text("kind: [unclosed\n")
    assert main(["validate", str(manifest)]) == 1
    assert "not valid YAML" in capsys.readouterr().err
