"""Fault injection in the emulator: codes, cut connections before and after a write, watch cuts, filters."""

from __future__ import annotations

import http.client
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest

from canary.sandbox.faults import CUT_AFTER, CUT_BEFORE, FaultPlan, Faults, verb_and_resource
from canary.sandbox.server import ApiServer

JSON = dict[str, Any]
CMS = "/api/v1/namespaces/default/configmaps"


@pytest.fixture
def server() -> Iterator[ApiServer]:
    with ApiServer() as running:
        yield running


def request(server: ApiServer, method: str, path: str, body: JSON | None = None,
            agent: str = "test") -> tuple[int, JSON, dict[str, str]]:  # fmt: skip
    """One request on a fresh connection; raises when the server hangs up without answering."""
    conn = http.client.HTTPConnection(server.host, server.port, timeout=10)
    try:
        data = None if body is None else json.dumps(body).encode()
        headers = {"User-Agent": agent, "Content-Type": "application/json"}
        conn.request(method, path, body=data, headers=headers)
        response = conn.getresponse()
        payload = response.read()
        return response.status, json.loads(payload or b"{}"), dict(response.getheaders())
    finally:
        conn.close()


def config_map(name: str) -> JSON:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {}}


@pytest.mark.parametrize(
    ("method", "path", "query", "expected"),
    [
        ("GET", "/api/v1/namespaces/ns/pods/p", "", ("get", "pods")),
        ("GET", "/api/v1/namespaces/ns/pods", "", ("list", "pods")),
        ("GET", "/api/v1/namespaces/ns/pods", "watch=true&x=1", ("watch", "pods")),
        ("GET", "/api/v1/watch/namespaces/ns/pods", "", ("watch", "pods")),
        ("GET", "/api/v1/namespaces", "", ("list", "namespaces")),
        ("POST", "/apis/apps/v1/namespaces/ns/deployments", "", ("create", "deployments")),
        ("PUT", "/apis/canary.dev/v1alpha1/namespaces/n/canaries/c/status", "", ("update", "canaries")),
        ("PATCH", "/apis/apps/v1/namespaces/ns/deployments/d", "", ("patch", "deployments")),
        ("DELETE", "/api/v1/namespaces/ns/services/s", "", ("delete", "services")),
        ("GET", "/apis/apps/v1", "", ("", "")),
        ("GET", "/version", "", ("", "")),
    ],
)  # fmt: skip
def test_verb_and_resource_of_a_request(
    method: str, path: str, query: str, expected: tuple[str, str]
) -> None:
    assert verb_and_resource(method, path, query) == expected


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("rate=0.1", FaultPlan(rate=0.1)),
        (
            "rate=1,outcomes=503:cut-after,verbs=get:patch,resources=deployments,"
            "clients=canary-controller,retry-after=2,watch-cut=5,seed=7,limit=3",
            FaultPlan(
                rate=1.0,
                outcomes=(503, CUT_AFTER),
                verbs=frozenset({"get", "patch"}),
                resources=frozenset({"deployments"}),
                clients=("canary-controller",),
                retry_after=2,
                watch_cut=5.0,
                seed=7,
                limit=3,
            ),
        ),
    ],
)
def test_the_fault_spec_parses(spec: str, expected: FaultPlan) -> None:
    assert FaultPlan.parse(spec) == expected


@pytest.mark.parametrize(
    ("spec", "named"),
    [
        ("rate=2", "rate"),
        ("rate=x", "rate"),
        ("outcomes=418", "outcomes"),
        ("verbs=steal", "verbs"),
        ("colour=red", "colour"),
        ("rate", "rate"),
    ],
)
def test_a_bad_fault_spec_names_the_key(spec: str, named: str) -> None:
    with pytest.raises(ValueError, match=named):
        FaultPlan.parse(spec)


def test_the_rate_is_the_share_of_matching_requests_that_fail() -> None:
    faults = Faults(FaultPlan(rate=0.1, seed=3))
    draws = [faults.decide("GET", "/api/v1/namespaces/a/pods/p", "", {}) for _ in range(5000)]
    failed = sum(d.outcome is not None for d in draws)
    assert 400 < failed < 600
    assert "409" not in faults.injected  # a conflict only ever answers a write
    assert sum(faults.injected.values()) == failed


