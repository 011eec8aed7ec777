"""Requests the official client would never send: malformed bodies, odd paths, raw HTTP details."""

from __future__ import annotations

import http.client
import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from canary.sandbox import testing
from canary.sandbox.api import Fault
from canary.sandbox.server import ApiServer
from tests.sandbox.conftest import WIDGETS

JSON = dict[str, Any]
CMS = "/api/v1/namespaces/default/configmaps"
WIDGET_PATH = "/apis/sandbox.canary.dev/v1/namespaces/default/widgets"


@pytest.fixture(scope="module")
def server() -> Iterator[ApiServer]:
    with ApiServer(crd_paths=[WIDGETS]) as running:
        yield running


@pytest.fixture
def conn(server: ApiServer) -> Iterator[http.client.HTTPConnection]:
    connection = http.client.HTTPConnection(server.host, server.port, timeout=10)
    yield connection
    connection.close()


def call(conn: http.client.HTTPConnection, method: str, path: str, body: Any = None,
         content_type: str = "application/json") -> tuple[int, JSON, http.client.HTTPResponse]:  # fmt: skip
    data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
    headers = {"Content-Type": content_type} if data is not None else {}
    conn.request(method, path, body=data, headers=headers)
    response = conn.getresponse()
    payload = response.read()
    return response.status, json.loads(payload) if payload else {}, response


def cm(name: str, **extra: Any) -> JSON:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, **extra}


@pytest.mark.parametrize(("method", "path", "body", "content_type", "code", "reason"), [
    pytest.param("POST", CMS, b"{not json", "application/json", 400, "BadRequest", id="malformed-json"),
    pytest.param("POST", CMS, b"[1, 2]", "application/json", 400, "BadRequest", id="array-body"),
    pytest.param("POST", CMS, b"", "application/json", 400, "BadRequest", id="empty-body"),
    pytest.param("POST", CMS, {"kind": "Secret", "metadata": {"name": "x"}}, "application/json",
                 400, "BadRequest", id="wrong-kind"),
    pytest.param("POST", CMS, {"apiVersion": "v2", "metadata": {"name": "x"}}, "application/json",
                 400, "BadRequest", id="wrong-api-version"),
    pytest.param("POST", CMS, {"metadata": {"name": "x", "namespace": "other"}}, "application/json",
                 400, "BadRequest", id="namespace-mismatch"),
    pytest.param("POST", CMS, {"metadata": {}}, "application/json", 422, "Invalid", id="no-name"),
    pytest.param("POST", CMS, {"metadata": {"name": "x"}, "data": {"k": 1}}, "application/json",
                 400, "BadRequest", id="wrongly-typed-built-in-field"),
    pytest.param("POST", f"{CMS}?fieldValidation=Strict", {"metadata": {"name": "x"}, "bogus": 1},
                 "application/json", 400, "BadRequest", id="strict-unknown-built-in-field"),
    pytest.param("POST", CMS, {"metadata": {"name": "x", "labels": {"bad key": "v"}}},
                 "application/json", 422, "Invalid", id="invalid-label-key"),
    pytest.param("POST", WIDGET_PATH, {"metadata": {"name": "x"}, "spec": {"size": 1}},
                 "application/json", 400, "BadRequest", id="custom-resource-without-kind"),
    pytest.param("GET", "/api/v1/namespaces/default/frobs", None, "", 404, "NotFound", id="unknown-resource"),
    pytest.param("GET", "/apis/nope.example.com/v1/things", None, "", 404, "NotFound", id="unknown-group"),
    pytest.param("GET", "/apis/apps/v1/deployments/x", None, "", 404, "NotFound",
                 id="namespaced-item-without-namespace"),
    pytest.param("GET", "/api/v1/namespaces/default/configmaps/x/status", None, "", 404, "NotFound",
                 id="no-such-subresource"),
    pytest.param("PUT", CMS, cm("x"), "application/json", 405, "MethodNotAllowed", id="put-on-collection"),
    pytest.param("POST", "/api/v1/configmaps", cm("x"), "application/json", 405, "MethodNotAllowed",
                 id="create-without-namespace"),
    pytest.param("PATCH", f"{CMS}/x", {"data": {}}, "text/plain", 415, "UnsupportedMediaType",
                 id="unknown-patch-type"),
    pytest.param("GET", f"{CMS}?labelSelector=a%20in%20b", None, "", 400, "BadRequest", id="bad-selector"),
    pytest.param("GET", f"{CMS}?watch=true&resourceVersion=abc", None, "", 400, "BadRequest",
                 id="bad-watch-resource-version"),
    pytest.param("POST", f"{CMS}?dryRun=Some", cm("x"), "application/json", 400, "BadRequest",
                 id="bad-dry-run"),
    pytest.param("DELETE", f"{CMS}/absent", None, "", 404, "NotFound", id="delete-missing"),
])  # fmt: skip
def test_bad_requests_get_the_real_servers_status(conn: http.client.HTTPConnection, method: str,
                                                  path: str, body: Any, content_type: str,
                                                  code: int, reason: str) -> None:  # fmt: skip
    status, payload, _ = call(conn, method, path, body, content_type)
    assert (status, payload["kind"], payload["status"]) == (code, "Status", "Failure")
    assert (payload["code"], payload["reason"]) == (code, reason)
    assert payload["apiVersion"] == "v1"
    assert payload["metadata"] == {}
    assert payload["message"]


