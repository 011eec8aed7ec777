"""Conformance: each test drives one API-server behaviour through the official client only.

The `env` fixture is the emulator, or the real cluster named by KUBECONFIG: the same assertions
hold on both. Tests that need an emulator-only knob (a short watch history) skip on a cluster.
Section names refer to https://kubernetes.io/docs/reference/using-api/api-concepts/.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from kubernetes import client, watch
from kubernetes.leaderelection import electionconfig, leaderelection
from kubernetes.leaderelection.resourcelock.leaselock import LeaseLock

from canary.sandbox import testing

JSON = dict[str, Any]
MERGE = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
APPLY = "application/apply-patch+yaml"
GROUP, VERSION = "sandbox.canary.dev", "v1"


def raw(call: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """The server's JSON, untouched by the client's models."""
    return json.loads(call(*args, _preload_content=False, **kwargs).data)


def failure(call: Callable[..., Any], *args: Any, **kwargs: Any) -> JSON:
    """The Status body of a call that must fail."""
    with pytest.raises(client.ApiException) as caught:
        call(*args, **kwargs)
    body: JSON = json.loads(caught.value.body)
    assert body["code"] == caught.value.status
    return body


def widget(name: str, size: int = 1, **spec: Any) -> JSON:
    return {"apiVersion": f"{GROUP}/{VERSION}", "kind": "Widget", "metadata": {"name": name},
            "spec": {"size": size, **spec}}  # fmt: skip


def deployment(name: str, image: str = "nginx:1.25", labels: JSON | None = None) -> JSON:
    return {
        "metadata": {"name": name, "labels": labels or {"app": name}},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "app", "image": image,
                                         "ports": [{"containerPort": 8080, "name": "http"}]}]},
            },
        },
    }  # fmt: skip


@pytest.fixture
def core(api: client.ApiClient) -> client.CoreV1Api:
    return client.CoreV1Api(api)


@pytest.fixture
def apps(api: client.ApiClient) -> client.AppsV1Api:
    return client.AppsV1Api(api)


@pytest.fixture
def custom(api: client.ApiClient) -> client.CustomObjectsApi:
    return client.CustomObjectsApi(api)


def create_widget(custom: client.CustomObjectsApi, namespace: str, name: str, **spec: Any) -> JSON:
    created: JSON = custom.create_namespaced_custom_object(
        GROUP, VERSION, namespace, "widgets", widget(name, **spec)
    )
    return created


# -- discovery ----------------------------------------------------------------------------------


def test_discovery_serves_version_core_groups_and_custom_resources(api: client.ApiClient) -> None:
    """Discovery: /version/, /api, /apis and group-version resource lists (incl. CRD resources)."""
    assert client.VersionApi(api).get_code().major == "1"
    assert "v1" in client.CoreApi(api).get_api_versions().versions
    groups = {g.name for g in client.ApisApi(api).get_api_versions().groups}
    assert {"apps", "coordination.k8s.io", "apiextensions.k8s.io", GROUP} <= groups
    resources = {r.name for r in client.AppsV1Api(api).get_api_resources().resources}
    assert {"deployments", "deployments/status"} <= resources
    listed = client.CustomObjectsApi(api).get_api_resources(GROUP, VERSION)
    assert {r.name for r in listed.resources} >= {"widgets", "widgets/status"}


# -- create, get, errors ------------------------------------------------------------------------


def test_create_answers_201_with_server_set_metadata(custom: client.CustomObjectsApi,
                                                     namespace: str) -> None:  # fmt: skip
    """Create: 201 (the client returns the body only for 201), uid, RV, timestamp, generation 1."""
    created = create_widget(custom, namespace, "w1")
    meta = created["metadata"]
    assert created["spec"]["size"] == 1
    assert meta["namespace"] == namespace
    assert meta["uid"]
    assert meta["creationTimestamp"]
    assert int(meta["resourceVersion"]) > 0
    assert meta["generation"] == 1


def test_duplicate_create_is_409_already_exists(core: client.CoreV1Api, namespace: str) -> None:
    """Create of an existing name: 409 AlreadyExists with the name in the details."""
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "cm"}})
    status = failure(core.create_namespaced_config_map, namespace, {"metadata": {"name": "cm"}})
    assert (status["code"], status["reason"], status["details"]["name"]) == (
        409,
        "AlreadyExists",
        "cm",
    )
    assert status["kind"] == "Status"
    assert status["status"] == "Failure"


def test_missing_object_is_404_not_found(apps: client.AppsV1Api, namespace: str) -> None:
    """Get of a missing object: 404 NotFound Status naming the resource and the object."""
    status = failure(apps.read_namespaced_deployment, "ghost", namespace)
    assert (status["code"], status["reason"]) == (404, "NotFound")
    assert status["message"] == 'deployments.apps "ghost" not found'
    assert status["details"] == {"name": "ghost", "group": "apps", "kind": "deployments"}


def test_create_in_a_missing_namespace_is_404(core: client.CoreV1Api) -> None:
    """Create in a namespace that does not exist: 404 NotFound for the namespace."""
    status = failure(core.create_namespaced_config_map, "no-such-ns", {"metadata": {"name": "x"}})
    assert (status["code"], status["reason"]) == (404, "NotFound")
    assert "namespaces" in status["message"]


def test_bad_requests_get_status_bodies(custom: client.CustomObjectsApi, namespace: str) -> None:
    """Unknown resources are 404 NotFound; a body of another apiVersion is 400 BadRequest."""
    status = failure(custom.list_namespaced_custom_object, GROUP, VERSION, namespace, "nonsense")
    assert (status["code"], status["reason"]) == (404, "NotFound")
    body = {**widget("w"), "apiVersion": f"{GROUP}/v9"}
    status = failure(custom.create_namespaced_custom_object, GROUP, VERSION, namespace, "widgets",
                     body)  # fmt: skip
    assert (status["code"], status["reason"]) == (400, "BadRequest")
    assert "does not match the expected API version" in status["message"]


def test_create_with_a_resource_version_is_rejected(core: client.CoreV1Api, namespace: str) -> None:
    """Create of an object that carries a resourceVersion: the storage layer's reason-less 500."""
    body = {"metadata": {"name": "cm", "resourceVersion": "42"}}
    status = failure(core.create_namespaced_config_map, namespace, body)
    assert status["code"] == 500
    assert status["message"] == "resourceVersion should not be set on objects to be created"


