"""`canary controller` is configured by flags or environment variables: a flag wins, a bad variable is named."""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from typing import Any

import pytest

from canary.commands import controller
from canary.docgen.controller import render_controller


def _parse(argv: list[str], environ: Mapping[str, str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="canary")
    controller.register(parser.add_subparsers(dest="command"), environ)
    return parser.parse_args(["controller", *argv])


@pytest.mark.parametrize(
    ("environ", "argv", "dest", "expected"),
    [
        ({}, [], "metrics_server", "http://prometheus:9090"),
        ({"CANARY_PROMETHEUS_URL": "http://prom.mon:9090"}, [], "metrics_server",
         "http://prom.mon:9090"),
        ({"CANARY_PROMETHEUS_URL": "http://prom.mon:9090"}, ["--metrics-server", "http://x:1"],
         "metrics_server", "http://x:1"),
        ({"CANARY_LOG_LEVEL": "debug"}, [], "log_level", "debug"),
        ({"CANARY_LOG_LEVEL": "debug"}, ["--log-level", "info"], "log_level", "info"),
        ({"CANARY_LOG_FORMAT": "console"}, [], "log_format", "console"),
        ({"CANARY_WORKERS": "12"}, [], "workers", 12),
        ({"CANARY_WORKERS": "12"}, ["--workers", "2"], "workers", 2),
        ({}, [], "namespace", []),
        ({"CANARY_NAMESPACES": "apps, payments"}, [], "namespace", ["apps", "payments"]),
        ({"CANARY_NAMESPACES": ""}, [], "namespace", []),
        ({"CANARY_NAMESPACES": "apps,payments"}, ["--namespace", "web"], "namespace", ["web"]),
        ({}, ["--namespace", "a", "--namespace", "b"], "namespace", ["a", "b"]),
        ({}, [], "leader_elect", False),
        ({"CANARY_LEADER_ELECT": "true"}, [], "leader_elect", True),
        ({"CANARY_LEADER_ELECT": "False"}, [], "leader_elect", False),
        ({"CANARY_LEADER_ELECT": "false"}, ["--leader-elect"], "leader_elect", True),
        ({"CANARY_ALLOW_CROSS_NAMESPACE_ALERTS": "1"}, [], "allow_cross_namespace_alerts", True),
        ({"POD_NAMESPACE": "canary-system"}, [], "leader_election_namespace", "canary-system"),
        ({}, [], "leader_election_namespace", "default"),
        ({"CANARY_CLUSTER_NAME": "eu-1"}, [], "cluster_name", "eu-1"),
        ({"CANARY_DEFAULT_ALERT_PROVIDER": "ops/slack"}, [], "default_alert_provider",
         "ops/slack"),
        ({"CANARY_DEFAULT_ALERT_SEVERITY": "error"}, [], "default_alert_severity", "error"),
        ({"CANARY_METRICS_ADDR": ""}, [], "metrics_addr", ""),
        ({"CANARY_LEADER_ELECTION_NAME": "shard-a"}, [], "leader_election_name", "shard-a"),
    ],
)  # fmt: skip
def test_a_variable_sets_its_option_and_a_flag_wins(
    environ: dict[str, str], argv: list[str], dest: str, expected: Any
) -> None:
    assert getattr(_parse(argv, environ), dest) == expected


@pytest.mark.parametrize(
    ("environ", "argv", "message"),
    [
        ({"CANARY_WORKERS": "many"}, [], "argument --workers: $CANARY_WORKERS='many': not a whole"),
        ({"CANARY_WORKERS": "0"}, [], "$CANARY_WORKERS='0': at least 1 worker"),
        ({}, ["--workers", "0"], "argument --workers: at least 1 worker"),
        ({"CANARY_LOG_LEVEL": "loud"}, [], "argument --log-level: $CANARY_LOG_LEVEL='loud': "
         "invalid choice"),
        ({}, ["--log-level", "loud"], "argument --log-level: invalid choice: 'loud'"),
        ({"CANARY_LOG_FORMAT": "xml"}, [], "$CANARY_LOG_FORMAT='xml': invalid choice"),
        ({"CANARY_DEFAULT_ALERT_SEVERITY": "all"}, [], "$CANARY_DEFAULT_ALERT_SEVERITY='all'"),
        ({"CANARY_LEADER_ELECT": "maybe"}, [], "$CANARY_LEADER_ELECT='maybe': not a boolean"),
    ],
)  # fmt: skip
def test_an_invalid_value_stops_with_an_error_naming_the_flag_and_the_variable(
    environ: dict[str, str], argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        _parse(argv, environ)
    assert exit_.value.code == 2
    assert message in capsys.readouterr().err


def test_a_valid_flag_overrides_an_invalid_variable() -> None:
    assert _parse(["--workers", "3"], {"CANARY_WORKERS": "many"}).workers == 3


def test_every_option_but_the_kubeconfig_has_a_variable() -> None:
    parser = argparse.ArgumentParser()
    controller.register(parser.add_subparsers(), {})
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    dests = {a.dest for a in sub.choices["controller"]._actions} - {"help", "kubeconfig"}
    assert dests == set(controller.VARIABLES)


def test_the_generated_reference_does_not_depend_on_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clean = render_controller()
    for variable in controller.VARIABLES.values():
        monkeypatch.setenv(variable, "true" if "ELECT" in variable else "7")
    assert render_controller() == clean
    assert (
        "| `--metrics-server URL` | `CANARY_PROMETHEUS_URL` | `http://prometheus:9090` |" in clean
    )
