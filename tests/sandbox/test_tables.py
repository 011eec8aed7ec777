"""Table answers for `kubectl get`: printer columns, JSONPath cells and ages."""

from __future__ import annotations

import datetime
import http.client
import json
from pathlib import Path
from typing import Any

import pytest

from canary.sandbox import tables
from canary.sandbox.resources import BUILTINS
from canary.sandbox.server import ApiServer
from tests.sandbox.conftest import WIDGETS

NOW = datetime.datetime(2026, 1, 1, 12, 0, 0, tzinfo=datetime.UTC)
OBJ = {
    "status": {
        "conditions": [{"type": "Ready", "status": "True"}, {"type": "Stalled", "status": "False"}],
        "weights": [80, 20],
    }
}


@pytest.mark.parametrize(("path", "expected"), [
    pytest.param(".status.weights[1]", 20, id="index"),
    pytest.param('.status.conditions[?(@.type=="Ready")].status', "True", id="filter"),
    pytest.param("{.status.conditions[0].type}", "Ready", id="braces"),
    pytest.param(".status.missing", None, id="missing"),
])  # fmt: skip
def test_json_path_subset(path: str, expected: Any) -> None:
    assert tables.json_path(OBJ, path) == expected


@pytest.mark.parametrize(("stamp", "expected"), [
    pytest.param("2026-01-01T11:59:50Z", "10s", id="seconds"),
    pytest.param("2026-01-01T11:57:00Z", "3m", id="minutes"),
    pytest.param("2026-01-01T09:00:00Z", "3h", id="hours"),
    pytest.param("2025-12-25T12:00:00Z", "7d", id="days"),
    pytest.param(None, "<unknown>", id="missing"),
])  # fmt: skip
def test_ages_read_like_kubectl(stamp: Any, expected: str) -> None:
    assert tables.age(stamp, NOW) == expected


def test_kubectl_gets_tables_with_the_printer_columns() -> None:
    with ApiServer(crd_paths=[WIDGETS]) as server:
        conn = http.client.HTTPConnection(server.host, server.port, timeout=10)
        accept = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"
        conn.request("GET", "/api/v1/namespaces", headers={"Accept": accept})
        table = json.loads(conn.getresponse().read())
        assert table["kind"] == "Table"
        assert [c["name"] for c in table["columnDefinitions"]] == ["Name", "Status", "Age"]
        assert ["default", "Active"] in [row["cells"][:2] for row in table["rows"]]
        conn.request("GET", "/api/v1/namespaces/default", headers={"Accept": "application/json"})
        assert json.loads(conn.getresponse().read())["kind"] == "Namespace"
        conn.close()


def test_horizontal_pod_autoscalers_show_reference_targets_and_bounds() -> None:
    cpu = {
        "type": "Resource",
        "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}},
    }
    rps = {
        "type": "Pods",
        "pods": {
            "metric": {"name": "rps"},
            "target": {"type": "AverageValue", "averageValue": "10"},
        },
    }
    hpa = {
        "metadata": {"name": "web"},
        "spec": {
            "scaleTargetRef": {"kind": "Deployment", "name": "web"},
            "minReplicas": 2,
            "maxReplicas": 5,
            "metrics": [cpu, rps],
        },
        "status": {
            "currentReplicas": 3,
            "currentMetrics": [
                {
                    "type": "Resource",
                    "resource": {"name": "cpu", "current": {"averageUtilization": 45}},
                }
            ],
        },
    }
    rt = next(r for r in BUILTINS if r.plural == "horizontalpodautoscalers")
    table = tables.table(rt, [hpa], {})
    names = [c["name"] for c in table["columnDefinitions"]]
    assert names == ["Name", "Reference", "Targets", "MinPods", "MaxPods", "Replicas", "Age"]
    assert table["rows"][0]["cells"][:6] == [
        "web", "Deployment/web", "cpu: 45%/80%, <unknown>/10", 2, 5, 3]  # fmt: skip


def test_watches_that_accept_tables_stream_one_row_tables() -> None:
    with ApiServer() as server:
        conn = http.client.HTTPConnection(server.host, server.port, timeout=10)
        accept = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"
        conn.request("GET", "/api/v1/namespaces?watch=true&timeoutSeconds=1",
                     headers={"Accept": accept})  # fmt: skip
        events = [json.loads(line) for line in conn.getresponse().read().splitlines()]
        conn.close()
    assert {e["object"]["kind"] for e in events} == {"Table"}
    assert {e["object"]["rows"][0]["cells"][0] for e in events} >= {"default", "kube-system"}


def test_printer_columns_keep_their_priority_so_kubectl_hides_wide_ones() -> None:
    canaries = Path(__file__).parents[2] / "crds" / "canary.dev_canaries.yaml"
    with ApiServer(crd_paths=[canaries]) as server:
        conn = http.client.HTTPConnection(server.host, server.port, timeout=10)
        accept = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"
        conn.request("GET", "/apis/canary.dev/v1alpha1/canaries", headers={"Accept": accept})
        table = json.loads(conn.getresponse().read())
        conn.close()
    priorities = {c["name"]: c["priority"] for c in table["columnDefinitions"]}
    assert priorities["Phase"] == 0
    assert priorities["Message"] == 1