@pytest.mark.parametrize("name", [
    pytest.param("Upper", id="uppercase"),
    pytest.param("under_score", id="underscore"),
    pytest.param("-leading-dash", id="leading-dash"),
    pytest.param("x" * 254, id="too-long"),
])  # fmt: skip
def test_invalid_names_are_422_invalid(core: client.CoreV1Api, namespace: str, name: str) -> None:
    """Names that are not DNS-1123 subdomains: 422 Invalid with a metadata.name cause."""
    status = failure(core.create_namespaced_config_map, namespace, {"metadata": {"name": name}})
    assert (status["code"], status["reason"]) == (422, "Invalid")
    assert status["details"]["causes"][0]["field"] == "metadata.name"


# -- resourceVersion and optimistic concurrency --------------------------------------------------


def test_resource_version_is_global_and_increases_with_every_write(
    core: client.CoreV1Api, custom: client.CustomObjectsApi, namespace: str
) -> None:
    """resourceVersion: one counter across kinds; every write gets a larger one (list RV too)."""
    versions = [
        int(
            core.create_namespaced_config_map(
                namespace, {"metadata": {"name": "a"}}
            ).metadata.resource_version
        )
    ]
    versions.append(int(create_widget(custom, namespace, "w")["metadata"]["resourceVersion"]))
    versions.append(
        int(
            core.patch_namespaced_config_map(
                "a", namespace, {"data": {"k": "v"}}, _content_type=MERGE
            ).metadata.resource_version
        )
    )
    versions.append(int(core.list_namespaced_config_map(namespace).metadata.resource_version))
    assert versions == sorted(versions)
    assert len(set(versions[:3])) == 3


def test_update_with_stale_resource_version_is_409_conflict(core: client.CoreV1Api,
                                                            namespace: str) -> None:  # fmt: skip
    """PUT with an outdated metadata.resourceVersion: 409 Conflict; with the current one: 200."""
    first = core.create_namespaced_config_map(namespace, {"metadata": {"name": "cm"}})
    core.patch_namespaced_config_map("cm", namespace, {"data": {"a": "1"}}, _content_type=MERGE)
    first.data = {"b": "2"}
    status = failure(core.replace_namespaced_config_map, "cm", namespace, first)
    assert (status["code"], status["reason"]) == (409, "Conflict")
    assert "the object has been modified" in status["message"]
    current = core.read_namespaced_config_map("cm", namespace)
    current.data = {"b": "2"}
    assert core.replace_namespaced_config_map("cm", namespace, current).data == {"b": "2"}


def test_patch_carrying_a_stale_resource_version_is_409_conflict(
    custom: client.CustomObjectsApi, namespace: str
) -> None:
    """A patch that sets metadata.resourceVersion is a precondition: stale means 409 Conflict."""
    created = create_widget(custom, namespace, "w")
    stale = created["metadata"]["resourceVersion"]
    custom.patch_namespaced_custom_object(GROUP, VERSION, namespace, "widgets", "w",
                                          {"spec": {"size": 2}})  # fmt: skip
    status = failure(
        custom.patch_namespaced_custom_object,
        GROUP,
        VERSION,
        namespace,
        "widgets",
        "w",
        {"metadata": {"resourceVersion": stale}, "spec": {"size": 3}},
    )
    assert (status["code"], status["reason"]) == (409, "Conflict")


