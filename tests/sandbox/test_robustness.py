"""Arbitrary request bodies never crash the server nor earn a 500: the answer is always a Status."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from canary.sandbox.server import ApiServer
from tests.sandbox.conftest import ISTIO, WIDGETS

COLLECTIONS = {
    "deployments": "/apis/apps/v1/namespaces/default/deployments",
    "services": "/api/v1/namespaces/default/services",
    "configmaps": "/api/v1/namespaces/default/configmaps",
    "secrets": "/api/v1/namespaces/default/secrets",
    "events": "/api/v1/namespaces/default/events",
    "leases": "/apis/coordination.k8s.io/v1/namespaces/default/leases",
    "widgets": "/apis/sandbox.canary.dev/v1/namespaces/default/widgets",
    "virtualservices": "/apis/networking.istio.io/v1/namespaces/default/virtualservices",
    "crds": "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
}
PATCH_TYPES = ["application/merge-patch+json", "application/json-patch+json",
               "application/strategic-merge-patch+json", "application/apply-patch+yaml"]  # fmt: skip

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(10**12), 10**12)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=8),
    lambda children: st.lists(children, max_size=3)
    | st.dictionaries(st.sampled_from(["spec", "metadata", "name", "ports", "containers", "data",
                                       "status", "labels", "selector", "template", "op", "path",
                                       "value", "x"]), children, max_size=4),
    max_leaves=16,
)  # fmt: skip
named = st.fixed_dictionaries({"name": st.just("fuzz")})
bodies = st.one_of(
    json_values,
    st.fixed_dictionaries({"metadata": named, "spec": json_values}),
    st.fixed_dictionaries({"metadata": json_values}),
    st.fixed_dictionaries({"metadata": named, "data": json_values, "status": json_values}),
)


@pytest.fixture(scope="module")
def conn() -> Iterator[http.client.HTTPConnection]:
    with ApiServer(crd_paths=[ISTIO, WIDGETS]) as server:
        connection = http.client.HTTPConnection(server.host, server.port, timeout=10)
        yield connection
        connection.close()


def send(conn: http.client.HTTPConnection, method: str, path: str, body: Any,
         content_type: str = "application/json") -> tuple[int, Any]:  # fmt: skip
    conn.request(
        method, path, body=json.dumps(body).encode(), headers={"Content-Type": content_type}
    )
    response = conn.getresponse()
    return response.status, json.loads(response.read() or b"null")


def assert_answered_properly(code: int, payload: Any) -> None:
    if code >= 400:
        assert payload["kind"] == "Status"
        assert payload["code"] == code
        # The one deliberate 500 is the real storage layer's answer to a create with an RV.
        assert code != 500 or payload["message"].startswith("resourceVersion should not be set")


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(resource=st.sampled_from(sorted(COLLECTIONS)), body=bodies)
def test_any_create_body_gets_a_status_not_a_crash(conn: http.client.HTTPConnection, resource: str,
                                                   body: Any) -> None:  # fmt: skip
    code, payload = send(conn, "POST", COLLECTIONS[resource], body)
    assert_answered_properly(code, payload)
    if code == 201:
        send(conn, "DELETE", f"{COLLECTIONS[resource]}/{payload['metadata']['name']}", {})


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(resource=st.sampled_from(["deployments", "services", "configmaps", "widgets"]),
       method=st.sampled_from(["PUT", *PATCH_TYPES]), body=bodies)  # fmt: skip
def test_any_update_or_patch_body_gets_a_status_not_a_crash(
    conn: http.client.HTTPConnection, resource: str, method: str, body: Any
) -> None:
    base = {
        "deployments": {"metadata": {"name": "fuzz"}, "spec": {
            "selector": {"matchLabels": {"a": "b"}}, "template": {"metadata": {"labels": {"a": "b"}},
            "spec": {"containers": [{"name": "c", "image": "i"}]}}}},
        "services": {"metadata": {"name": "fuzz"}, "spec": {"ports": [{"port": 80}]}},
        "configmaps": {"metadata": {"name": "fuzz"}},
        "widgets": {"apiVersion": "sandbox.canary.dev/v1", "kind": "Widget",
                    "metadata": {"name": "fuzz"}, "spec": {"size": 1}},
    }[resource]  # fmt: skip
    send(conn, "POST", COLLECTIONS[resource], base)
    path = f"{COLLECTIONS[resource]}/fuzz"
    if method == "PUT":
        code, payload = send(conn, "PUT", path, body)
    else:
        code, payload = send(conn, "PATCH", path + "?fieldManager=fuzz", body, method)
    assert_answered_properly(code, payload)
    assert send(conn, "GET", "/version", None)[0] == 200


VALID = {
    "deployments": {"metadata": {"name": "mut", "labels": {"a": "b"}, "finalizers": ["x/y"]}, "spec": {
        "replicas": 2, "selector": {"matchLabels": {"a": "b"}},
        "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}},
        "template": {"metadata": {"labels": {"a": "b"}}, "spec": {"containers": [
            {"name": "c", "image": "i:1", "ports": [{"containerPort": 80}], "env": [{"name": "E"}]}]}}}},
    "services": {"metadata": {"name": "mut"}, "spec": {"type": "ClusterIP", "clusterIP": "10.0.0.9",
                 "ports": [{"name": "h", "port": 80, "targetPort": "http"}], "selector": {"a": "b"}}},
    "secrets": {"metadata": {"name": "mut"}, "data": {"k": "dg=="}, "stringData": {"s": "v"}},
    "leases": {"metadata": {"name": "mut"}, "spec": {"holderIdentity": "a", "leaseDurationSeconds": 5}},
    "events": {"metadata": {"name": "mut"}, "involvedObject": {"kind": "Pod", "name": "p"},
               "reason": "R", "source": {"component": "c"}},
    "virtualservices": {"apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
                        "metadata": {"name": "mut"}, "spec": {"hosts": ["h"], "http": [{"route": [
                            {"destination": {"host": "h", "port": {"number": 80}}, "weight": 100}]}]}},
    "crds": {"metadata": {"name": "things.example.com"}, "spec": {
        "group": "example.com", "scope": "Namespaced",
        "names": {"plural": "things", "kind": "Thing"},
        "versions": [{"name": "v1", "served": True, "storage": True,
                      "schema": {"openAPIV3Schema": {"type": "object"}}}]}},
}  # fmt: skip


def paths(doc: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix] if prefix else []
    items = (
        doc.items() if isinstance(doc, dict) else enumerate(doc) if isinstance(doc, list) else []
    )
    for key, value in items:
        found += paths(value, (*prefix, key))
    return found


def mutated(resource: str, path: tuple[Any, ...], value: Any) -> Any:
    doc = json.loads(json.dumps(VALID[resource]))
    target = doc
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return doc


@st.composite
def mutations(draw: st.DrawFn) -> tuple[str, Any]:
    resource = draw(st.sampled_from(sorted(VALID)))
    path = draw(st.sampled_from(paths(VALID[resource])))
    return resource, mutated(resource, path, draw(json_values))


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(case=mutations())
def test_valid_objects_with_any_one_field_replaced_get_a_status_not_a_crash(
    conn: http.client.HTTPConnection, case: tuple[str, Any]
) -> None:
    resource, body = case
    code, payload = send(conn, "POST", COLLECTIONS[resource], body)
    assert_answered_properly(code, payload)
    if code == 201:
        path = f"{COLLECTIONS[resource]}/{payload['metadata']['name']}"
        code, payload = send(conn, "PATCH", path, {"metadata": {"finalizers": None}},
                             "application/merge-patch+json")  # fmt: skip
        assert_answered_properly(code, payload)
        send(conn, "DELETE", path, {})
