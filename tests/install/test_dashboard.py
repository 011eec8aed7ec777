"""The Grafana dashboard: Grafana's required fields, metrics the controller has, and PromQL a real Prometheus runs.

Every panel's and variable's query, with Grafana's variables put in, is sent to a real Prometheus
(tests/metrics/conftest.py: Istio's metrics for `test/podinfo` and `test/podinfo-primary`
backfilled): a query that does not parse is answered 400. The Istio panels must also give the
values worked out by hand in tests/metrics/history.py.
"""

from __future__ import annotations

import json
import re
import urllib.parse
import urllib.request
from typing import Any

import pytest
from prometheus_client.metrics import MetricWrapperBase

from canary.controller.metrics import ControllerMetrics
from tests.install.kustomize import DEPLOY
from tests.metrics.conftest import PrometheusServer
from tests.metrics.history import T0

DASHBOARD = json.loads((DEPLOY / "grafana" / "canary-dashboard.json").read_text())
PANELS = [p for p in DASHBOARD["panels"] if p["type"] != "row"]
VARIABLES = DASHBOARD["templating"]["list"]
GRAFANA = {
    "$__rate_interval": "1m",
    "$__range": "5m",
    "$namespace": "test",
    "$canary": "podinfo",
    "$target": "podinfo",
}
"""Grafana's variables, as it would put them in (all single values here)."""


def _metrics() -> dict[str, tuple[str, set[str]]]:
    """Every series name the controller exports -> (type, labels)."""
    found: dict[str, tuple[str, set[str]]] = {}
    for metric in vars(ControllerMetrics()).values():
        if not isinstance(metric, MetricWrapperBase):
            continue
        labels = set(metric._labelnames)
        name, kind = metric._name, metric._type
        if kind == "counter":
            found[f"{name}_total"] = (kind, labels)
        elif kind == "histogram":
            for suffix in ("_bucket", "_sum", "_count"):
                found[name + suffix] = (kind, labels | ({"le"} if suffix == "_bucket" else set()))
        else:
            found[name] = (kind, labels)
    return found


def _queries() -> list[tuple[str, str]]:
    """(where, PromQL) of every panel target and every query variable."""
    queries = [(f"{p['title']}/{t['refId']}", t["expr"]) for p in PANELS for t in p["targets"]]
    for variable in VARIABLES:
        if variable["type"] == "query":
            match = re.fullmatch(r"label_values\((.*), (\w+)\)", variable["query"]["query"])
            assert match, variable["query"]
            queries.append((f"${variable['name']}", f"group by ({match[2]}) ({match[1]})"))
    return queries


def _grafana(expr: str) -> str:
    for name in sorted(GRAFANA, key=len, reverse=True):
        expr = expr.replace(name, GRAFANA[name])
    assert "$" not in expr, f"a variable this test does not know: {expr}"
    return expr


def _query(prometheus: PrometheusServer, expr: str, at: float) -> tuple[int, dict[str, Any]]:
    data = urllib.parse.urlencode({"query": expr, "time": str(at)}).encode()
    request = urllib.request.Request(f"{prometheus.url}/api/v1/query", data=data)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)


def test_the_dashboard_has_what_grafana_requires() -> None:
    assert isinstance(DASHBOARD["schemaVersion"], int)
    assert DASHBOARD["title"]
    assert DASHBOARD["uid"]
    assert [v["name"] for v in VARIABLES if v["type"] == "datasource"] == ["datasource"]
    assert next(v for v in VARIABLES if v["type"] == "datasource")["query"] == "prometheus"
    ids = [p["id"] for p in DASHBOARD["panels"]]
    assert len(ids) == len(set(ids))
    for panel in PANELS:
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
        assert panel["targets"], panel["title"]
        assert {t["refId"] for t in panel["targets"]} == {
            chr(ord("A") + i) for i in range(len(panel["targets"]))
        }
    for variable in VARIABLES:
        if variable["type"] == "query":
            assert variable["datasource"]["uid"] == "${datasource}"


def test_the_panels_tile_the_grid_without_overlapping() -> None:
    cells: dict[tuple[int, int], str] = {}
    for panel in DASHBOARD["panels"]:
        grid = panel["gridPos"]
        assert set(grid) == {"h", "w", "x", "y"}, panel["title"]
        assert grid["x"] >= 0, panel["title"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]
        for x in range(grid["x"], grid["x"] + grid["w"]):
            for y in range(grid["y"], grid["y"] + grid["h"]):
                assert (x, y) not in cells, f"{panel['title']} overlaps {cells[(x, y)]}"
                cells[(x, y)] = panel["title"]


def test_every_canary_metric_and_label_the_dashboard_uses_is_the_controllers() -> None:
    exported = _metrics()
    for where, expr in _queries():
        for name, selector in re.findall(r"\b(canary_\w+)(?:\{([^}]*)\})?", expr):
            assert name in exported, f"{where}: {name} is not a metric of the controller"
            labels = set(re.findall(r"(\w+)\s*(?:=~|!~|!=|=)", selector))
            assert labels <= exported[name][1], (
                f"{where}: {name} has no {labels - exported[name][1]}"
            )
    families = {re.sub(r"_(bucket|sum|count)$", "", n) for n in exported}
    named = {
        re.sub(r"_(bucket|sum|count)$", "", n)
        for _, e in _queries()
        for n in re.findall(r"canary_\w+", e)
    }
    assert families - named == set(), "a metric the dashboard does not show"


@pytest.mark.prometheus
@pytest.mark.parametrize(("where", "expr"), _queries(), ids=[w for w, _ in _queries()])
def test_every_query_is_valid_promql_for_a_real_prometheus(
    prometheus: PrometheusServer, where: str, expr: str
) -> None:
    status, body = _query(prometheus, _grafana(expr), T0 + 300)
    assert (status, body["status"]) == (200, "success"), f"{where}: {body.get('error')}"


@pytest.mark.prometheus
@pytest.mark.parametrize(
    ("title", "expected"),
    [
        ("Success rate", {"podinfo": 95.0, "podinfo-primary": 99.0}),
        ("Latency p99", {"podinfo": 175.0, "podinfo-primary": 87.5}),
        ("Requests", {"podinfo": 100.0, "podinfo-primary": 100.0}),
    ],
)
def test_the_istio_panels_show_the_primary_and_the_canary(
    prometheus: PrometheusServer, title: str, expected: dict[str, float]
) -> None:
    (target,) = next(p for p in PANELS if p["title"] == title)["targets"]
    status, body = _query(prometheus, _grafana(target["expr"]), T0 + 300)
    assert status == 200, body
    got = {
        r["metric"]["destination_workload"]: float(r["value"][1]) for r in body["data"]["result"]
    }
    assert got == pytest.approx(expected)