def test_no_op_write_keeps_the_resource_version(core: client.CoreV1Api, namespace: str) -> None:
    """A write that changes nothing is not stored: the resourceVersion stays the same."""
    created = core.create_namespaced_config_map(namespace, {"metadata": {"name": "cm"},
                                                            "data": {"a": "1"}})  # fmt: skip
    again = core.patch_namespaced_config_map("cm", namespace, {"data": {"a": "1"}},
                                             _content_type=MERGE)  # fmt: skip
    assert again.metadata.resource_version == created.metadata.resource_version


# -- generation and the status subresource -------------------------------------------------------


def test_generation_bumps_on_spec_changes_only(custom: client.CustomObjectsApi,
                                               namespace: str) -> None:  # fmt: skip
    """metadata.generation: +1 for a spec change, unchanged for labels and for status."""

    def patch(body: JSON, subresource: str = "") -> int:
        call = (custom.patch_namespaced_custom_object_status if subresource
                else custom.patch_namespaced_custom_object)  # fmt: skip
        result: JSON = call(GROUP, VERSION, namespace, "widgets", "w", body)
        return int(result["metadata"]["generation"])

    create_widget(custom, namespace, "w")
    assert patch({"metadata": {"labels": {"a": "b"}}}) == 1
    assert patch({"status": {"phase": "Ready"}}, "status") == 1
    assert patch({"spec": {"size": 5}}) == 2


def test_status_subresource_writes_only_status(custom: client.CustomObjectsApi,
                                               namespace: str) -> None:  # fmt: skip
    """/status: a write there changes status and nothing else."""
    create_widget(custom, namespace, "w", size=1)
    result = custom.patch_namespaced_custom_object_status(
        GROUP,
        VERSION,
        namespace,
        "widgets",
        "w",
        {"spec": {"size": 9}, "metadata": {"labels": {"x": "y"}}, "status": {"phase": "Ready"}},
    )
    assert result["status"] == {"phase": "Ready"}
    assert result["spec"]["size"] == 1
    assert "labels" not in result["metadata"]


def test_main_resource_writes_ignore_status(custom: client.CustomObjectsApi,
                                            namespace: str) -> None:  # fmt: skip
    """Main endpoint: create drops .status, and updates keep the stored status."""
    body = widget("w")
    body["status"] = {"phase": "Forged"}
    created = custom.create_namespaced_custom_object(GROUP, VERSION, namespace, "widgets", body)
    assert "status" not in created
    custom.patch_namespaced_custom_object_status(GROUP, VERSION, namespace, "widgets", "w",
                                                 {"status": {"phase": "Ready"}})  # fmt: skip
    result = custom.patch_namespaced_custom_object(
        GROUP, VERSION, namespace, "widgets", "w", {"spec": {"size": 4}, "status": {"phase": "X"}}
    )
    assert result["status"] == {"phase": "Ready"}
    assert result["spec"]["size"] == 4


def test_deployment_gets_api_server_defaults_and_empty_status(apps: client.AppsV1Api,
                                                              namespace: str) -> None:  # fmt: skip
    """Deployments are defaulted (strategy, revisionHistoryLimit, ...) and start with status {}."""
    created = raw(apps.create_namespaced_deployment, namespace, deployment("web"))
    spec = created["spec"]
    assert spec["strategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"},
    }
    assert (spec["revisionHistoryLimit"], spec["progressDeadlineSeconds"]) == (10, 600)
    container = spec["template"]["spec"]["containers"][0]
    assert container["imagePullPolicy"] == "IfNotPresent"
    assert container["ports"][0]["protocol"] == "TCP"
    assert spec["template"]["spec"]["restartPolicy"] == "Always"
    assert created["status"] == {}
    assert created["metadata"]["generation"] == 1


def test_unknown_fields_of_built_in_kinds_are_dropped(apps: client.AppsV1Api,
                                                     namespace: str) -> None:  # fmt: skip
    """Built-in kinds decode into typed structs: unknown fields vanish (fieldValidation=Warn)."""
    apps.create_namespaced_deployment(namespace, deployment("web"))
    patch = {"spec": {"replica": 3, "template": {"spec": {"containers": [
        {"name": "app", "imagePullPolice": "Always"}]}}}}  # fmt: skip
    patched = raw(apps.patch_namespaced_deployment, "web", namespace, patch)
    assert "replica" not in patched["spec"]
    assert "imagePullPolice" not in patched["spec"]["template"]["spec"]["containers"][0]


def test_a_patch_that_mistypes_a_built_in_field_is_422_invalid(apps: client.AppsV1Api,
                                                              namespace: str) -> None:  # fmt: skip
    """A patched built-in object that does not decode (wrong JSON type): 422 on field `patch`."""
    apps.create_namespaced_deployment(namespace, deployment("web"))
    status = failure(apps.patch_namespaced_deployment, "web", namespace,
                     {"spec": {"replicas": "three"}}, _content_type=MERGE)  # fmt: skip
    assert (status["code"], status["reason"]) == (422, "Invalid")
    assert status["details"]["causes"][0]["field"] == "patch"