def test_one_connection_serves_many_requests_with_bodies_and_errors(
    conn: http.client.HTTPConnection,
) -> None:
    """Keep-alive: bodies are drained even when the request fails, so the next one parses."""
    assert call(conn, "POST", CMS, b"{broken")[0] == 400
    assert call(conn, "GET", "/version", b"ignored body")[0] == 200
    assert call(conn, "POST", CMS, cm("keepalive"))[0] == 201
    assert call(conn, "POST", CMS, cm("keepalive"))[0] == 409
    assert call(conn, "GET", f"{CMS}/keepalive")[1]["metadata"]["name"] == "keepalive"


def test_chunked_request_bodies_are_read(conn: http.client.HTTPConnection) -> None:
    conn.putrequest("POST", CMS)
    conn.putheader("Content-Type", "application/json")
    conn.putheader("Transfer-Encoding", "chunked")
    conn.endheaders()
    data = json.dumps(cm("chunked")).encode()
    for part in (data[:10], data[10:]):
        conn.send(b"%x\r\n%s\r\n" % (len(part), part))
    conn.send(b"0\r\n\r\n")
    response = conn.getresponse()
    assert (response.status, json.loads(response.read())["metadata"]["name"]) == (201, "chunked")


def test_an_internal_error_is_a_500_status_and_the_server_keeps_serving(
    server: ApiServer, conn: http.client.HTTPConnection, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(server.store, "get", broken)
    status, payload, _ = call(conn, "GET", f"{CMS}/anything")
    assert (status, payload["reason"]) == (500, "InternalError")
    monkeypatch.undo()
    assert call(conn, "GET", "/api")[0] == 200


def test_injected_faults_fail_the_next_matching_requests(
    server: ApiServer, conn: http.client.HTTPConnection
) -> None:
    server.api.inject(Fault("GET", "/configmaps/", 503, times=1, reason="ServiceUnavailable"))
    assert call(conn, "GET", f"{CMS}/x")[0] == 503
    assert call(conn, "GET", f"{CMS}/x")[0] == 404


def test_watch_responses_are_chunked_json_lines(conn: http.client.HTTPConnection) -> None:
    call(conn, "POST", CMS, cm("watched"))
    conn.request("GET", f"{CMS}?watch=true&timeoutSeconds=1&fieldSelector=metadata.name%3Dwatched")
    response = conn.getresponse()
    assert response.getheader("Transfer-Encoding") == "chunked"
    lines = response.read().splitlines()
    assert [json.loads(line)["type"] for line in lines] == ["ADDED"]


def test_unknown_fields_warn_by_default_and_fail_with_strict_validation(
    conn: http.client.HTTPConnection,
) -> None:
    body = {"apiVersion": "sandbox.canary.dev/v1", "kind": "Widget", "metadata": {"name": "strict"},
            "spec": {"size": 1, "bogus": True}}  # fmt: skip
    status, payload, _ = call(conn, "POST", f"{WIDGET_PATH}?fieldValidation=Strict", body)
    assert (status, payload["reason"]) == (400, "BadRequest")
    assert 'unknown field "spec.bogus"' in payload["message"]
    status, payload, response = call(conn, "POST", WIDGET_PATH, body)
    assert status == 201
    assert "bogus" not in payload["spec"]
    assert 'unknown field \\"spec.bogus\\"' in (response.getheader("Warning") or "")


def test_dry_run_validates_without_storing(conn: http.client.HTTPConnection) -> None:
    status, payload, _ = call(conn, "POST", f"{CMS}?dryRun=All", cm("dry"))
    assert (status, payload["metadata"]["name"]) == (201, "dry")
    assert call(conn, "GET", f"{CMS}/dry")[0] == 404


def test_lists_page_with_limit_and_continue(conn: http.client.HTTPConnection) -> None:
    call(conn, "POST", "/api/v1/namespaces", {"metadata": {"name": "paging"}})
    for i in range(5):
        call(conn, "POST", "/api/v1/namespaces/paging/configmaps", cm(f"cm-{i}"))
    names, token = [], ""
    while True:
        _, page, _ = call(
            conn, "GET", f"/api/v1/namespaces/paging/configmaps?limit=2&continue={token}"
        )
        names += [item["metadata"]["name"] for item in page["items"]]
        token = page["metadata"].get("continue", "")
        if not token:
            break
    assert names == [f"cm-{i}" for i in range(5)]


def test_custom_resources_are_served_at_every_served_version(
    conn: http.client.HTTPConnection,
) -> None:
    body = {"apiVersion": "sandbox.canary.dev/v1", "kind": "Widget", "metadata": {"name": "multi"},
            "spec": {"size": 3}}  # fmt: skip
    call(conn, "POST", WIDGET_PATH, body)
    _, beta, _ = call(
        conn, "GET", "/apis/sandbox.canary.dev/v1beta1/namespaces/default/widgets/multi"
    )
    assert (beta["apiVersion"], beta["spec"]["size"]) == ("sandbox.canary.dev/v1beta1", 3)


def test_deleting_a_namespace_deletes_its_contents_and_blocks_new_ones(
    conn: http.client.HTTPConnection,
) -> None:
    call(conn, "POST", "/api/v1/namespaces", {"metadata": {"name": "doomed"}})
    held = cm("held", metadata={"name": "held", "finalizers": ["example.com/hold"]})
    call(conn, "POST", "/api/v1/namespaces/doomed/configmaps", held)
    call(conn, "POST", "/api/v1/namespaces/doomed/configmaps", cm("free"))
    status, ns, _ = call(conn, "DELETE", "/api/v1/namespaces/doomed")
    assert (status, ns["status"]["phase"]) == (200, "Terminating")
    assert call(conn, "GET", "/api/v1/namespaces/doomed/configmaps/free")[0] == 404
    status, payload, _ = call(conn, "POST", "/api/v1/namespaces/doomed/configmaps", cm("late"))
    assert (status, payload["reason"]) == (403, "Forbidden")
    call(conn, "PATCH", "/api/v1/namespaces/doomed/configmaps/held",
         {"metadata": {"finalizers": None}}, "application/merge-patch+json")  # fmt: skip
    assert call(conn, "GET", "/api/v1/namespaces/doomed")[0] == 404


def test_foreground_deletion_removes_dependents_before_the_owner(
    conn: http.client.HTTPConnection,
) -> None:
    _, owner, _ = call(conn, "POST", CMS, cm("owner"))
    ref = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "name": "owner",
        "uid": owner["metadata"]["uid"],
    }
    held = {"name": "dependent", "ownerReferences": [ref], "finalizers": ["example.com/hold"]}
    call(conn, "POST", CMS, cm("dependent", metadata=held))
    status, pending, _ = call(conn, "DELETE", f"{CMS}/owner", {"propagationPolicy": "Foreground"})
    assert status == 200
    assert "foregroundDeletion" in pending["metadata"]["finalizers"]
    assert call(conn, "GET", f"{CMS}/dependent")[1]["metadata"]["deletionTimestamp"]
    call(conn, "PATCH", f"{CMS}/dependent", {"metadata": {"finalizers": None}},
         "application/merge-patch+json")  # fmt: skip
    assert call(conn, "GET", f"{CMS}/dependent")[0] == 404
    assert call(conn, "GET", f"{CMS}/owner")[0] == 404


