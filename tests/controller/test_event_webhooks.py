"""`event` webhooks: one call per Kubernetes Event the controller records, with Flagger's fields."""

from __future__ import annotations

from canary.analysis.results import Verdict
from tests.controller.kube_harness import ON_A_CLUSTER, Harness

pytestmark = ON_A_CLUSTER

EVENT_HOOK = {"name": "audit", "type": "event", "url": "http://audit.example/events"}


def test_every_event_of_a_rollout_reaches_the_event_hooks(harness: Harness) -> None:
    # Given a Canary with an event hook (and a gate, which must not be called as one)
    harness.given_initialized(
        analysis={
            "interval": "1s",
            "webhooks": [EVENT_HOOK, {**EVENT_HOOK, "name": "gate", "type": "confirm-rollout"}],
        }
    )
    # When a new image is rolled out to the end
    harness.update_target("ghcr.io/stefanprodan/podinfo:6.0.1")
    harness.run_until(lambda: harness.phase() == "Succeeded")

    # Then each recorded Event was sent to the hook with its message and type, and nothing else was
    recorded = {(e["type"], e["message"]) for e in harness.events()}
    sent = {
        (p["eventType"], p["eventMessage"]) for t, p in harness.webhooks.payloads if t == "event"
    }
    assert {"Synced", "NewRevision", "Succeeded"} <= {e["reason"] for e in harness.events()}
    assert sent == recorded
    assert all("eventMessage" not in p for t, p in harness.webhooks.payloads if t != "event")


def test_a_rolled_back_run_reports_its_warning(harness: Harness) -> None:
    harness.given_initialized(
        analysis={
            "interval": "1s",
            "threshold": 1,
            "metrics": [{"name": "request-success-rate", "thresholdRange": {"min": 99}}],
            "webhooks": [EVENT_HOOK],
        }
    )
    harness.analyzer.verdict = Verdict.FAIL
    harness.update_target("ghcr.io/stefanprodan/podinfo:6.0.1")
    harness.run_until(lambda: harness.phase() == "Failed")

    warnings = [
        p for t, p in harness.webhooks.payloads if t == "event" and p["eventType"] == "Warning"
    ]
    assert any("Rolling back podinfo" in p["eventMessage"] for p in warnings)
