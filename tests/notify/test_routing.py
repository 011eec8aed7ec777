"""Severity routing: info gets everything, warn gets warn and error, error only errors."""

from __future__ import annotations

import pytest

from canary.notify.routing import Route, receives, routes
from tests.notify.conftest import canary


@pytest.mark.parametrize(
    ("alert", "message", "sent"),
    [
        ("info", "info", True),
        ("info", "warn", True),
        ("info", "error", True),
        ("warn", "info", False),
        ("warn", "warn", True),
        ("warn", "error", True),
        ("error", "info", False),
        ("error", "warn", False),
        ("error", "error", True),
    ],
)
def test_severity_table(alert: str, message: str, sent: bool) -> None:
    assert receives(alert, message) is sent


ALERTS = [
    {"name": "team", "severity": "info", "providerRef": {"name": "team-slack"}},
    {"name": "oncall", "severity": "error", "providerRef": {"name": "pager"}},
    {"name": "leads", "providerRef": {"name": "leads"}, "fields": {"runbook": "https://rb"}},
]


@pytest.mark.parametrize(
    ("severity", "names"),
    [
        ("info", ["team-slack", "leads"]),
        ("warn", ["team-slack", "leads"]),
        ("error", ["team-slack", "pager", "leads"]),
    ],
)
def test_a_canarys_alerts_get_what_their_severity_lets_through(
    severity: str, names: list[str]
) -> None:
    chosen, problems = routes(canary(ALERTS), severity)
    assert [r.name for r in chosen] == names
    assert all(r.namespace == "shop" for r in chosen)  # unset severity means info
    assert problems == []


def test_the_alerts_fields_travel_with_the_route() -> None:
    chosen, _ = routes(canary(ALERTS), "info")
    assert chosen[-1].fields == {"runbook": "https://rb"}


def test_the_default_provider_is_used_only_for_canaries_that_name_none() -> None:
    default = Route.parse("canary-system/slack", "warn")
    assert routes(canary(), "warn", default=default)[0] == [default]
    assert routes(canary(), "info", default=default)[0] == []
    chosen, _ = routes(canary(ALERTS[:1]), "warn", default=default)
    assert [r.name for r in chosen] == ["team-slack"]


def test_a_provider_in_another_namespace_needs_the_controllers_permission() -> None:
    alerts = [{"name": "x", "providerRef": {"name": "shared", "namespace": "platform"}}]
    chosen, problems = routes(canary(alerts), "error")
    assert chosen == []
    assert "platform/shared" in problems[0]
    assert "another namespace" in problems[0]
    chosen, problems = routes(canary(alerts), "error", allow_cross_namespace=True)
    assert [r.key for r in chosen] == ["platform/shared"]
    assert problems == []


@pytest.mark.parametrize("text", ["slack", "/slack", "ns/", "a/b/c"])
def test_a_malformed_default_provider_is_refused_with_the_reason(text: str) -> None:
    with pytest.raises(ValueError, match="NAMESPACE/NAME"):
        Route.parse(text)
