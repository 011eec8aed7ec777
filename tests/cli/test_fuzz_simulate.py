"""`canary simulate` answers every input with lines naming the file, exit 0 or 2, in bounded time."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from canary.commands.simulate import MAX_ANALYSES

from . import strategies
from .harness import CANARY, SCENARIO, assert_bounded, assert_clear, run, write

FUZZ = settings(max_examples=40, deadline=None)
CODES = {0, 2}  # 0 ran, 2 invalid input (documented in `canary simulate --help`)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("simulate")


def simulate(workdir: Path, canary: bytes | str = CANARY, scenario: bytes | str = SCENARIO) -> None:
    canary_path = write(workdir, "canary.yaml", canary)
    scenario_path = write(workdir, "scenario.yaml", scenario)
    answer = run(["simulate", str(canary_path), "--scenario", str(scenario_path), "--json"])
    assert_clear(answer, CODES, [str(canary_path), str(scenario_path)])
    assert_bounded(answer)


@FUZZ
@given(data=strategies.raw_bytes(), which=st.booleans())
def test_bytes(workdir: Path, data: bytes, which: bool) -> None:
    simulate(workdir, canary=data) if which else simulate(workdir, scenario=data)


@FUZZ
@given(text=strategies.nesting(), which=st.booleans())
def test_structure(workdir: Path, text: str, which: bool) -> None:
    simulate(workdir, canary=text) if which else simulate(workdir, scenario=text)


@FUZZ
@given(field=st.sampled_from(["rps: 20", "errorRate: 0.001"]), token=strategies.number_tokens())
def test_numbers(workdir: Path, field: str, token: str) -> None:
    name = field.split(":")[0]
    simulate(workdir, scenario=SCENARIO.replace(field, f"{name}: {token}", 1))


@FUZZ
@given(
    field=st.sampled_from(["duration: 10m", "readyAfter: 5s"]), token=strategies.duration_tokens()
)
def test_durations(workdir: Path, field: str, token: str) -> None:
    name = field.split(":")[0]
    simulate(workdir, scenario=SCENARIO.replace(field, f"{name}: {token}", 1))


@FUZZ
@given(token=strategies.unicode_strings())
def test_unicode(workdir: Path, token: str) -> None:
    simulate(workdir, scenario=SCENARIO.replace("name: short", f"name: {token}", 1))


@pytest.mark.parametrize(
    ("scenario", "canary", "reason"),
    [
        pytest.param(
            SCENARIO.replace("10m", "9" * 400 + "s"), CANARY, "duration: invalid", id="long"
        ),
        pytest.param(SCENARIO.replace("10m", "169h"), CANARY, "at most 168h", id="over-a-week"),
        pytest.param(
            SCENARIO.replace("10m", "168h"),
            CANARY.replace("interval: 1m\n    threshold", "interval: 1s\n    threshold"),
            f"at most {MAX_ANALYSES:,}",
            id="too-many-intervals",
        ),
        pytest.param("", CANARY, "no YAML document", id="empty-scenario"),
        pytest.param(SCENARIO + "---\n" + SCENARIO, CANARY, "found 2 documents", id="two"),
        pytest.param(SCENARIO.replace("rps: 20", "rps: .inf"), CANARY, "finite", id="inf-rps"),
    ],
)
def test_each_kind_gets_lines_naming_the_file(
    workdir: Path, scenario: str, canary: str, reason: str
) -> None:
    canary_path = write(workdir, "kind-canary.yaml", canary)
    scenario_path = write(workdir, "kind-scenario.yaml", scenario)
    answer = run(["simulate", str(canary_path), "--scenario", str(scenario_path)])
    assert_clear(answer, {2}, [str(scenario_path)])
    assert reason in answer.err


@pytest.mark.parametrize("seed", ["-1", "1.5", "9" * 40, "x"])
def test_a_bad_seed_is_named(workdir: Path, seed: str) -> None:
    canary_path = write(workdir, "seed-canary.yaml", CANARY)
    scenario_path = write(workdir, "seed-scenario.yaml", SCENARIO)
    answer = run(["simulate", str(canary_path), "--scenario", str(scenario_path), "--seed", seed])
    assert_clear(answer, {2}, ["argument --seed"])