def test_a_limit_stops_the_faults_after_that_many() -> None:
    faults = Faults(FaultPlan(rate=1.0, limit=2))
    draws = [faults.decide("GET", "/api/v1/namespaces/a/pods", "", {}) for _ in range(5)]
    assert [d.outcome is not None for d in draws] == [True, True, False, False, False]


def test_every_listed_outcome_is_drawn_for_writes() -> None:
    faults = Faults(FaultPlan(rate=1.0, seed=1))
    for _ in range(600):
        faults.decide("PATCH", "/api/v1/namespaces/a/pods/p", "", {})
    assert set(faults.injected) == {"500", "503", "429", "409", CUT_BEFORE, CUT_AFTER}


def test_an_injected_code_is_answered_before_the_request_is_carried_out(
    server: ApiServer,
) -> None:
    server.api.faults.set(FaultPlan(rate=1.0, outcomes=(503,), verbs=frozenset({"create"})))
    code, body, _ = request(server, "POST", CMS, config_map("a"))
    assert (code, body["reason"], body["kind"]) == (503, "ServiceUnavailable", "Status")
    server.api.faults.clear()
    assert request(server, "GET", f"{CMS}/a")[0] == 404


def test_a_429_carries_retry_after(server: ApiServer) -> None:
    server.api.faults.set(FaultPlan(rate=1.0, outcomes=(429,), retry_after=3))
    code, body, headers = request(server, "GET", CMS)
    assert (code, body["reason"], headers["Retry-After"]) == (429, "TooManyRequests", "3")


def test_a_cut_before_the_write_leaves_nothing_written(server: ApiServer) -> None:
    server.api.faults.set(FaultPlan(rate=1.0, outcomes=(CUT_BEFORE,)))
    with pytest.raises((http.client.RemoteDisconnected, ConnectionError)):
        request(server, "POST", CMS, config_map("before"))
    server.api.faults.clear()
    assert request(server, "GET", f"{CMS}/before")[0] == 404


def test_a_cut_after_the_write_leaves_it_written_but_unanswered(server: ApiServer) -> None:
    server.api.faults.set(FaultPlan(rate=1.0, outcomes=(CUT_AFTER,)))
    with pytest.raises((http.client.RemoteDisconnected, ConnectionError)):
        request(server, "POST", CMS, config_map("after"))
    server.api.faults.clear()
    assert request(server, "GET", f"{CMS}/after")[0] == 200
    assert server.api.faults.injected[CUT_AFTER] == 1


def test_only_the_named_clients_verbs_and_resources_fail(server: ApiServer) -> None:
    server.api.faults.set(
        FaultPlan(
            rate=1.0,
            outcomes=(500,),
            verbs=frozenset({"list"}),
            resources=frozenset({"configmaps"}),
            clients=("canary-controller",),
        )
    )
    assert request(server, "GET", CMS, agent="canary-controller/1.0")[0] == 500
    assert request(server, "GET", CMS, agent="kubectl/v1.30")[0] == 200
    assert request(server, "GET", "/api/v1/namespaces/default/secrets",
                   agent="canary-controller/1.0")[0] == 200  # fmt: skip
    assert request(server, "POST", CMS, config_map("x"), agent="canary-controller/1.0")[0] == 201


def _drain(response: http.client.HTTPResponse) -> None:
    while response.read(1):
        pass


def test_a_watch_is_cut_mid_stream(server: ApiServer) -> None:
    server.api.faults.set(FaultPlan(watch_cut=0.3, seed=1))
    conn = http.client.HTTPConnection(server.host, server.port, timeout=10)
    started = time.monotonic()
    conn.request("GET", f"{CMS}?watch=true&timeoutSeconds=30")
    response = conn.getresponse()
    assert response.status == 200
    with pytest.raises(http.client.IncompleteRead):
        _drain(response)
    assert time.monotonic() - started < 5  # cut long before the watch's own 30 s
    assert server.api.faults.injected["watch-cut"] == 1
    conn.close()


def test_the_command_line_option_rejects_a_bad_spec_with_the_key() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "canary", "sandbox", "apiserver", "--faults", "rate=3"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "rate: 3.0 is not in [0, 1]" in result.stderr
    assert "Traceback" not in result.stderr
