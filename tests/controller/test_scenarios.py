"""Scenarios of the controller against an API server: given a cluster state, when it reconciles, then objects and status."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import pytest

from canary.analysis.results import Verdict
from canary.engine.types import Routes
from canary.metrics.analyzer import MetricAnalyzer
from canary.metrics.prometheus import PrometheusProvider
from canary.sandbox.api import Fault
from canary.sandbox.testing import NeverReady, Ready
from tests.controller.kube_harness import ON_A_CLUSTER, Harness

pytestmark = ON_A_CLUSTER


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
        assert harness.find_service(service) is not None, service
    assert harness.service("podinfo")["spec"]["selector"] == {"app": "podinfo-primary"}
    assert harness.istio("destinationrules", "podinfo-primary") is not None
    assert harness.istio("destinationrules", "podinfo-canary") is not None
    assert harness.routes() == Routes(100, 0)
    assert harness.condition("Promoted")["status"] == "True"


def test_every_full_object_the_controller_sends_is_schema_checked(harness: Harness) -> None:
    harness.given_initialized()
    sent = harness.sent()
    assert {o["kind"] for o in sent} >= {"Deployment", "Service"}


FAILING_METRIC = {
    "interval": "1s",
    "threshold": 2,
    "metrics": [{"name": "request-success-rate", "thresholdRange": {"min": 99}}],
}


def _weights_during(harness: Harness, done: Callable[[], bool], limit: int = 60) -> list[int]:
    """The live canary weight after each reconcile until `done()`."""
    weights: list[int] = []
    for _ in range(limit):
        if done():
            return weights
        harness.tick()
        weights.append(harness.routes().canary)
    raise AssertionError(f"not done after {limit} reconciles: weights {weights}")


def test_a_new_image_goes_through_every_step_to_promotion(harness: Harness) -> None:
    harness.given_initialized()

    harness.update_target("ghcr.io/stefanprodan/podinfo:6.0.1")
    weights = _weights_during(harness, lambda: harness.phase() == "Succeeded")

    assert [w for i, w in enumerate(weights) if i == 0 or w != weights[i - 1]] == [0, 25, 50, 0]
    assert harness.image("podinfo-primary") == "ghcr.io/stefanprodan/podinfo:6.0.1"
    assert harness.replicas("podinfo") == 0
    assert harness.routes() == Routes(100, 0)
    assert harness.status()["lastPromotedSpec"] == harness.status()["lastAppliedSpec"]
    assert harness.condition("Promoted")["status"] == "True"
    assert harness.condition("RollingOut")["status"] == "False"
    reasons = {e["reason"] for e in harness.events()}
    assert {"Synced", "NewRevision", "Advanced", "Promoting", "Succeeded"} <= reasons


def test_a_failing_check_rolls_back(harness: Harness) -> None:
    harness.given_initialized(analysis=FAILING_METRIC)
    harness.analyzer.verdict = Verdict.FAIL

    harness.update_target("ghcr.io/stefanprodan/podinfo:6.0.1")
    harness.run_until(lambda: harness.phase() == "Failed")

    assert harness.routes() == Routes(100, 0)
    assert harness.replicas("podinfo") == 0
    assert harness.image("podinfo-primary") == "ghcr.io/stefanprodan/podinfo:6.0.0"
    assert "failed checks threshold" in harness.status()["message"]
    assert harness.condition("Promoted")["status"] == "False"
    assert any(e["type"] == "Warning" and e["reason"] == "RolledBack" for e in harness.events())


def test_passing_checks_are_required_to_advance(harness: Harness) -> None:
    harness.given_initialized(analysis=FAILING_METRIC)

    harness.update_target("ghcr.io/stefanprodan/podinfo:6.0.1")
    harness.run_until(lambda: harness.phase() == "Succeeded")

    assert harness.analyzer.calls >= 2
    assert harness.image("podinfo-primary") == "ghcr.io/stefanprodan/podinfo:6.0.1"


def test_a_new_revision_in_the_middle_of_a_rollout_starts_over(harness: Harness) -> None:
    harness.given_initialized()
    harness.update_target("ghcr.io/stefanprodan/podinfo:6.0.1")
    harness.run_until(lambda: harness.routes().canary == 25)

    harness.update_target("ghcr.io/stefanprodan/podinfo:6.0.2")
    harness.tick()

    assert harness.routes() == Routes(100, 0)
    assert harness.phase() == "Progressing"
    harness.run_until(lambda: harness.phase() == "Succeeded")
    assert harness.image("podinfo-primary") == "ghcr.io/stefanprodan/podinfo:6.0.2"


def test_going_back_to_the_promoted_revision_starts_nothing(harness: Harness) -> None:
    harness.given_initialized(analysis=FAILING_METRIC)
    harness.analyzer.verdict = Verdict.FAIL
    harness.update_target("ghcr.io/stefanprodan/podinfo:6.0.1")
    harness.run_until(lambda: harness.phase() == "Failed")

    harness.update_target("ghcr.io/stefanprodan/podinfo:6.0.0")
    for _ in range(3):
        harness.tick()

    assert harness.phase() == "Failed"
    assert harness.replicas("podinfo") == 0
    assert harness.routes() == Routes(100, 0)


def test_going_back_to_the_promoted_revision_during_a_rollout_cancels_it(harness: Harness) -> None:
    harness.given_initialized()
    harness.update_target("ghcr.io/stefanprodan/podinfo:6.0.1")
    harness.run_until(lambda: harness.routes().canary == 25)

    harness.update_target("ghcr.io/stefanprodan/podinfo:6.0.0")
    harness.tick()

    assert harness.routes() == Routes(100, 0)
    assert harness.replicas("podinfo") == 0
    assert harness.phase() not in ("Progressing", "Promoting")


def test_a_restarted_controller_resumes_without_weights_going_backwards_or_jumping(
    harness: Harness,
) -> None:
    harness.given_initialized(strategy={"canary": {"stepWeight": 10, "maxWeight": 50}})
    harness.update_target("ghcr.io/stefanprodan/podinfo:6.0.1")
    before = _weights_during(harness, lambda: harness.routes().canary == 30)

    harness.restart_controller()
    after = _weights_during(harness, lambda: harness.phase() == "Succeeded")

    *rising, last = before + after
    steps = [b - a for a, b in itertools.pairwise(rising)]
    assert all(0 <= step <= 10 for step in steps), f"weights {before} then {after}"
    assert after[0] >= 30
    assert last == 0


@pytest.mark.parametrize(
    ("stall", "reason"),
    [
        pytest.param(NeverReady(), "progress deadline exceeded", id="canary-deadline"),
        pytest.param(
            NeverReady(deadline=0.0), "exceeded its progress deadline", id="kubernetes-deadline"
        ),
    ],
)
def test_a_canary_that_never_becomes_ready_is_rolled_back_at_the_progress_deadline(
    harness: Harness, stall: NeverReady, reason: str
) -> None:
    harness.env.require_emulator()
    harness.given_initialized(progressDeadlineSeconds=3)
    assert harness.simulator is not None
    harness.simulator.set_behaviour("podinfo", stall)

    harness.update_target("podinfo:broken")
    harness.run_until(lambda: harness.phase() == "Failed")

    assert reason in harness.status()["message"]
    assert harness.routes() == Routes(100, 0)
    assert harness.replicas("podinfo") == 0
    rolled_back = [e for e in harness.events() if e["reason"] == "RolledBack"]
    assert rolled_back
    assert reason in rolled_back[-1]["message"]


def test_the_mirror_phase_sets_the_mirror_on_the_virtual_service_and_then_clears_it(
    harness: Harness,
) -> None:
    harness.given_initialized(
        strategy={"canary": {"stepWeight": 50, "mirror": {"percent": 40, "iterations": 1}}}
    )
    harness.update_target("ghcr.io/stefanprodan/podinfo:6.0.1")

    harness.run_until(lambda: harness.routes().mirror > 0)
    route = _weighted_route(harness.virtual_service())
    assert route["mirror"] == {"host": "podinfo-canary"}
    assert route["mirrorPercentage"] == {"value": 40.0}
    assert harness.routes() == Routes(100, 0, mirror=40)

    harness.run_until(lambda: harness.routes().canary > 0)
    route = _weighted_route(harness.virtual_service())
    assert "mirror" not in route
    assert "mirrorPercentage" not in route
    assert harness.routes() == Routes(50, 50)


def test_a_field_written_into_the_virtual_service_by_another_tool_survives_a_whole_rollout(
    harness: Harness,
) -> None:
    harness.given_initialized()
    vs = harness.virtual_service()
    vs["spec"]["exportTo"] = ["."]
    vs["spec"]["http"][0]["fault"] = {"delay": {"fixedDelay": "1s", "percentage": {"value": 1.0}}}
    harness.replace_virtual_service(vs)

    harness.update_target("ghcr.io/stefanprodan/podinfo:6.0.1")
    harness.run_until(lambda: harness.phase() == "Succeeded")

    after = harness.virtual_service()
    assert after["spec"]["exportTo"] == ["."]
    assert _weighted_route(after)["fault"]["delay"]["fixedDelay"] == "1s"
    assert harness.routes() == Routes(100, 0)


def test_a_change_to_the_service_spec_updates_the_routing_but_keeps_the_weights(
    harness: Harness,
) -> None:
    harness.given_initialized()
    harness.update_target("ghcr.io/stefanprodan/podinfo:6.0.1")
    harness.run_until(lambda: harness.routes().canary == 25)

    harness.patch_canary({"spec": {"service": {"timeout": "15s", "hosts": ["app.example.com"]}}})
    harness.reconcile()

    vs = harness.virtual_service()
    assert vs["spec"]["hosts"] == ["app.example.com", "podinfo"]
    assert _weighted_route(vs)["timeout"] == "15s"
    # The clock has reached the next analysis, so this reconcile may also take the next step.
    assert harness.routes().canary in (25, 50)
    assert harness.status()["canaryWeight"] == harness.routes().canary


def test_conflicts_on_writes_are_survived(harness: Harness) -> None:
    server = harness.env.require_emulator()
    harness.given_initialized()
    harness.update_target("ghcr.io/stefanprodan/podinfo:6.0.1")
    # Every write of the rollout is a patch carrying a resourceVersion (canary/kube/patches.py).
    faults = [
        Fault(method, path, 409, times=2, reason="Conflict")
        for method, path in (
            ("PATCH", "/canaries/podinfo/status"),
            ("PATCH", "/virtualservices/"),
            ("PATCH", "/deployments/podinfo-primary"),
        )
    ]
    for fault in faults:
        server.api.inject(fault)

    harness.run_until(lambda: harness.phase() == "Succeeded")

    assert [f.times for f in faults] == [0, 0, 0], "every injected conflict was met"
    assert harness.image("podinfo-primary") == "ghcr.io/stefanprodan/podinfo:6.0.1"
    assert harness.routes() == Routes(100, 0)


def _weighted_route(vs: dict[str, Any]) -> dict[str, Any]:
    return next(r for r in vs["spec"]["http"] if r.get("name") == "primary-canary")


def test_deleting_a_canary_with_revert_on_deletion_restores_the_original_objects(
    harness: Harness,
) -> None:
    harness.given_target(replicas=3)
    original_service = harness.given_service(selector={"app": "podinfo"}, port=9898)
    original_vs = harness.given_virtual_service(host="podinfo", timeout="7s")
    policy = {"loadBalancer": {"simple": "LEAST_REQUEST"}}
    harness.given_destination_rule("podinfo-primary", trafficPolicy=policy)
    harness.given_canary(revertOnDeletion=True)
    harness.run_until(lambda: harness.phase() == "Initialized")
    assert "trafficPolicy" not in harness.rule("podinfo-primary")["spec"]
    assert harness.service("podinfo")["spec"]["selector"] == {"app": "podinfo-primary"}
    assert harness.routes() == Routes(100, 0)
    assert "canary.dev/finalizer" in harness.canary_object()["metadata"]["finalizers"]

    harness.delete_canary()
    harness.run_until(lambda: harness.canary() is None, limit=5)

    service = harness.service("podinfo")
    assert service["spec"]["selector"] == original_service["spec"]["selector"]
    assert service["spec"]["ports"][0]["port"] == 9898
    assert "canary.dev/original-configuration" not in (service["metadata"].get("annotations") or {})
    assert harness.virtual_service()["spec"] == original_vs["spec"]
    assert harness.rule("podinfo-primary")["spec"]["trafficPolicy"] == policy
    assert harness.replicas("podinfo") == 3


def test_deleting_a_canary_without_revert_on_deletion_leaves_everything_to_the_garbage_collector(
    harness: Harness,
) -> None:
    harness.given_initialized()
    assert "canary.dev/finalizer" not in (
        harness.canary_object()["metadata"].get("finalizers") or []
    )

    harness.delete_canary()

    assert harness.canary() is None
    assert harness.reconcile() is None


def test_a_changed_config_map_is_a_new_revision_and_its_copy_is_promoted(harness: Harness) -> None:
    harness.given_config_map("podinfo-config", color="blue")
    harness.given_target(config_map="podinfo-config")
    harness.given_canary()
    harness.run_until(lambda: harness.phase() == "Initialized")
    assert harness.config_map("podinfo-config-primary")["data"] == {"color": "blue"}
    pod = harness.existing_deployment("podinfo-primary")["spec"]["template"]["spec"]
    assert pod["volumes"][0]["configMap"]["name"] == "podinfo-config-primary"

    harness.replace_config_map("podinfo-config", color="green")
    harness.tick()
    assert harness.phase() == "Progressing"
    assert harness.config_map("podinfo-config-primary")["data"] == {"color": "blue"}, (
        "not before promotion"
    )
    harness.run_until(lambda: harness.phase() == "Succeeded")

    assert harness.config_map("podinfo-config-primary")["data"] == {"color": "green"}
    assert "configmap/podinfo-config" in harness.status()["trackedConfigs"]


def test_ab_testing_adds_the_matching_route_for_the_run_and_removes_it_after(
    harness: Harness,
) -> None:
    match = [{"headers": {"x-canary": {"exact": "insider"}}}]
    harness.given_initialized(strategy={"abTesting": {"iterations": 2, "match": match}})
    harness.update_target("ghcr.io/stefanprodan/podinfo:6.0.1")

    harness.run_until(lambda: harness.routes().ab_testing)
    ab_route = harness.virtual_service()["spec"]["http"][0]
    assert ab_route["match"] == match
    assert [d["weight"] for d in ab_route["route"]] == [0, 100]
    assert harness.routes() == Routes(100, 0, ab_testing=True)

    harness.run_until(lambda: harness.phase() == "Succeeded")
    assert [r["name"] for r in harness.virtual_service()["spec"]["http"]] == ["primary-canary"]
    assert harness.image("podinfo-primary") == "ghcr.io/stefanprodan/podinfo:6.0.1"


def test_blue_green_switches_all_traffic_to_the_canary_before_promotion(harness: Harness) -> None:
    harness.given_initialized(strategy={"blueGreen": {"iterations": 2}})
    harness.update_target("ghcr.io/stefanprodan/podinfo:6.0.1")

    weights = _weights_during(harness, lambda: harness.phase() == "Succeeded")

    assert set(weights) <= {0, 100}
    assert harness.image("podinfo-primary") == "ghcr.io/stefanprodan/podinfo:6.0.1"
    assert harness.routes() == Routes(100, 0)


def test_a_suspended_canary_is_left_alone(harness: Harness) -> None:
    harness.given_initialized()
    harness.patch_canary({"spec": {"suspend": True}})

    harness.update_target("ghcr.io/stefanprodan/podinfo:6.0.1")
    for _ in range(3):
        harness.tick()

    assert harness.phase() == "Initialized"
    assert harness.replicas("podinfo") == 0


def test_a_replica_that_is_not_the_leader_changes_nothing(harness: Harness) -> None:
    harness.given_target()
    harness.given_canary()
    harness.reconciler.may_write = lambda: False

    for _ in range(3):
        harness.tick()

    assert harness.deployment("podinfo-primary") is None
    assert harness.find_service("podinfo") is None
    assert harness.status() == {}
    assert harness.replicas("podinfo") == 2


def test_an_analysis_that_raises_holds_the_rollout_instead_of_failing_it(harness: Harness) -> None:
    harness.given_initialized(analysis=FAILING_METRIC)
    harness.analyzer.raises = True
    harness.update_target("ghcr.io/stefanprodan/podinfo:6.0.1")

    for _ in range(6):
        harness.tick()

    assert harness.phase() == "Progressing"
    assert harness.status().get("failedChecks", 0) == 0
    assert harness.routes().canary <= 25


def test_an_invalid_canary_is_reported_and_nothing_is_created(harness: Harness) -> None:
    harness.given_target()
    harness.given_canary(strategy={"canary": {"stepWeight": 30, "maxWeight": 10}})

    assert harness.reconcile() is None

    assert harness.deployment("podinfo-primary") is None
    (event,) = [e for e in harness.events() if e["reason"] == "InvalidSpec"]
    assert event["type"] == "Warning"
    assert "maxWeight" in event["message"]


def test_json_patches_the_controller_sends_are_schema_checked_on_the_patched_object(
    harness: Harness,
) -> None:
    harness.given_initialized()
    harness.update_target("ghcr.io/stefanprodan/podinfo:6.0.1")
    harness.run_until(lambda: harness.routes().canary == 25)
    sent = harness.sent()
    patched_vs = [
        o for o in sent if o["kind"] == "VirtualService" and "resourceVersion" in o["metadata"]
    ]
    assert patched_vs, "the weight change was validated"


def test_a_target_changed_while_initialising_is_what_the_primary_runs(harness: Harness) -> None:
    harness.env.require_emulator()
    assert harness.simulator is not None
    harness.simulator.set_behaviour("podinfo-primary", NeverReady())
    harness.given_target()
    harness.given_canary()
    harness.tick()
    assert harness.phase() == "Initializing"

    harness.update_target("ghcr.io/stefanprodan/podinfo:6.0.1")
    harness.simulator.set_behaviour("podinfo-primary", Ready())
    harness.run_until(lambda: harness.phase() == "Initialized")

    assert harness.image("podinfo-primary") == "ghcr.io/stefanprodan/podinfo:6.0.1"
    for _ in range(3):
        harness.tick()
    assert harness.phase() == "Initialized", "the promoted revision starts no run"


def test_traffic_is_moved_by_patches_and_the_virtual_service_is_never_replaced(
    harness: Harness,
) -> None:
    harness.env.require_emulator()
    harness.given_initialized()

    harness.update_target("ghcr.io/stefanprodan/podinfo:6.0.1")
    harness.run_until(lambda: harness.phase() == "Succeeded")

    writes = [r for r in harness.controller_requests if "/virtualservices/" in r.path]
    assert {(r.method, r.content_type) for r in writes if r.method != "GET"} == {
        ("PATCH", "application/json-patch+json")
    }


@pytest.mark.parametrize(
    ("request_value", "phase", "primary_image"),
    [
        pytest.param("abort/1", "Aborted", "ghcr.io/stefanprodan/podinfo:6.0.0", id="abort"),
        pytest.param(
            "promote-full/1", "Succeeded", "ghcr.io/stefanprodan/podinfo:6.0.1", id="promote-full"
        ),
    ],
)
def test_a_manual_request_in_the_annotation_is_passed_to_the_engine(
    harness: Harness, request_value: str, phase: str, primary_image: str
) -> None:
    harness.given_initialized(strategy={"canary": {"stepWeight": 10, "maxWeight": 90}})
    harness.update_target("ghcr.io/stefanprodan/podinfo:6.0.1")
    harness.run_until(lambda: harness.routes().canary == 10)

    harness.patch_canary({"metadata": {"annotations": {"canary.dev/request": request_value}}})
    harness.run_until(lambda: harness.phase() == phase, limit=5)

    assert harness.image("podinfo-primary") == primary_image
    assert harness.routes() == Routes(100, 0)
    assert harness.status()["handledRequest"] == request_value


def test_a_missing_template_and_an_unreachable_prometheus_become_a_condition_and_events(
    harness: Harness,
) -> None:
    """Given the real analyzer, a Prometheus that refuses connections and a metric whose
    MetricTemplate does not exist; when a rollout runs; then it holds, status says why in the
    MetricsAvailable condition, and each failing metric gets one Warning event."""
    harness.env.require_emulator()
    closed_port = PrometheusProvider("http://127.0.0.1:9", timeout=0.5)
    harness.reconciler.analyzer = MetricAnalyzer(closed_port)
    analysis = {
        "interval": "1s",
        "threshold": 2,
        "metrics": [
            {"name": "request-success-rate", "thresholdRange": {"min": 99}},
            {"name": "custom", "templateRef": {"name": "missing"}, "thresholdRange": {"max": 1}},
        ],
    }
    harness.given_initialized(analysis=analysis)
    harness.update_target("ghcr.io/stefanprodan/podinfo:6.0.1")

    for _ in range(6):
        harness.tick()

    status = harness.status()
    assert status["phase"] == "Progressing"
    assert status.get("failedChecks", 0) == 0
    (condition,) = [c for c in status["conditions"] if c["type"] == "MetricsAvailable"]
    assert condition["status"] == "False"
    assert condition["reason"] == "MetricQueryError"
    assert "custom: MetricTemplate" in condition["message"]
    reasons = [e["reason"] for e in harness.events() if e["type"] == "Warning"]
    assert reasons.count("MetricQueryError") == 1
    assert reasons.count("MetricTemplateError") == 1


def test_a_repeated_event_is_counted_on_the_existing_one(harness: Harness) -> None:
    harness.env.require_emulator()
    harness.given_initialized()
    for image in ("ghcr.io/stefanprodan/podinfo:6.0.1", "ghcr.io/stefanprodan/podinfo:6.0.2"):
        harness.update_target(image)
        harness.run_until(lambda: harness.phase() == "Progressing")
        harness.run_until(lambda: harness.phase() == "Succeeded")

    succeeded = [e for e in harness.events() if e["reason"] == "Succeeded"]
    assert [e["count"] for e in succeeded] == [2]
    assert succeeded[0]["lastTimestamp"] >= succeeded[0]["firstTimestamp"]
