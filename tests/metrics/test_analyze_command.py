"""`canary analyze` on the backfilled history: known values, verdicts and decisions."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from canary.cli import main

from .canaries import ERROR_RATE
from .conftest import PrometheusServer, free_port
from .history import T0

pytestmark = pytest.mark.prometheus

POLICY = f"""
apiVersion: canary.dev/v1alpha1
kind: Canary
metadata: {{name: podinfo, namespace: test}}
spec:
  targetRef: {{name: podinfo}}
  service: {{port: 80}}
  analysis:
    interval: 1m
    metrics:
      - name: request-success-rate
        thresholdRange: {{min: 90}}
      - name: request-duration
        thresholdRange: {{max: 500}}
      - name: error-rate
        templateRef: {{name: error-rate}}
        compare: {{mode: difference, max: 5}}
---
apiVersion: canary.dev/v1alpha1
kind: MetricTemplate
metadata: {{name: error-rate, namespace: test}}
spec:
  provider: {{address: "http://prometheus.istio-system:9090"}}
  query: '{ERROR_RATE}'
"""


@pytest.fixture
def policy(tmp_path: Path) -> Path:
    path = tmp_path / "podinfo.yaml"
    path.write_text(POLICY)
    return path


def analyze_json(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, object]]:
    code = main(["analyze", *args, "--json"])
    return code, json.loads(capsys.readouterr().out)


def test_a_replay_catches_the_incident_at_the_steps_after_it(
    prometheus: PrometheusServer, policy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, document = analyze_json(
        capsys,
        str(policy),
        "--prometheus",
        prometheus.url,
        "--from",
        str(T0 + 300),
        "--to",
        str(T0 + 1800),
        "--step",
        "5m",
    )
    evaluations = document["evaluations"]
    assert isinstance(evaluations, list)
    summary = [
        (
            e["unix"],
            e["decision"],
            [(m["name"], m["value"], m["primaryValue"], m["verdict"]) for m in e["metrics"]],
        )
        for e in evaluations
    ]
    before = [
        ("request-success-rate", 95.0, 99.0, "Pass"),
        ("request-duration", 175.0, 87.5, "Pass"),
        ("error-rate", 5.0, 1.0, "Pass"),
    ]
    during = [
        ("request-success-rate", 70.0, 99.0, "Fail"),
        ("request-duration", 175.0, 87.5, "Pass"),
        ("error-rate", 30.0, 1.0, "Fail"),
    ]
    expected = [(T0 + s, "advance", before) for s in (300, 600, 900, 1200)]
    expected += [(T0 + s, "fail", during) for s in (1500, 1800)]
    assert code == 0
    assert summary == expected
    first = evaluations[0]
    assert first["time"] == "2026-01-01T00:05:00Z"
    assert first["traffic"] == {
        "canaryRequests": 6000,
        "canaryFailures": 300,
        "primaryRequests": 6000,
        "primaryFailures": 60,
    }
    assert first["metrics"][0]["threshold"] == ">= 90"
    assert "95 is within >= 90" in first["metrics"][0]["reason"]


def test_rfc3339_and_unix_seconds_name_the_same_time(
    prometheus: PrometheusServer, policy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, by_rfc = analyze_json(
        capsys, str(policy), "--prometheus", prometheus.url, "--at", "2026-01-01T00:25:00Z"
    )
    _, by_unix = analyze_json(
        capsys, str(policy), "--prometheus", prometheus.url, "--at", str(T0 + 1500)
    )
    assert by_rfc == by_unix
    assert by_rfc["evaluations"][0]["decision"] == "fail"  # type: ignore[index]


def test_the_table_shows_values_verdicts_and_the_decision(
    prometheus: PrometheusServer, policy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        main(["analyze", str(policy), "--prometheus", prometheus.url, "--at", str(T0 + 300)]) == 0
    )
    out = capsys.readouterr().out
    assert "2026-01-01T00:05:00Z  test/podinfo  ADVANCE: checks passed" in out
    assert "request-success-rate  95      99       >= 90" in out
    assert "traffic: canary 6000 requests (300 5xx), primary 6000 (60 5xx)" in out


def test_an_unreachable_prometheus_holds_and_exits_3(
    policy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    code, document = analyze_json(
        capsys, str(policy), "--prometheus", url, "--at", str(T0 + 300), "--timeout", "1s"
    )
    assert code == 3
    evaluation = document["evaluations"][0]  # type: ignore[index]
    assert evaluation["decision"] == "hold"
    assert {m["verdict"] for m in evaluation["metrics"]} == {"Hold"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(["--from", "1767225600"], "--from needs --to and --step", id="from-alone"),
        pytest.param(["--at", "1767225600", "--step", "1m"], "go with --from", id="at-with-step"),
        pytest.param(
            ["--from", "1767225900", "--to", "1767225600", "--step", "1m"],
            "before --from",
            id="backwards",
        ),
    ],
)
def test_inconsistent_times_are_refused(
    policy: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    assert main(["analyze", str(policy), "--prometheus", "http://127.0.0.1:1", *args]) == 1
    assert message in capsys.readouterr().err


def test_a_malformed_time_is_a_usage_error(
    policy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["analyze", str(policy), "--prometheus", "http://127.0.0.1:1", "--at", "last tuesday"])
    assert exit_info.value.code == 2
    assert "RFC 3339" in capsys.readouterr().err
