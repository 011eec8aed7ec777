"""`canary judge`: one JSON document in, one out; bad input names the field and exits 2."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from canary.cli import main

EXAMPLE = Path(__file__).parents[2] / "examples" / "judge" / "input.json"


def run_judge(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], document: str
) -> tuple[int, str, str]:
    monkeypatch.setattr("sys.stdin", io.StringIO(document))
    code = main(["judge"])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_the_example_is_judged_into_one_json_document(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run_judge(monkeypatch, capsys, EXAMPLE.read_text())
    assert code == 0
    output = json.loads(out)
    assert {"metrics", "score", "result"} <= set(output)
    labels = {m["name"]: (m["classification"], m["critical"]) for m in output["metrics"]}
    assert labels == {
        "request-duration-p99": ("High", True),
        "cpu-seconds": ("Pass", False),
        "http-5xx-per-second": ("Pass", False),
        "queue-depth": ("NotEnoughData", False),
        "cache-hit-ratio": ("NodataFailMetric", False),
    }
    assert (output["score"], output["result"]) == (0.0, "Fail")
    for field in ("interval", "estimate", "effectSize", "reason"):
        assert field in output["metrics"][0]


def test_defaults_are_kayentas_and_the_output_is_strict_json(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    document = {
        "metrics": [
            {"name": "p99", "control": [1, 2, 3, 4, "NaN"], "experiment": [1, 2, 3, 4, 5]},
            {"name": "errors", "classification": "Pass"},
        ]
    }
    code, out, _ = run_judge(monkeypatch, capsys, json.dumps(document))
    assert code == 0
    output = json.loads(out, parse_constant=pytest.fail)  # no NaN or Infinity literals
    first = output["metrics"][0]
    assert first["evidence"]["confidence"] == 0.98
    assert first["evidence"]["tolerance"] == 0.25
    assert first["evidence"]["controlUsed"] == 4  # the NaN was removed
    assert (output["score"], output["result"]) == (100.0, "Pass")


def test_preclassified_critical_metrics_are_scored(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    document = {
        "metrics": [
            {"name": "a", "classification": "Pass"},
            {"name": "b", "classification": "High", "critical": True},
        ],
        "thresholds": {"pass": 90, "marginal": 50},
    }
    _, out, _ = run_judge(monkeypatch, capsys, json.dumps(document))
    assert json.loads(out)["result"] == "Fail"


@pytest.mark.parametrize(
    ("document", "message"),
    [
        pytest.param("{", "not JSON", id="not-json"),
        pytest.param("[]", "(document): expected a JSON object", id="not-an-object"),
        pytest.param('{"metrics": []}', "metrics: List should have at least 1 item",
                     id="no-metrics"),
        pytest.param('{"metrics": [{"control": [1], "experiment": [2]}]}',
                     "metrics[0].name: Field required", id="missing-name"),
        pytest.param('{"metrics": [{"name": "x", "control": [1, "one"], "experiment": [2]}]}',
                     'metrics[0].control[1]: expected a number or "NaN", got "one"',
                     id="bad-sample"),
        pytest.param('{"metrics": [{"name": "x", "control": [1], "experiment": [2], '
                     '"tolerance": -1}]}', "metrics[0].tolerance: Input should be greater than",
                     id="negative-tolerance"),
        pytest.param('{"metrics": [{"name": "x", "control": [1], "experiment": [2], '
                     '"effectSize": {"measure": "median"}}]}', "metrics[0].effectSize.measure",
                     id="unknown-effect-measure"),
        pytest.param('{"metrics": [{"name": "x", "control": [1], "experiment": [2], '
                     '"tolerence": 1}]}', "metrics[0].tolerence: Extra inputs are not permitted",
                     id="misspelt-field"),
        pytest.param('{"metrics": [{"name": "x"}]}',
                     "metrics[0].control: required unless the metric has a classification",
                     id="no-samples-and-no-classification"),
        pytest.param('{"metrics": [{"name": "x", "classification": "Fine"}]}',
                     "metrics[0].classification", id="unknown-classification"),
        pytest.param('{"metrics": [{"name": "x", "classification": "Pass"}], '
                     '"groupWeights": {"a": 70, "b": 40}}', "groupWeights: add up to 110",
                     id="weights-over-100"),
        pytest.param('{"metrics": [{"name": "x", "classification": "Pass"}], '
                     '"thresholds": {"pass": 50, "marginal": 60}}',
                     "thresholds.marginal: must not be above thresholds.pass",
                     id="marginal-above-pass"),
    ],
)  # fmt: skip
def test_bad_input_names_the_field_and_exits_2(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    document: str,
    message: str,
) -> None:
    code, out, err = run_judge(monkeypatch, capsys, document)
    assert code == 2
    assert out == ""
    assert message in err
    assert "Traceback" not in err
