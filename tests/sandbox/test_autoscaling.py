"""autoscaling/v2 HorizontalPodAutoscalers through the official client's AutoscalingV2Api (emulator or cluster)."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import pytest
from kubernetes import client, watch

JSON = dict[str, Any]
MERGE = "application/merge-patch+json"


def hpa(name: str, low: int = 2, high: int = 5, **spec: Any) -> JSON:
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": name},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
            "minReplicas": low,
            "maxReplicas": high,
            **spec,
        },
    }


def create_raw(api: client.ApiClient, namespace: str, body: JSON, **options: Any) -> JSON:
    """Create from a plain manifest: the typed client refuses what it cannot model before sending."""
    created: JSON = client.CustomObjectsApi(api).create_namespaced_custom_object(
        "autoscaling", "v2", namespace, "horizontalpodautoscalers", body, **options
    )
    return created


@pytest.fixture
def autoscaling(api: client.ApiClient) -> client.AutoscalingV2Api:
    return client.AutoscalingV2Api(api)


def test_discovery_lists_horizontal_pod_autoscalers_with_status(api: client.ApiClient) -> None:
    groups = {g.name: g for g in client.ApisApi(api).get_api_versions().groups}
    assert "v2" in {v.version for v in groups["autoscaling"].versions}
    resources = {r.name: r for r in client.AutoscalingV2Api(api).get_api_resources().resources}
    assert {"horizontalpodautoscalers", "horizontalpodautoscalers/status"} <= set(resources)
    main = resources["horizontalpodautoscalers"]
    assert (main.kind, main.namespaced, main.short_names) == (
        "HorizontalPodAutoscaler",
        True,
        ["hpa"],
    )
    assert {"create", "get", "list", "watch", "update", "patch", "delete"} <= set(main.verbs)


def test_create_get_replace_patch_and_list(
    autoscaling: client.AutoscalingV2Api, namespace: str
) -> None:
    created = autoscaling.create_namespaced_horizontal_pod_autoscaler(namespace, hpa("web"))
    assert created.spec.min_replicas == 2
    got = autoscaling.read_namespaced_horizontal_pod_autoscaler("web", namespace)
    assert got.spec.scale_target_ref.name == "web"

    got.spec.max_replicas = 8
    replaced = autoscaling.replace_namespaced_horizontal_pod_autoscaler("web", namespace, got)
    assert replaced.spec.max_replicas == 8
    assert int(replaced.metadata.resource_version) > int(got.metadata.resource_version)

    patched = autoscaling.patch_namespaced_horizontal_pod_autoscaler(
        "web", namespace, {"spec": {"minReplicas": 3}}, _content_type=MERGE
    )
    assert (patched.spec.min_replicas, patched.spec.max_replicas) == (3, 8)
    strategic = autoscaling.patch_namespaced_horizontal_pod_autoscaler(
        "web", namespace, {"metadata": {"labels": {"team": "a"}}}
    )
    assert strategic.metadata.labels == {"team": "a"}

    listed = autoscaling.list_namespaced_horizontal_pod_autoscaler(namespace)
    assert [i.metadata.name for i in listed.items] == ["web"]
    everywhere = autoscaling.list_horizontal_pod_autoscaler_for_all_namespaces(
        label_selector="team=a"
    )
    assert [i.metadata.name for i in everywhere.items if i.metadata.namespace == namespace] == [
        "web"
    ]


def test_the_api_server_defaults_min_replicas_metrics_and_behavior(
    autoscaling: client.AutoscalingV2Api, namespace: str
) -> None:
    body = hpa("web", behavior={"scaleDown": {"stabilizationWindowSeconds": 60}})
    del body["spec"]["minReplicas"]
    created = autoscaling.create_namespaced_horizontal_pod_autoscaler(namespace, body)
    assert created.spec.min_replicas == 1
    (metric,) = created.spec.metrics
    assert (metric.type, metric.resource.name, metric.resource.target.average_utilization) == (
        "Resource",
        "cpu",
        80,
    )
    down, up = created.spec.behavior.scale_down, created.spec.behavior.scale_up
    assert (down.stabilization_window_seconds, down.select_policy) == (60, "Max")
    assert [(p.type, p.value, p.period_seconds) for p in up.policies] == [
        ("Pods", 4, 15),
        ("Percent", 100, 15),
    ]


def test_quantities_in_metric_targets_accept_numbers(
    autoscaling: client.AutoscalingV2Api, namespace: str
) -> None:
    metric = {
        "type": "Pods",
        "pods": {
            "metric": {"name": "requests_per_second"},
            "target": {"type": "AverageValue", "averageValue": 100},
        },
    }
    created = create_raw(autoscaling.api_client, namespace, hpa("web", metrics=[metric]))
    # The server answers with the Quantity's canonical string, which the typed client can read.
    assert created["spec"]["metrics"][0]["pods"]["target"]["averageValue"] == "100"
    read = autoscaling.read_namespaced_horizontal_pod_autoscaler("web", namespace)
    assert read.spec.metrics[0].pods.target.average_value == "100"


def test_status_is_written_only_through_the_status_subresource(
    autoscaling: client.AutoscalingV2Api, namespace: str
) -> None:
    autoscaling.create_namespaced_horizontal_pod_autoscaler(namespace, hpa("web"))
    live = autoscaling.read_namespaced_horizontal_pod_autoscaler("web", namespace)
    live.status.desired_replicas = 4
    live.status.current_replicas = 3
    written = autoscaling.replace_namespaced_horizontal_pod_autoscaler_status(
        "web", namespace, live
    )
    assert (written.status.current_replicas, written.status.desired_replicas) == (3, 4)

    written.status.desired_replicas = 9
    written.spec.max_replicas = 6
    replaced = autoscaling.replace_namespaced_horizontal_pod_autoscaler("web", namespace, written)
    assert (replaced.spec.max_replicas, replaced.status.desired_replicas) == (6, 4)


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ({"minReplicas": 4, "maxReplicas": 2}, "spec.maxReplicas"),
        ({"maxReplicas": 0}, "spec.maxReplicas"),
        ({"scaleTargetRef": {"kind": "Deployment"}}, "spec.scaleTargetRef.name"),
        ({"metrics": [{"type": "Memory"}]}, "spec.metrics[0].type"),
    ],
)
def test_invalid_autoscalers_are_422_with_the_field(
    autoscaling: client.AutoscalingV2Api, namespace: str, spec: JSON, field: str
) -> None:
    body = hpa("web")
    body["spec"].update(spec)
    with pytest.raises(client.ApiException) as caught:
        create_raw(autoscaling.api_client, namespace, body)
    status = json.loads(caught.value.body)
    assert (status["code"], status["reason"]) == (422, "Invalid")
    assert field in [c["field"] for c in status["details"]["causes"]]


def test_unknown_fields_are_pruned_and_strict_validation_refuses_them(
    autoscaling: client.AutoscalingV2Api, namespace: str
) -> None:
    body = hpa("web")
    body["spec"]["minReplica"] = 3
    with pytest.raises(client.ApiException) as caught:
        create_raw(autoscaling.api_client, namespace, body, field_validation="Strict")
    assert caught.value.status == 400
    assert "minReplica" not in create_raw(autoscaling.api_client, namespace, body)["spec"]


def test_watch_streams_added_modified_deleted(
    autoscaling: client.AutoscalingV2Api, namespace: str
) -> None:
    rv = autoscaling.list_namespaced_horizontal_pod_autoscaler(namespace).metadata.resource_version

    def writer() -> None:
        time.sleep(0.2)
        autoscaling.create_namespaced_horizontal_pod_autoscaler(namespace, hpa("web"))
        autoscaling.patch_namespaced_horizontal_pod_autoscaler(
            "web", namespace, {"spec": {"maxReplicas": 9}}, _content_type=MERGE
        )
        autoscaling.delete_namespaced_horizontal_pod_autoscaler("web", namespace)

    thread = threading.Thread(target=writer)
    thread.start()
    events = watch.Watch().stream(
        autoscaling.list_namespaced_horizontal_pod_autoscaler,
        namespace,
        resource_version=rv,
        timeout_seconds=1,
    )
    seen = [(e["type"], e["object"].spec.max_replicas) for e in events]
    thread.join()
    assert seen == [("ADDED", 5), ("MODIFIED", 9), ("DELETED", 9)]
