"""Scenarios of the controller against an API server: given a cluster state, when it reconciles, then objects and status."""

from __future__ import annotations

from kube_harness import Harness

from canary.engine.types import Routes


def test_initialisation_creates_the_primary_the_services_and_the_routing_and_scales_the_target_to_zero(
    harness: Harness,
) -> None:
    harness.given_target(replicas=2)
    harness.given_canary()

    harness.run_until(lambda: harness.phase() == "Initialized")

    assert harness.image("podinfo-primary") == harness.image("podinfo")
    assert harness.replicas("podinfo-primary") == 2
    assert harness.replicas("podinfo") == 0
    for service in ("podinfo", "podinfo-primary", "podinfo-canary"):
        assert harness.service(service) is not None, service
    assert harness.service("podinfo")["spec"]["selector"] == {"app": "podinfo-primary"}
    assert harness.istio("destinationrules", "podinfo-primary") is not None
    assert harness.istio("destinationrules", "podinfo-canary") is not None
    assert harness.routes() == Routes(100, 0)
    assert harness.condition("Promoted")["status"] == "True"


def test_every_full_object_the_controller_sends_is_schema_checked(harness: Harness) -> None:
    harness.given_initialized()
    sent = harness.env.api_client.rest_client.sent
    assert {o["kind"] for o in sent} >= {"Deployment", "Service"}
