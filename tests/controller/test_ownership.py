"""The controller never writes over a `-primary` object its Canary does not own: a Warning Event and a condition instead."""

from __future__ import annotations

from typing import Any

import pytest

from canary.kube.client import raw, read
from tests.controller.kube_fixtures import config_map, deployment, secret
from tests.controller.kube_harness import ON_A_CLUSTER, Harness

pytestmark = ON_A_CLUSTER

JSON = dict[str, Any]


def _create(harness: Harness, body: JSON) -> JSON:
    core, apps, ns = harness.kube.core, harness.kube.apps, harness.namespace
    create = {
        "Secret": core.create_namespaced_secret,
        "ConfigMap": core.create_namespaced_config_map,
        "Deployment": apps.create_namespaced_deployment,
    }[body["kind"]]
    return raw(create, ns, {**body, "metadata": {**body["metadata"], "namespace": ns}})


def _read(harness: Harness, kind: str, name: str) -> JSON | None:
    core, apps = harness.kube.core, harness.kube.apps
    call = {
        "Secret": core.read_namespaced_secret,
        "ConfigMap": core.read_namespaced_config_map,
        "Deployment": apps.read_namespaced_deployment,
    }[kind]
    return read(call, name, harness.namespace)


def _delete(harness: Harness, kind: str, name: str) -> None:
    core, apps = harness.kube.core, harness.kube.apps
    call = {
        "Secret": core.delete_namespaced_secret,
        "ConfigMap": core.delete_namespaced_config_map,
        "Deployment": apps.delete_namespaced_deployment,
    }[kind]
    raw(call, name, harness.namespace)


FOREIGN = {
    "Secret": secret("creds-primary", token="b3JpZ2luYWw="),
    "ConfigMap": config_map("settings-primary", color="original"),
    "Deployment": {**deployment("podinfo-primary", image="someone/else:1"), "kind": "Deployment"},
}


@pytest.mark.parametrize("kind", sorted(FOREIGN))
def test_a_foreign_primary_object_is_left_alone_with_a_warning_and_a_condition(
    harness: Harness, kind: str
) -> None:
    """Given someone else's `<x>-primary`, when the Canary initialises, then it is refused."""
    _create(harness, secret("creds"))
    _create(harness, config_map("settings"))
    foreign = _create(harness, FOREIGN[kind])
    raw(
        harness.kube.apps.create_namespaced_deployment,
        harness.namespace,
        deployment(harness.name, harness.namespace, config_map="settings", secret="creds"),
    )
    harness.given_canary()

    for _ in range(4):
        harness.tick()

    after = _read(harness, kind, foreign["metadata"]["name"])
    assert after is not None
    # (The simulated Deployment controller writes a Deployment's status: compare what we own.)
    for field in ("spec", "data"):
        assert after.get(field) == foreign.get(field)
    assert after["metadata"].get("generation") == foreign["metadata"].get("generation")
    assert not after["metadata"].get("ownerReferences")
    # Nothing half-done: the refusal comes before the first write of the initialisation.
    if kind != "Deployment":
        assert harness.deployment("podinfo-primary") is None
    for other in ("Secret", "ConfigMap"):
        if other != kind:
            assert _read(harness, other, FOREIGN[other]["metadata"]["name"]) is None
    condition = harness.condition("Ready")
    assert (condition["status"], condition["reason"]) == ("False", "NotOwned")
    assert foreign["metadata"]["name"] in condition["message"]
    warnings = [e for e in harness.events() if e["reason"] == "NotOwned"]
    assert len(warnings) == 1
    assert warnings[0]["type"] == "Warning"

    # Liveness: once the object is out of the way, the Canary initialises and the condition goes.
    _delete(harness, kind, foreign["metadata"]["name"])
    harness.run_until(lambda: harness.phase() == "Initialized")
    assert harness.condition("Ready")["status"] == "True"
    copy = _read(harness, kind, foreign["metadata"]["name"])
    assert copy is not None
    assert copy["metadata"]["ownerReferences"][0]["kind"] == "Canary"


def test_copies_the_controller_made_are_updated_at_promotion(harness: Harness) -> None:
    """Adoption by ownerReference: our own `-primary` Secret is rewritten, not refused."""
    _create(harness, secret("creds", token="b25l"))
    raw(
        harness.kube.apps.create_namespaced_deployment,
        harness.namespace,
        deployment(harness.name, harness.namespace, secret="creds"),
    )
    harness.given_canary()
    harness.run_until(lambda: harness.phase() == "Initialized")
    live = _read(harness, "Secret", "creds")
    assert live is not None
    live["data"] = {"token": "dHdv"}
    raw(harness.kube.core.replace_namespaced_secret, "creds", harness.namespace, live)

    harness.run_until(lambda: harness.phase() == "Succeeded")

    copy = _read(harness, "Secret", "creds-primary")
    assert copy is not None
    assert copy["data"] == {"token": "dHdv"}
    assert not [e for e in harness.events() if e["reason"] == "NotOwned"]
