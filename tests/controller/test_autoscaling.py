"""Scenarios of `spec.autoscalerRef`: the primary's HPA, scaling from zero, promotion and a missing HPA."""

from __future__ import annotations

from canary.kube.client import raw
from tests.controller.kube_harness import ON_A_CLUSTER, Harness

pytestmark = ON_A_CLUSTER

NEW_IMAGE = "ghcr.io/stefanprodan/podinfo:6.0.1"
HPA = {"autoscalerRef": {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
                         "name": "podinfo"}}  # fmt: skip


def _spec(harness: Harness, name: str) -> dict[str, object]:
    found = harness.autoscaler(name)
    assert found is not None, f"horizontalpodautoscaler {name} does not exist"
    return dict(found["spec"])


def _scale_primary(harness: Harness, replicas: int) -> None:
    """What the primary's HPA would do on a real cluster (the emulator runs no HPA controller)."""
    primary = harness.existing_deployment("podinfo-primary")
    primary["spec"]["replicas"] = replicas
    raw(
        harness.kube.apps.replace_namespaced_deployment,
        "podinfo-primary",
        harness.namespace,
        primary,
    )


def test_initialisation_creates_the_primary_hpa_with_the_targets_bounds_and_metrics(
    harness: Harness,
) -> None:
    harness.given_target(replicas=2)
    target_hpa = harness.given_autoscaler(low=2, high=6)
    harness.given_canary(**HPA)

    harness.run_until(lambda: harness.phase() == "Initialized")

    primary = harness.autoscaler("podinfo-primary")
    assert primary is not None
    assert primary["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "podinfo-primary",
    }
    for field in ("minReplicas", "maxReplicas", "metrics"):
        assert primary["spec"][field] == target_hpa["spec"][field], field
    (owner,) = primary["metadata"]["ownerReferences"]
    assert (owner["kind"], owner["uid"]) == ("Canary", harness.canary_object()["metadata"]["uid"])
    # The target's own HPA is left as it was; the target itself waits at zero.
    assert _spec(harness, "podinfo") == target_hpa["spec"]
    assert harness.replicas("podinfo") == 0


def test_promotion_updates_the_primary_hpa_when_the_target_hpa_changed_and_leaves_replicas_to_it(
    harness: Harness,
) -> None:
    harness.given_target(replicas=2)
    harness.given_autoscaler(low=2, high=6)
    harness.given_canary(**HPA)
    harness.run_until(lambda: harness.phase() == "Initialized")
    # The primary's HPA has scaled it up; a promotion must not put the target's count back.
    _scale_primary(harness, 5)
    behavior = {"scaleDown": {"stabilizationWindowSeconds": 60}}
    harness.patch_autoscaler("podinfo", {"spec": {"maxReplicas": 10, "behavior": behavior}})
    before = harness.autoscaler("podinfo-primary")
    assert before is not None
    assert before["spec"]["maxReplicas"] == 6

    harness.update_target(NEW_IMAGE)
    harness.run_until(lambda: harness.phase() == "Succeeded")

    assert harness.image("podinfo-primary") == NEW_IMAGE
    assert harness.replicas("podinfo-primary") == 5
    after = _spec(harness, "podinfo-primary")
    target = _spec(harness, "podinfo")
    assert (after["maxReplicas"], after["behavior"]) == (10, target["behavior"])
    assert after["scaleTargetRef"] == before["spec"]["scaleTargetRef"]


def test_a_rollout_keeps_an_unchanged_primary_hpa_as_it_is(harness: Harness) -> None:
    harness.given_target(replicas=2)
    harness.given_autoscaler()
    harness.given_canary(**HPA)
    harness.run_until(lambda: harness.phase() == "Initialized")
    before = harness.autoscaler("podinfo-primary")
    assert before is not None

    harness.update_target(NEW_IMAGE)
    harness.run_until(lambda: harness.phase() == "Succeeded")

    after = harness.autoscaler("podinfo-primary")
    assert after is not None
    assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]
    writes = [r for r in harness.controller_requests if "/horizontalpodautoscalers" in r.path]
    assert {r.method for r in writes} == {"GET", "POST"}


def test_scaling_from_zero_uses_the_hpa_minimum_rather_than_the_primarys_count(
    harness: Harness,
) -> None:
    harness.given_target(replicas=0)
    harness.given_autoscaler(low=3, high=6)
    harness.given_canary(**HPA)
    harness.run_until(lambda: harness.phase() == "Initialized")
    _scale_primary(harness, 5)

    harness.update_target(NEW_IMAGE)
    harness.run_until(lambda: harness.phase() == "Progressing")

    assert harness.replicas("podinfo") == 3


def test_a_missing_hpa_is_reported_and_the_rollout_completes_without_it(harness: Harness) -> None:
    harness.given_target(replicas=2)
    harness.given_canary(autoscalerRef={**HPA["autoscalerRef"], "name": "absent"})
    harness.run_until(lambda: harness.phase() == "Initialized")

    harness.update_target(NEW_IMAGE)
    harness.run_until(lambda: harness.phase() == "Succeeded")

    assert harness.image("podinfo-primary") == NEW_IMAGE
    assert harness.autoscaler("absent-primary") is None
    warnings = [e for e in harness.events() if e["reason"] == "AutoscalerNotFound"]
    assert warnings
    assert all(e["type"] == "Warning" for e in warnings)
    assert "absent" in warnings[0]["message"]


def test_the_primary_hpa_goes_with_the_canary_and_the_targets_stays(harness: Harness) -> None:
    harness.given_target(replicas=2)
    harness.given_autoscaler()
    harness.given_canary(revertOnDeletion=True, **HPA)
    harness.run_until(lambda: harness.phase() == "Initialized")
    assert harness.autoscaler("podinfo-primary") is not None

    harness.delete_canary()
    harness.run_until(lambda: harness.canary() is None, limit=5)

    if harness.env.is_emulator:  # a real garbage collector takes its time
        assert harness.autoscaler("podinfo-primary") is None
    assert harness.autoscaler("podinfo") is not None
    assert harness.replicas("podinfo") == 2