def test_delete_preconditions_are_409_conflict(conn: http.client.HTTPConnection) -> None:
    call(conn, "POST", CMS, cm("precondition"))
    body = {"preconditions": {"uid": "not-the-uid"}}
    status, payload, _ = call(conn, "DELETE", f"{CMS}/precondition", body)
    assert (status, payload["reason"]) == (409, "Conflict")


def test_the_kubeconfig_works_with_the_official_loader() -> None:
    from kubernetes import client, config

    with testing.sandbox() as env:
        configuration = client.Configuration()
        config.load_kube_config(config_file=str(env.kubeconfig), client_configuration=configuration)
        with client.ApiClient(configuration) as api_client:
            names = [ns.metadata.name for ns in client.CoreV1Api(api_client).list_namespace().items]
        assert "default" in names


def test_a_watch_ends_when_its_client_hangs_up(server: ApiServer) -> None:
    before = threading.active_count()
    conn = http.client.HTTPConnection(server.host, server.port, timeout=10)
    conn.request("GET", f"{CMS}?watch=true")
    response = conn.getresponse()
    assert response.status == 200
    assert threading.active_count() > before
    conn.close()
    testing.eventually(lambda: threading.active_count() <= before, timeout=5)


def test_deleting_a_crd_removes_its_objects_and_later_namespace_deletion_still_works(
    conn: http.client.HTTPConnection,
) -> None:
    crds = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
    crd = {"metadata": {"name": "gizmos.example.com"}, "spec": {
        "group": "example.com", "scope": "Namespaced", "names": {"plural": "gizmos", "kind": "Gizmo"},
        "versions": [{"name": "v1", "served": True, "storage": True,
                      "schema": {"openAPIV3Schema": {"type": "object"}}}]}}  # fmt: skip
    assert call(conn, "POST", crds, crd)[0] == 201
    call(conn, "POST", "/api/v1/namespaces", {"metadata": {"name": "gizmo-ns"}})
    gizmos = "/apis/example.com/v1/namespaces/gizmo-ns/gizmos"
    body = {"apiVersion": "example.com/v1", "kind": "Gizmo", "metadata": {"name": "g"}}
    assert call(conn, "POST", gizmos, body)[0] == 201
    assert call(conn, "DELETE", f"{crds}/gizmos.example.com")[0] == 200
    assert call(conn, "GET", gizmos)[0] == 404
    assert call(conn, "DELETE", "/api/v1/namespaces/gizmo-ns")[0] == 200
    assert call(conn, "GET", "/api/v1/namespaces/gizmo-ns")[0] == 404
    assert call(conn, "POST", crds, crd)[0] == 201
    assert call(conn, "GET", "/apis/example.com/v1/namespaces/default/gizmos")[1]["items"] == []


def test_stopping_the_server_hangs_up_on_kept_alive_connections() -> None:
    server = ApiServer().start()
    conn = http.client.HTTPConnection(server.host, server.port, timeout=5)
    assert call(conn, "GET", "/version")[0] == 200
    server.stop()
    with pytest.raises((ConnectionError, http.client.HTTPException, OSError)):
        call(conn, "GET", "/version")
    conn.close()


def test_openapi_v3_lists_group_versions_with_field_validation_on_patch(
    conn: http.client.HTTPConnection,
) -> None:
    _, index, _ = call(conn, "GET", "/openapi/v3")
    assert {"api/v1", "apis/apps/v1", "apis/sandbox.canary.dev/v1"} <= set(index["paths"])
    _, doc, _ = call(conn, "GET", index["paths"]["apis/apps/v1"]["serverRelativeURL"])
    patch = doc["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]["patch"]
    assert "fieldValidation" in {p["name"] for p in patch["parameters"]}
    assert patch["x-kubernetes-group-version-kind"]["kind"] == "Deployment"
    assert call(conn, "GET", "/openapi/v2")[0] == 404