def _set(doc: JSON, path: str, value: Any) -> JSON:
    target = doc
    keys = [int(k) if k.isdigit() else k for k in path.split(".")]
    for key in keys[:-1]:
        target = target[key]
    target[keys[-1]] = value
    return doc


@pytest.mark.parametrize(("path", "value", "field"), [
    pytest.param("spec.strategy", {"type": "Blue"}, "spec.strategy.type", id="strategy-type"),
    pytest.param("spec.strategy", {"type": "Recreate", "rollingUpdate": {"maxSurge": 1}},
                 "spec.strategy.rollingUpdate", id="recreate-with-rolling-update"),
    pytest.param("spec.template.spec.containers.0.ports.0.containerPort", 70000,
                 "spec.template.spec.containers[0].ports[0].containerPort", id="port-range"),
    pytest.param("spec.template.spec.containers.0.imagePullPolicy", "Sometimes",
                 "spec.template.spec.containers[0].imagePullPolicy", id="pull-policy"),
    pytest.param("spec.template.spec.restartPolicy", "Never",
                 "spec.template.spec.restartPolicy", id="restart-policy"),
    pytest.param("spec.template.metadata.labels", {"app": "other"},
                 "spec.template.metadata.labels", id="selector-mismatch"),
])  # fmt: skip
def test_invalid_deployments_are_422_with_the_field(apps: client.AppsV1Api, namespace: str,
                                                   path: str, value: Any, field: str) -> None:  # fmt: skip
    """Built-in validation the controller can trip over: enums, port ranges, selector match."""
    body = _set(deployment("web"), path, value)
    status = failure(apps.create_namespaced_deployment, namespace, body)
    assert (status["code"], status["reason"]) == (422, "Invalid")
    assert field in {c.get("field") for c in status["details"]["causes"]}


def test_service_gets_a_cluster_ip_and_a_defaulted_target_port(core: client.CoreV1Api,
                                                               namespace: str) -> None:  # fmt: skip
    """Services: clusterIP allocated, ports[].targetPort defaults to port, type ClusterIP."""
    svc = core.create_namespaced_service(namespace, {
        "metadata": {"name": "web"},
        "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]},
    })  # fmt: skip
    assert svc.spec.cluster_ip
    assert svc.spec.cluster_ip != "None"
    assert svc.spec.ports[0].target_port == 80
    assert svc.spec.type == "ClusterIP"
    replaced = core.replace_namespaced_service("web", namespace, {
        "metadata": {"name": "web", "resourceVersion": svc.metadata.resource_version},
        "spec": {"selector": {"app": "web2"}, "ports": [{"port": 80}]},
    })  # fmt: skip
    assert replaced.spec.cluster_ip == svc.spec.cluster_ip


def test_deployment_status_subresource_is_writable_with_observed_generation(
    env: testing.Environment, apps: client.AppsV1Api, namespace: str
) -> None:
    """Deployment /status: the observedGeneration pattern works, and spec writes keep status."""
    env.require_emulator()  # on a cluster the Deployment controller writes this status too
    apps.create_namespaced_deployment(namespace, deployment("web"))
    apps.patch_namespaced_deployment_status(
        "web", namespace, {"status": {"observedGeneration": 1, "readyReplicas": 2}},
        _content_type=MERGE)  # fmt: skip
    patched = apps.patch_namespaced_deployment("web", namespace, {"spec": {"replicas": 3}},
                                               _content_type=MERGE)  # fmt: skip
    assert patched.metadata.generation == 2
    assert (patched.status.observed_generation, patched.status.ready_replicas) == (1, 2)


def test_deployment_scale_subresource_reads_and_writes_replicas(apps: client.AppsV1Api,
                                                                namespace: str) -> None:  # fmt: skip
    """/scale: an autoscaling/v1 Scale with the selector; writing it changes spec.replicas."""
    apps.create_namespaced_deployment(namespace, deployment("web"))
    current = apps.read_namespaced_deployment_scale("web", namespace)
    assert (current.spec.replicas, current.status.selector) == (2, "app=web")
    apps.patch_namespaced_deployment_scale("web", namespace, {"spec": {"replicas": 5}},
                                           _content_type=MERGE)  # fmt: skip
    assert apps.read_namespaced_deployment("web", namespace).spec.replicas == 5
    stale = current.to_dict()
    stale["spec"]["replicas"] = 1
    status = failure(apps.replace_namespaced_deployment_scale, "web", namespace, stale)
    assert (status["code"], status["reason"]) == (409, "Conflict")


# -- patches -------------------------------------------------------------------------------------


