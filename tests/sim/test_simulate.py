"""Scenario tests of whole rollouts on the simulator: given a canary and a world, then an outcome."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from canary.api.canary import Phase, Webhook, WebhookType
from canary.api.loading import load_canary
from canary.cli import main
from canary.sim.scenario import Scenario, load_scenario
from canary.sim.simulator import simulate

ROOT = Path(__file__).parents[2]
SEED = ROOT / "examples/my-app.yaml"
SCENARIOS = ROOT / "examples/scenarios"


def run(scenario: str, canary: Path = SEED, seed: int = 1) -> dict[str, object]:
    outcome = simulate(
        load_canary(canary), load_scenario(SCENARIOS / f"{scenario}.yaml"), seed=seed
    )
    from canary.sim.report import to_json

    return to_json(outcome)


def test_healthy_canary_is_promoted_through_every_step() -> None:
    result = run("healthy")
    assert result["phase"] == "Succeeded"
    weights = [entry["canaryWeight"] for entry in result["history"]]  # type: ignore[index, union-attr]
    steps = [w for i, w in enumerate(weights) if w and (i == 0 or weights[i - 1] != w)]
    assert steps == [10, 25, 50]
    assert result["history"][-1]["canaryWeight"] == 0  # type: ignore[index]


def test_error_regression_is_rolled_back_with_all_traffic_on_the_primary_and_no_mirror() -> None:
    result = run("error-regression")
    last = result["history"][-1]  # type: ignore[index]
    assert result["phase"] == "Failed"
    assert (last["primaryWeight"], last["canaryWeight"], last["mirrorWeight"]) == (100, 0, 0)
    # The sequential test's guard sees the 50x regression before the success rate's threshold.
    assert "sequential-failures" in last["reason"]


@pytest.mark.parametrize(
    ("scenario", "phase", "reason"),
    [
        pytest.param("latency-regression", "Failed", "request-duration", id="latency"),
        # The sequential test's guard catches the 40x bursts before five failed checks add up.
        pytest.param("flapping-errors", "Failed", "sequential-failures", id="flapping"),
        pytest.param("never-ready", "Failed", "progress deadline exceeded", id="never-ready"),
    ],
)
def test_bad_canaries_are_rolled_back_with_the_reason(
    scenario: str, phase: str, reason: str
) -> None:
    result = run(scenario)
    assert result["phase"] == phase
    assert reason in result["history"][-1]["reason"]  # type: ignore[index]


def test_json_output_has_the_documented_fields(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        [
            "simulate",
            str(SEED),
            "--scenario",
            str(SCENARIOS / "healthy.yaml"),
            "--json",
            "--seed",
            "3",
        ]
    )
    assert code == 0
    result = json.loads(capsys.readouterr().out)
    assert {
        "phase",
        "decisionSeconds",
        "canaryRequests",
        "canaryFailedRequests",
        "history",
    } <= result.keys()
    assert result["decisionSeconds"] > 0
    assert 0 < result["canaryFailedRequests"] < result["canaryRequests"]


def test_same_seed_gives_the_same_rollout_and_another_seed_other_traffic() -> None:
    assert run("healthy", seed=7) == run("healthy", seed=7)
    assert run("healthy", seed=7)["canaryRequests"] != run("healthy", seed=8)["canaryRequests"]


def test_mirror_phase_sends_copies_before_users_move(tmp_path: Path) -> None:
    result = run("healthy", canary=ROOT / "examples/mirror-then-shift.yaml")
    mirrored = [e for e in result["history"] if e["mirrorWeight"]]  # type: ignore[union-attr]
    assert mirrored
    assert all(e["canaryWeight"] == 0 for e in mirrored)
    assert result["phase"] == "Succeeded"


def test_manual_abort_and_gates_are_simulated() -> None:
    scenario = Scenario.model_validate({"requests": [{"at": "2m", "kind": "abort"}]})
    outcome = simulate(load_canary(SEED), scenario)
    assert outcome.phase == Phase.ABORTED


def test_invalid_scenario_is_reported_with_the_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("canary: {errorRate: 2}\n")
    assert main(["simulate", str(SEED), "--scenario", str(bad)]) == 2
    assert "canary.errorRate" in capsys.readouterr().err


@pytest.mark.parametrize(
    "types",
    [
        pytest.param(["confirm-traffic-increase"], id="traffic-increase"),
        pytest.param(["pre-rollout", "confirm-traffic-increase", "confirm-promotion"], id="all"),
    ],
)
def test_approving_gates_take_no_longer_than_no_gates(types: list[str]) -> None:
    """Given the seed Canary (first step 10%), with gates that approve from the start, then the
    rollout serves 10% as soon as the canary is ready and ends Succeeded when it would without
    them (issue 9: the first step's gate was never asked)."""
    plain = load_canary(SEED)
    analysis = plain.spec.analysis.model_copy(
        update={
            "webhooks": [
                Webhook(name=f"gate-{t}", type=WebhookType(t), url="http://gate/") for t in types
            ]
        }
    )
    gated = plain.model_copy(update={"spec": plain.spec.model_copy(update={"analysis": analysis})})
    scenario = load_scenario(SCENARIOS / "gates-approve.yaml")
    with_gates, without = simulate(gated, scenario), simulate(plain, scenario)
    assert with_gates.phase == Phase.SUCCEEDED
    assert with_gates.decision_seconds == without.decision_seconds
    first = next(t for t in with_gates.ticks if t.canary_weight > 0)
    assert (first.seconds, first.canary_weight) == (20, 10)
