"""The mesh on a real Envoy: weights, live weight changes, mirroring, A/B and refused routing."""

from __future__ import annotations

import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest
from kubernetes import client

from canary.playground.mesh import EVENT_REASON, Mesh
from canary.playground.telemetry import Telemetry
from canary.sandbox import testing
from tests.playground.conftest_mesh import NS, apply_istio, podinfo, weighted

pytestmark = pytest.mark.slow


def versions(mesh: Mesh, n: int, headers: dict[str, str] | None = None) -> Counter[str]:
    seen: Counter[str] = Counter()
    with httpx.Client(timeout=5) as http:
        for _ in range(n):
            response = http.get(f"{mesh.url}/", headers={"host": "podinfo", **(headers or {})})
            seen[f"{response.status_code}:{response.headers.get('x-app-version', '')}"] += 1
    return seen


def live_weights(mesh: Mesh) -> dict[str, int]:
    """The clusters (and weights) of the first live route, from Envoy's /config_dump."""
    dump: Any = httpx.get(
        f"{mesh.admin_url}/config_dump", params={"resource": "dynamic_route_configs"}, timeout=5
    ).json()
    for config in dump.get("configs", []):
        for vhost in config.get("route_config", {}).get("virtual_hosts", []):
            for route in vhost["routes"]:
                action = route.get("route", {})
                if "weighted_clusters" in action:
                    clusters = action["weighted_clusters"]["clusters"]
                    return {c["name"]: int(c["weight"]) for c in clusters}
                if "cluster" in action:
                    return {action["cluster"]: 100}
    return {}


def test_weights_split_traffic_and_a_change_is_live_quickly(
    env: testing.Environment, tmp_path: Path
) -> None:
    with podinfo(env.api_client, tmp_path) as (mesh, _, _):
        apply_istio(
            env.api_client, "virtualservices", "VirtualService", "podinfo", weighted(80, 20)
        )
        testing.eventually(lambda: len(live_weights(mesh)) == 2, timeout=5)
        seen = versions(mesh, 1000)
        assert seen["200:v1"] + seen["200:v2"] == 1000
        # Binomial(1000, 0.2) has a standard deviation of 1.26 points: 5 points is ~4 sd.
        assert abs(seen["200:v2"] / 1000 - 0.20) <= 0.05, seen

        changed = time.monotonic()
        apply_istio(
            env.api_client, "virtualservices", "VirtualService", "podinfo", weighted(50, 50)
        )
        testing.eventually(
            lambda: set(live_weights(mesh).values()) == {50}, timeout=5, interval=0.01
        )
        elapsed = time.monotonic() - changed
        print(f"weight change live in Envoy after {elapsed:.3f} s")  # the spec asks < 1 s
        seen = versions(mesh, 1000)
        assert abs(seen["200:v2"] / 1000 - 0.50) <= 0.05, seen


def test_mirrored_requests_reach_the_canary_marked_and_their_answers_never_the_client(
    env: testing.Environment, tmp_path: Path
) -> None:
    with podinfo(env.api_client, tmp_path, 500) as (mesh, primary, canary):
        spec = weighted(
            100, 0, mirror={"host": "podinfo-canary"}, mirrorPercentage={"value": 100.0}
        )
        apply_istio(env.api_client, "virtualservices", "VirtualService", "podinfo", spec)
        testing.eventually(
            lambda: (
                "request_mirror_policies"
                in str(httpx.get(f"{mesh.admin_url}/config_dump", timeout=5).text)
            ),
            timeout=5,
        )
        seen = versions(mesh, 200)
        assert seen == Counter({"200:v1": 200})  # the mirror's 500s never reach the client
        testing.eventually(lambda: len(canary.seen) == 200, timeout=5)
        assert all(h.get("x-canary-mirror") == "true" for h in canary.seen)
        assert all("x-canary-mirror" not in h for h in primary.seen)
        assert all(h["host"] == "podinfo" for h in canary.seen)  # no -shadow suffix
        # The canary's destination metrics count the mirrored requests (as its sidecar would);
        # the client-side (source) view never sees them.
        telemetry = Telemetry(mesh.upstream_log_path, access_log=mesh.access_log_path)

        def served_by_canary(reporter: str) -> float:
            labels = {"reporter": reporter, "destination_workload": "podinfo"}
            return sum(
                s.value
                for m in telemetry.registry.collect()
                for s in m.samples
                if s.name == "istio_requests_total"
                and all(s.labels[k] == v for k, v in labels.items())
                and s.labels["response_code"] == "500"
            )

        testing.eventually(lambda: telemetry.poll() >= 0 and served_by_canary("destination") == 200)
        assert served_by_canary("source") == 0


