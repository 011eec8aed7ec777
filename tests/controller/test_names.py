"""Names that do not fit and permanent API errors become Ready=False and one Warning Event, not an endless retry."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from kubernetes.client.exceptions import ApiException

from canary.controller.blocked import NOT_FOUND_STREAK, PERMANENT_RETRY
from canary.kube.client import raw
from canary.sandbox import testing
from tests.controller.kube_fixtures import deployment
from tests.controller.kube_harness import Harness

LONG = "a" * 48 + "-podinfo"  # 56 characters: "<LONG>-primary" is 64
assert len(LONG) == 56


@contextmanager
def refusing(harness: Harness, fault: testing.Fault) -> Iterator[testing.Fault]:
    """The emulator answers `fault` until the block ends (it is shared by the module's tests)."""
    harness.env.require_emulator().api.inject(fault)
    try:
        yield fault
    finally:
        fault.times = 0


def warnings(harness: Harness, reason: str) -> list[dict[str, Any]]:
    return [e for e in harness.events() if e["type"] == "Warning" and e["reason"] == reason]


def test_a_56_character_name_is_refused_before_any_write_with_a_condition_and_one_event(
    harness: Harness,
) -> None:
    """Given a target Deployment, its app label and a Canary all named with 56 characters;
    when reconciled again and again; then nothing is created, Ready is False with reason
    InvalidSpec naming the field, the derived name and the limit, there is one Warning Event
    (count 1), and the Canary is looked at again only slowly."""
    harness.env.require_emulator()
    harness.name = LONG
    harness.given_target()
    harness.given_canary()

    requeues = [harness.reconcile() for _ in range(4)]

    assert harness.deployment(f"{LONG}-primary") is None
    ready = harness.condition("Ready")
    assert (ready["status"], ready["reason"]) == ("False", "InvalidSpec")
    assert (
        f'spec.targetRef.name: derived Service name "{LONG}-primary" is 64 characters; '
        "Kubernetes allows 63 for a DNS-1035 label"
    ) in ready["message"]
    assert f'label value of app "{LONG}-primary" is 64 characters' in ready["message"]
    (event,) = warnings(harness, "InvalidSpec")
    assert event["count"] == 1
    assert all(r is not None and r >= PERMANENT_RETRY for r in requeues)


def test_a_fixed_name_clears_the_condition_and_the_rollout_starts(harness: Harness) -> None:
    """Given a long target whose apex Service name would not fit; when spec.service.name is
    set to a short name; then the next reconcile initialises and Ready becomes True."""
    harness.env.require_emulator()
    harness.name = LONG
    harness.given_target(labels={"app": "podinfo"})
    harness.given_canary()
    harness.reconcile()
    assert harness.condition("Ready")["reason"] == "InvalidSpec"

    harness.patch_canary({"spec": {"service": {"name": "podinfo", "port": 9898}}})
    harness.run_until(lambda: harness.phase() == "Initialized")

    ready = harness.condition("Ready")
    assert (ready["status"], ready["reason"]) == ("True", "Reconciled")
    assert harness.deployment(f"{LONG}-primary") is not None
    assert len(warnings(harness, "InvalidSpec")) == 1


@pytest.mark.parametrize(
    ("code", "reason"),
    [(422, "InvalidSpec"), (400, "InvalidSpec"), (403, "Forbidden")],
)
def test_a_permanent_api_error_becomes_a_condition_and_one_event_and_clears_when_fixed(
    harness: Harness, code: int, reason: str
) -> None:
    """Given the API server refusing every create of a Deployment with `code`; when reconciled
    three times; then Ready=False with `reason` and one Warning Event; once the server accepts
    again, the Canary initialises and Ready is True."""
    harness.given_canary()
    harness.given_target()
    with refusing(harness, testing.Fault("POST", "/deployments", code, 1000, reason)):
        requeues = [harness.reconcile() for _ in range(3)]

    ready = harness.condition("Ready")
    assert (ready["status"], ready["reason"]) == ("False", reason)
    assert f"injected fault ({code})" in ready["message"]
    assert len(warnings(harness, reason)) == 1
    assert warnings(harness, reason)[0]["count"] == 1
    assert all(r is not None and r >= PERMANENT_RETRY for r in requeues)

    harness.run_until(lambda: harness.phase() == "Initialized")
    assert harness.condition("Ready")["status"] == "True"


def test_a_404_is_retried_and_only_a_persisting_one_is_reported(harness: Harness) -> None:
    harness.given_canary()
    harness.given_target()
    with refusing(harness, testing.Fault("POST", "/deployments", 404, 1000, "NotFound")):
        for _ in range(NOT_FOUND_STREAK - 1):
            with pytest.raises(ApiException):
                harness.reconcile()
        assert warnings(harness, "NotFound") == []
        harness.reconcile()

    ready = harness.condition("Ready")
    assert (ready["status"], ready["reason"]) == ("False", "NotFound")
    assert len(warnings(harness, "NotFound")) == 1


def test_a_missing_target_is_a_condition_and_one_event_until_it_appears(harness: Harness) -> None:
    harness.env.require_emulator()
    harness.given_canary()
    for _ in range(3):
        harness.reconcile()

    ready = harness.condition("Ready")
    assert (ready["status"], ready["reason"]) == ("False", "TargetNotFound")
    (event,) = warnings(harness, "TargetNotFound")
    assert event["count"] == 1

    harness.given_target()
    harness.run_until(lambda: harness.phase() == "Initialized")
    assert harness.condition("Ready")["status"] == "True"


def test_a_target_without_a_known_selector_label_is_invalid_spec(harness: Harness) -> None:
    harness.env.require_emulator()
    harness.given_target(labels={"team": "podinfo"})
    harness.given_canary()
    for _ in range(3):
        harness.reconcile()

    ready = harness.condition("Ready")
    assert (ready["status"], ready["reason"]) == ("False", "InvalidSpec")
    assert "none of the selector labels app, name, app.kubernetes.io/name" in ready["message"]
    assert len(warnings(harness, "InvalidSpec")) == 1


def test_a_primary_that_another_owner_holds_is_reported_not_taken(harness: Harness) -> None:
    harness.env.require_emulator()
    harness.given_target()
    foreign = deployment("podinfo-primary", harness.namespace, labels={"app": "other"})
    raw(harness.kube.apps.create_namespaced_deployment, harness.namespace, foreign)
    harness.given_canary()
    for _ in range(3):
        harness.reconcile()

    ready = harness.condition("Ready")
    assert (ready["status"], ready["reason"]) == ("False", "NotOwned")
    assert "deployment podinfo-primary exists and is not owned by this Canary" in ready["message"]
    assert len(warnings(harness, "NotOwned")) == 1
    primary = harness.deployment("podinfo-primary")
    assert primary is not None
    assert primary["spec"]["selector"]["matchLabels"] == {"app": "other"}