def test_merge_patch_on_a_custom_resource(custom: client.CustomObjectsApi, namespace: str) -> None:
    """JSON merge patch: objects merge, null deletes, lists replace."""
    create_widget(custom, namespace, "w", color="red", weights=[1, 2])
    result = custom.patch_namespaced_custom_object(
        GROUP, VERSION, namespace, "widgets", "w", {"spec": {"color": None, "weights": [3]}}
    )
    assert result["spec"] == {"size": 1, "tier": "standard", "weights": [3]}


def test_json_patch_on_a_custom_resource(custom: client.CustomObjectsApi, namespace: str) -> None:
    """JSON patch (RFC 6902) with an explicit content type; a failing `test` op is 422."""
    create_widget(custom, namespace, "w", weights=[1])
    ops = [{"op": "test", "path": "/spec/size", "value": 1},
           {"op": "add", "path": "/spec/weights/-", "value": 2}]  # fmt: skip
    result = custom.patch_namespaced_custom_object(GROUP, VERSION, namespace, "widgets", "w", ops,
                                                   _content_type=JSON_PATCH)  # fmt: skip
    assert result["spec"]["weights"] == [1, 2]
    ops[0]["value"] = 99
    status = failure(
        custom.patch_namespaced_custom_object,
        GROUP,
        VERSION,
        namespace,
        "widgets",
        "w",
        ops,
        _content_type=JSON_PATCH,
    )
    assert status["code"] == 422


def test_strategic_merge_patch_merges_containers_and_ports_by_key(
    apps: client.AppsV1Api, namespace: str
) -> None:
    """Strategic merge (the client's default for built-ins): containers by name, ports by port."""
    apps.create_namespaced_deployment(namespace, deployment("web"))
    patch = {"spec": {"template": {"spec": {"containers": [
        {"name": "sidecar", "image": "envoy:1"},
        {"name": "app", "image": "nginx:1.26", "ports": [{"containerPort": 9090, "name": "metrics"}]},
    ]}}}}  # fmt: skip
    result = apps.patch_namespaced_deployment("web", namespace, patch)
    containers = {c.name: c for c in result.spec.template.spec.containers}
    assert set(containers) == {"app", "sidecar"}
    assert containers["app"].image == "nginx:1.26"
    assert {p.container_port for p in containers["app"].ports} == {8080, 9090}


def test_strategic_merge_patch_on_a_custom_resource_is_415(custom: client.CustomObjectsApi,
                                                           namespace: str) -> None:  # fmt: skip
    """Custom resources have no patch strategy: strategic merge is 415 UnsupportedMediaType."""
    create_widget(custom, namespace, "w")
    status = failure(
        custom.patch_namespaced_custom_object,
        GROUP,
        VERSION,
        namespace,
        "widgets",
        "w",
        {"spec": {"size": 2}},
        _content_type="application/strategic-merge-patch+json",
    )
    assert (status["code"], status["reason"]) == (415, "UnsupportedMediaType")


def test_server_side_apply_creates_merges_and_records_the_field_manager(
    core: client.CoreV1Api, namespace: str
) -> None:
    """Server-side apply: creates, then merges; managedFields name the manager with Apply."""
    body = {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "cm", "labels": {"a": "1"}}, "data": {"x": "1"}}  # fmt: skip
    core.patch_namespaced_config_map("cm", namespace, body, field_manager="canary",
                                     _content_type=APPLY)  # fmt: skip
    body["data"] = {"y": "2"}
    applied = raw(core.patch_namespaced_config_map, "cm", namespace, body,
                  field_manager="canary", _content_type=APPLY)  # fmt: skip
    assert applied["data"] == {"y": "2"}  # fields no longer applied by the manager are removed
    managers = {(m["manager"], m["operation"]) for m in applied["metadata"]["managedFields"]}
    assert ("canary", "Apply") in managers


# -- selectors -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("selector", "expected"), [
    pytest.param("track=canary", {"canary"}, id="equals"),
    pytest.param("track==canary", {"canary"}, id="double-equals"),
    pytest.param("track!=canary", {"primary", "plain"}, id="not-equals-includes-missing"),
    pytest.param("track in (canary,primary)", {"canary", "primary"}, id="in"),
    pytest.param("track notin (canary)", {"primary", "plain"}, id="notin"),
    pytest.param("track", {"canary", "primary"}, id="exists"),
    pytest.param("!track", {"plain"}, id="does-not-exist"),
    pytest.param("app=web,track!=primary", {"canary", "plain"}, id="and"),
])  # fmt: skip
def test_label_selectors(core: client.CoreV1Api, namespace: str, selector: str,
                         expected: set[str]) -> None:  # fmt: skip
    """labelSelector: =, ==, !=, in, notin, exists and !, combined with commas (AND)."""
    for name, labels in [("canary", {"app": "web", "track": "canary"}),
                         ("primary", {"app": "web", "track": "primary"}),
                         ("plain", {"app": "web"})]:  # fmt: skip
        core.create_namespaced_config_map(namespace, {"metadata": {"name": name, "labels": labels}})
    listed = core.list_namespaced_config_map(namespace, label_selector=selector)
    # A real cluster adds kube-root-ca.crt to every namespace; only our objects count here.
    ours = {cm.metadata.name for cm in listed.items} & {"canary", "primary", "plain"}
    assert ours == expected