def test_header_match_sends_testers_to_the_canary(env: testing.Environment, tmp_path: Path) -> None:
    with podinfo(env.api_client, tmp_path) as (mesh, _, _):
        spec = weighted(100, 0)
        spec["http"].insert(
            0,
            {
                "name": "canary",
                "match": [
                    {"headers": {"x-user": {"exact": "tester"}}},
                    {"headers": {"cookie": {"regex": "^(.*?;\\s*)?(canary=always)(;.*)?$"}}},
                ],
                "route": [
                    {"destination": {"host": "podinfo-primary"}, "weight": 0},
                    {"destination": {"host": "podinfo-canary"}, "weight": 100},
                ],
            },
        )
        apply_istio(env.api_client, "virtualservices", "VirtualService", "podinfo", spec)
        testing.eventually(
            lambda: versions(mesh, 1, {"x-user": "tester"})["200:v2"] == 1, timeout=5
        )
        assert versions(mesh, 20, {"x-user": "tester"}) == Counter({"200:v2": 20})
        assert versions(mesh, 20, {"cookie": "a=b; canary=always"}) == Counter({"200:v2": 20})
        assert versions(mesh, 20, {"x-user": "someone"}) == Counter({"200:v1": 20})
        assert versions(mesh, 20) == Counter({"200:v1": 20})


def test_a_virtual_service_the_mesh_cannot_honour_is_reported_and_the_old_routing_stays(
    env: testing.Environment, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with podinfo(env.api_client, tmp_path) as (mesh, _, _):
        apply_istio(
            env.api_client, "virtualservices", "VirtualService", "podinfo", weighted(100, 0)
        )
        testing.eventually(lambda: versions(mesh, 1)["200:v1"] == 1, timeout=5)
        bad = weighted(0, 100, fault={"abort": {"httpStatus": 500, "percentage": {"value": 100}}})
        apply_istio(env.api_client, "virtualservices", "VirtualService", "podinfo", bad)

        def warning() -> list[Any]:
            events = client.CoreV1Api(env.api_client).list_namespaced_event(NS).items
            return [e for e in events if e.reason == EVENT_REASON and e.type == "Warning"]

        (event,) = testing.eventually(warning, timeout=5)
        assert event.involved_object.kind == "VirtualService"
        assert event.involved_object.name == "podinfo"
        assert "spec.http[0].fault" in event.message
        assert any("spec.http[0].fault" in r.getMessage() for r in caplog.records)
        # Not half-applied: the 0/100 weights did not go live without the fault.
        assert versions(mesh, 50) == Counter({"200:v1": 50})


def test_no_request_meets_a_missing_cluster_while_destinations_come_and_go(
    env: testing.Environment, tmp_path: Path
) -> None:
    with podinfo(env.api_client, tmp_path) as (mesh, _, _):
        apply_istio(
            env.api_client, "virtualservices", "VirtualService", "podinfo", weighted(80, 20)
        )
        testing.eventually(lambda: len(live_weights(mesh)) == 2, timeout=5)
        stop = threading.Event()
        seen: Counter[str] = Counter()

        def traffic() -> None:
            while not stop.is_set():
                seen.update(versions(mesh, 10))

        sender = threading.Thread(target=traffic)
        sender.start()
        try:
            # 100/0 drops the canary's cluster, 80/20 brings it back: five times each way.
            for primary_weight in (100, 80, 100, 80, 100, 80, 100, 80, 100, 80):
                apply_istio(
                        env.api_client, "virtualservices", "VirtualService", "podinfo",
                        weighted(primary_weight, 100 - primary_weight),
                    )  # fmt: skip
                expected = 1 if primary_weight == 100 else 2
                testing.eventually(
                    lambda n=expected: len(live_weights(mesh)) == n,  # type: ignore[misc]
                    timeout=5,
                )
        finally:
            stop.set()
            sender.join()
        assert set(seen) == {"200:v1", "200:v2"}, seen