def test_field_selectors_on_names_and_event_fields(core: client.CoreV1Api, namespace: str) -> None:
    """fieldSelector: metadata.name, Event involvedObject.name; an unknown field is 400."""
    for name in ("a", "b"):
        core.create_namespaced_config_map(namespace, {"metadata": {"name": name}})
        core.create_namespaced_event(namespace, {
            "metadata": {"name": f"ev-{name}"}, "reason": "Tested", "type": "Normal",
            "involvedObject": {"kind": "ConfigMap", "name": name, "namespace": namespace},
        })  # fmt: skip
    names = core.list_namespaced_config_map(namespace, field_selector="metadata.name=b").items
    assert [cm.metadata.name for cm in names] == ["b"]
    events = core.list_namespaced_event(namespace, field_selector="involvedObject.name=a").items
    assert [e.metadata.name for e in events] == ["ev-a"]
    status = failure(core.list_namespaced_config_map, namespace, field_selector="data.k=v")
    assert (status["code"], status["reason"]) == (400, "BadRequest")


# -- watch ---------------------------------------------------------------------------------------


def test_watch_from_a_resource_version_streams_added_modified_deleted(
    core: client.CoreV1Api, namespace: str
) -> None:
    """Watch from the list RV: only later changes, in order; the stream ends at timeoutSeconds."""
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "before"}})
    rv = core.list_namespaced_config_map(namespace).metadata.resource_version

    def writer() -> None:
        time.sleep(0.2)
        core.create_namespaced_config_map(namespace, {"metadata": {"name": "cm"}})
        core.patch_namespaced_config_map("cm", namespace, {"data": {"a": "1"}}, _content_type=MERGE)
        core.delete_namespaced_config_map("cm", namespace)

    thread = threading.Thread(target=writer)
    thread.start()
    started = time.monotonic()
    seen = [
        (e["type"], e["object"].metadata.name)
        for e in watch.Watch().stream(
            core.list_namespaced_config_map, namespace, resource_version=rv, timeout_seconds=2
        )
    ]
    thread.join()
    seen = [event for event in seen if event[1] == "cm"]  # a real cluster adds its own objects
    assert seen == [("ADDED", "cm"), ("MODIFIED", "cm"), ("DELETED", "cm")]
    assert 1.5 < time.monotonic() - started < 5


def test_watch_without_resource_version_starts_with_the_current_objects(
    core: client.CoreV1Api, namespace: str
) -> None:
    """Watch without a resourceVersion: synthetic ADDED events for what exists, then changes."""
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "a"}})
    events = list(watch.Watch().stream(core.list_namespaced_config_map, namespace,
                                       timeout_seconds=1))  # fmt: skip
    seen = [(e["type"], e["object"].metadata.name) for e in events]
    assert [event for event in seen if event[1] != "kube-root-ca.crt"] == [("ADDED", "a")]


def test_watch_from_an_expired_resource_version_is_410_gone(env: testing.Environment) -> None:
    """Watch from an RV older than the retained history: ERROR 410 Expired (history is a knob)."""
    env.require_emulator()
    with testing.sandbox(history=3) as small:
        core = client.CoreV1Api(small.api_client)
        first = core.create_namespaced_config_map("default", {"metadata": {"name": "cm"}})
        for i in range(5):
            core.patch_namespaced_config_map("cm", "default", {"data": {"i": str(i)}},
                                             _content_type=MERGE)  # fmt: skip
        response = core.list_namespaced_config_map(
            "default", watch=True, resource_version=first.metadata.resource_version,
            timeout_seconds=1, _preload_content=False)  # fmt: skip
        events = [json.loads(line) for line in response.data.splitlines()]
        assert [e["type"] for e in events] == ["ERROR"]
        assert (events[0]["object"]["code"], events[0]["object"]["reason"]) == (410, "Expired")
        with pytest.raises(client.ApiException) as caught:
            list(watch.Watch().stream(core.list_namespaced_config_map, "default",
                                      resource_version=first.metadata.resource_version,
                                      timeout_seconds=1))  # fmt: skip
        assert caught.value.status == 410


def test_watch_sends_bookmarks_when_asked(env: testing.Environment) -> None:
    """allowWatchBookmarks: BOOKMARK events carry a resourceVersion to resume from."""
    env.require_emulator()
    with testing.sandbox(bookmark_interval=0.2) as quick:
        core = client.CoreV1Api(quick.api_client)
        rv = core.list_namespaced_config_map("default").metadata.resource_version
        events = list(watch.Watch().stream(core.list_namespaced_config_map, "default",
                                           resource_version=rv, allow_watch_bookmarks=True,
                                           timeout_seconds=1))  # fmt: skip
        bookmarks = [e for e in events if e["type"] == "BOOKMARK"]
        assert bookmarks
        assert int(bookmarks[-1]["raw_object"]["metadata"]["resourceVersion"]) >= int(rv)


# -- deletion ------------------------------------------------------------------------------------


def test_deletion_waits_for_finalizers(custom: client.CustomObjectsApi, namespace: str) -> None:
    """DELETE of an object with finalizers sets deletionTimestamp; clearing them removes it."""
    body = widget("w")
    body["metadata"]["finalizers"] = ["canary.dev/cleanup"]
    custom.create_namespaced_custom_object(GROUP, VERSION, namespace, "widgets", body)
    custom.delete_namespaced_custom_object(GROUP, VERSION, namespace, "widgets", "w")
    pending = custom.get_namespaced_custom_object(GROUP, VERSION, namespace, "widgets", "w")
    assert pending["metadata"]["deletionTimestamp"]
    custom.patch_namespaced_custom_object(GROUP, VERSION, namespace, "widgets", "w",
                                          {"metadata": {"finalizers": None}})  # fmt: skip
    testing.eventually(
        lambda: (
            failure(custom.get_namespaced_custom_object, GROUP, VERSION, namespace, "widgets", "w")[
                "code"
            ]
            == 404
        )
    )


def test_owner_references_cascade_deletion_like_the_garbage_collector(
    apps: client.AppsV1Api, core: client.CoreV1Api, namespace: str
) -> None:
    """ownerReferences: deleting the owner deletes dependents (background), orphan keeps them."""
    owners = {}
    for name in ("kept", "gone"):
        owner = apps.create_namespaced_deployment(namespace, deployment(name))
        owners[name] = owner
        ref = {"apiVersion": "apps/v1", "kind": "Deployment", "name": name,
               "uid": owner.metadata.uid}  # fmt: skip
        core.create_namespaced_config_map(
            namespace, {"metadata": {"name": f"{name}-cm", "ownerReferences": [ref]}}
        )
    apps.delete_namespaced_deployment("gone", namespace)
    apps.delete_namespaced_deployment("kept", namespace, propagation_policy="Orphan")

    def settled() -> bool:
        names = {cm.metadata.name for cm in core.list_namespaced_config_map(namespace).items}
        return "gone-cm" not in names and "kept-cm" in names

    testing.eventually(settled, timeout=30)
    orphan = core.read_namespaced_config_map("kept-cm", namespace)
    testing.eventually(
        lambda: not core.read_namespaced_config_map("kept-cm", namespace).metadata.owner_references,
        timeout=30,
    )
    assert orphan.metadata.name == "kept-cm"


# -- leases and leader election ------------------------------------------------------------------


def test_lease_create_renew_and_conflicting_update(api: client.ApiClient, namespace: str) -> None:
    """Lease: create, renew by PUT with the resourceVersion, a competing stale PUT gets 409."""
    leases = client.CoordinationV1Api(api)
    created = leases.create_namespaced_lease(namespace, {
        "metadata": {"name": "leader"},
        "spec": {"holderIdentity": "a", "leaseDurationSeconds": 15},
    })  # fmt: skip
    created.spec.renew_time = "2026-01-01T00:00:00.000000Z"
    renewed = leases.replace_namespaced_lease("leader", namespace, created)
    assert renewed.metadata.resource_version != created.metadata.resource_version
    created.spec.holder_identity = "b"
    status = failure(leases.replace_namespaced_lease, "leader", namespace, created)
    assert (status["code"], status["reason"]) == (409, "Conflict")
    assert leases.read_namespaced_lease("leader", namespace).spec.holder_identity == "a"


def test_leader_election_with_the_official_lease_lock(
    api: client.ApiClient, namespace: str
) -> None:
    """kubernetes.leaderelection: one candidate leads and renews, the other stays a follower."""
    leading: list[str] = []
    stop = threading.Event()

    def candidate(identity: str) -> None:
        lock = LeaseLock("election", namespace, identity)
        lock.api_instance = client.CoordinationV1Api(api)  # it builds one on the default config
        config = electionconfig.Config(
            lock, lease_duration=3, renew_deadline=2, retry_period=1,
            onstarted_leading=lambda: (leading.append(identity), stop.wait(5)),
            onstopped_leading=lambda: None)  # fmt: skip
        # The candidates outlive the test (the library has no stop): once the server is gone they
        # fail, which must end the thread quietly. The assertions below judge the election.
        with contextlib.suppress(Exception):
            leaderelection.LeaderElection(config).run()

    threading.Thread(target=candidate, args=("pod-a",), daemon=True).start()
    testing.eventually(lambda: leading == ["pod-a"], timeout=5)
    threading.Thread(target=candidate, args=("pod-b",), daemon=True).start()
    leases = client.CoordinationV1Api(api)
    first = leases.read_namespaced_lease("election", namespace)
    testing.eventually(lambda: leases.read_namespaced_lease("election", namespace).spec.renew_time
                       != first.spec.renew_time, timeout=5)  # fmt: skip
    stop.set()
    assert leading == ["pod-a"]
    assert leases.read_namespaced_lease("election", namespace).spec.holder_identity == "pod-a"


# -- custom resource schemas ---------------------------------------------------------------------


@pytest.mark.parametrize(("spec", "field", "reason"), [
    pytest.param({"size": "big"}, "spec.size", "FieldValueTypeInvalid", id="wrong-type"),
    pytest.param({"size": 101}, "spec.size", "FieldValueInvalid", id="above-maximum"),
    pytest.param({"size": 1, "color": "pink"}, "spec.color", "FieldValueNotSupported", id="enum"),
    pytest.param({}, "spec.size", "FieldValueRequired", id="required"),
    pytest.param({"size": 1, "tier": "Gold"}, "spec.tier", "FieldValueInvalid", id="pattern"),
    pytest.param({"size": 1, "weights": [1, 2, 3, 4]}, "spec.weights", "FieldValueTooMany",
                 id="max-items"),
])  # fmt: skip
def test_schema_violations_are_422_invalid(
    custom: client.CustomObjectsApi, namespace: str, spec: JSON, field: str, reason: str
) -> None:
    """Structural schema validation of custom resources: 422 Invalid with a cause per field."""
    body = widget("w")
    body["spec"] = spec
    status = failure(custom.create_namespaced_custom_object, GROUP, VERSION, namespace, "widgets",
                     body)  # fmt: skip
    assert (status["code"], status["reason"]) == (422, "Invalid")
    assert (field, reason) in {(c.get("field"), c["reason"]) for c in status["details"]["causes"]}


def test_unknown_fields_are_pruned_and_defaults_applied(custom: client.CustomObjectsApi,
                                                        namespace: str) -> None:  # fmt: skip
    """Pruning: unknown fields vanish, except under x-kubernetes-preserve-unknown-fields."""
    created = create_widget(custom, namespace, "w", bogus=True, free={"any": {"thing": 1}},
                            port="http")  # fmt: skip
    assert created["spec"] == {"size": 1, "tier": "standard", "free": {"any": {"thing": 1}},
                               "port": "http"}  # fmt: skip


def test_istio_virtual_service_round_trips_and_rejects_a_string_weight(
    custom: client.CustomObjectsApi, namespace: str
) -> None:
    """The real Istio CRDs: a weighted VirtualService is stored; `weight: "ten"` is 422."""
    vs = {"apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
          "metadata": {"name": "web"},
          "spec": {"hosts": ["web"], "http": [{"route": [
              {"destination": {"host": "web", "subset": "primary"}, "weight": 80},
              {"destination": {"host": "web", "subset": "canary"}, "weight": 20}]}]}}  # fmt: skip
    created = custom.create_namespaced_custom_object("networking.istio.io", "v1", namespace,
                                                     "virtualservices", vs)  # fmt: skip
    assert [r["weight"] for r in created["spec"]["http"][0]["route"]] == [80, 20]
    vs["spec"]["http"][0]["route"][0]["weight"] = "ten"
    status = failure(
        custom.replace_namespaced_custom_object,
        "networking.istio.io",
        "v1",
        namespace,
        "virtualservices",
        "web",
        {**vs, "metadata": created["metadata"]},
    )
    assert status["code"] == 422


def test_crd_created_through_the_api_is_served(api: client.ApiClient) -> None:
    """A CRD created via apiextensions.k8s.io/v1 is Established and its resource is served."""
    extensions = client.ApiextensionsV1Api(api)
    name = f"t{int(time.time() * 1000) % 10**8}"
    crd = {
        "metadata": {"name": f"{name}s.example.com"},
        "spec": {"group": "example.com", "scope": "Cluster",
                 "names": {"kind": "Thing", "plural": f"{name}s", "singular": name},
                 "versions": [{"name": "v1", "served": True, "storage": True, "schema": {
                     "openAPIV3Schema": {"type": "object", "properties": {
                         "spec": {"type": "object", "properties": {"n": {"type": "integer"}}}}}}}]},
    }  # fmt: skip
    extensions.create_custom_resource_definition(crd)
    try:
        custom = client.CustomObjectsApi(api)
        thing = {"apiVersion": "example.com/v1", "kind": "Thing", "metadata": {"name": "x"},
                 "spec": {"n": 1, "extra": 2}}  # fmt: skip

        def create() -> JSON:
            try:
                created: JSON = custom.create_cluster_custom_object("example.com", "v1",
                                                                    f"{name}s", thing)  # fmt: skip
                return created
            except client.ApiException as exc:
                if exc.status == 404:  # a real server needs a moment to establish the CRD
                    return {}
                raise

        assert testing.eventually(create, timeout=30)["spec"] == {"n": 1}
    finally:
        extensions.delete_custom_resource_definition(f"{name}s.example.com")
