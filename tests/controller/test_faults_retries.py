"""Safe API requests are retried inside the call; the per-Canary backoff never outsleeps the Canary."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import urllib3
from kubernetes import client

from canary.controller.queue import MAX_BACKOFF, backoff
from canary.controller.reconcile import Reconciler
from canary.controller.runtime import Controller, Options
from canary.controller.scheduling import ManualTimers
from canary.kube import client as kube_client
from canary.kube.client import Kube, raw, read
from canary.kube.istio import IstioRouter
from canary.kube.status import Involved, record_event
from canary.sandbox import testing
from canary.sandbox.faults import CUT_AFTER, CUT_BEFORE, FaultPlan
from canary.sandbox.server import ApiServer
from tests.controller.kube_harness import FakeMonotonic

JSON = dict[str, Any]
NS = "default"


@pytest.fixture
def server() -> Iterator[ApiServer]:
    with testing.sandbox() as env:
        server = env.require_emulator()
        yield server


@pytest.fixture
def kube(server: ApiServer) -> Iterator[Kube]:
    api = client.ApiClient(client.Configuration(host=server.url))
    yield Kube.of(api)
    api.close()  # type: ignore[no-untyped-call]


@pytest.fixture(autouse=True)
def quick_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """Short waits keep the tests quick; the attempts and their order are the real policy's."""
    monkeypatch.setattr(
        kube_client, "RETRY", dataclasses.replace(kube_client.RETRY, first_wait=0.01, max_wait=0.05)
    )


def config_map(name: str) -> JSON:
    return {"metadata": {"name": name, "namespace": NS}, "data": {"k": "v"}}


def fail(server: ApiServer, *outcomes: int | str, verbs: str = "", rate: float = 1.0) -> None:
    server.api.faults.set(
        FaultPlan(
            rate=rate, outcomes=outcomes, verbs=frozenset(verbs.split()) if verbs else frozenset()
        )
    )


@pytest.mark.parametrize("outcome", [500, 503, 429, CUT_BEFORE, CUT_AFTER])
def test_a_read_is_retried_until_it_succeeds(server: ApiServer, kube: Kube, outcome: Any) -> None:
    raw(kube.core.create_namespaced_config_map, NS, config_map("a"))
    server.api.faults.set(FaultPlan(rate=0.3, outcomes=(outcome,), seed=4))

    found = [read(kube.core.read_namespaced_config_map, "a", NS) for _ in range(20)]

    assert all(f is not None and f["data"] == {"k": "v"} for f in found)
    assert server.api.faults.injected[str(outcome)] > 0


def test_retries_stop_at_the_budget_and_raise_the_last_error(server: ApiServer, kube: Kube) -> None:
    fail(server, 503)
    with pytest.raises(client.ApiException) as raised:
        raw(kube.core.list_namespaced_config_map, NS)
    assert raised.value.status == 503
    assert server.api.faults.injected["503"] == kube_client.RETRY.attempts


def test_a_429_waits_as_long_as_retry_after_says(
    server: ApiServer, kube: Kube, monkeypatch: pytest.MonkeyPatch
) -> None:
    waits: list[float] = []
    monkeypatch.setattr("tenacity.nap.time.sleep", waits.append)
    server.api.faults.set(FaultPlan(rate=1.0, outcomes=(429,), retry_after=3))
    with pytest.raises(client.ApiException):
        raw(kube.core.list_namespaced_config_map, NS)
    assert waits == [3.0] * (kube_client.RETRY.attempts - 1)


def test_a_429_asking_for_more_than_the_budget_gives_up_at_once(
    server: ApiServer, kube: Kube, monkeypatch: pytest.MonkeyPatch
) -> None:
    waits: list[float] = []
    monkeypatch.setattr("tenacity.nap.time.sleep", waits.append)
    monkeypatch.setattr(kube_client, "RETRY", dataclasses.replace(kube_client.RETRY, budget=2.0))
    server.api.faults.set(FaultPlan(rate=1.0, outcomes=(429,), retry_after=5))
    with pytest.raises(client.ApiException):
        raw(kube.core.list_namespaced_config_map, NS)
    assert waits == []


def test_an_event_cut_after_it_was_created_is_recorded_once(server: ApiServer, kube: Kube) -> None:
    server.api.faults.set(
        FaultPlan(rate=1.0, outcomes=(CUT_AFTER,), verbs=frozenset({"create"}), limit=1)
    )
    about = Involved("app", NS, "uid-1")
    record_event(kube, about, "Warning", "Test", "once", datetime(2026, 1, 1, tzinfo=UTC))
    assert server.api.faults.injected[CUT_AFTER] == 1
    server.api.faults.clear()
    events = raw(kube.core.list_namespaced_event, NS)["items"]
    assert [(e["reason"], e["count"]) for e in events] == [("Test", 1)]


def test_a_create_cut_after_it_was_carried_out_is_refused_as_already_existing(
    server: ApiServer, kube: Kube
) -> None:
    """Only the caller knows whether another writer could have made it (a Lease): raw says so."""
    server.api.faults.set(
        FaultPlan(rate=1.0, outcomes=(CUT_AFTER,), verbs=frozenset({"create"}), limit=1)
    )
    with pytest.raises(client.ApiException) as raised:
        raw(kube.core.create_namespaced_config_map, NS, config_map("once"))
    assert raised.value.status == 409
    assert server.api.faults.injected[CUT_AFTER] == 1
    server.api.faults.clear()
    names = [i["metadata"]["name"] for i in raw(kube.core.list_namespaced_config_map, NS)["items"]]
    assert names.count("once") == 1


def test_a_replace_with_a_resource_version_is_retried_and_a_lost_answer_becomes_a_conflict(
    server: ApiServer, kube: Kube
) -> None:
    live = raw(kube.core.create_namespaced_config_map, NS, config_map("rv"))
    live["data"] = {"k": "new"}
    server.api.faults.set(
        FaultPlan(rate=1.0, outcomes=(CUT_AFTER,), verbs=frozenset({"update"}), limit=1)
    )
    with pytest.raises(client.ApiException) as raised:
        raw(kube.core.replace_namespaced_config_map, "rv", NS, live)
    assert raised.value.status == 409, "the retry carried the old resourceVersion"
    server.api.faults.clear()
    assert raw(kube.core.read_namespaced_config_map, "rv", NS)["data"] == {"k": "new"}


def test_a_patch_without_a_resource_version_is_not_retried(server: ApiServer, kube: Kube) -> None:
    raw(kube.core.create_namespaced_config_map, NS, config_map("p"))
    fail(server, 503, verbs="patch")
    with pytest.raises(client.ApiException):
        raw(
            kube.core.patch_namespaced_config_map,
            "p",
            NS,
            {"data": {"k": "x"}},
            _content_type=kube_client.MERGE_PATCH,
        )
    assert server.api.faults.injected["503"] == 1


def test_a_lost_connection_on_an_unsafe_write_is_raised_not_retried(
    server: ApiServer, kube: Kube
) -> None:
    raw(kube.core.create_namespaced_config_map, NS, config_map("u"))
    fail(server, CUT_BEFORE, verbs="patch")
    with pytest.raises(urllib3.exceptions.HTTPError):
        raw(
            kube.core.patch_namespaced_config_map,
            "u",
            NS,
            {"data": {"k": "x"}},
            _content_type=kube_client.MERGE_PATCH,
        )
    assert server.api.faults.injected[CUT_BEFORE] == 1


@pytest.mark.parametrize(
    ("failures", "interval", "recheck", "expected"),
    [
        (1, 60.0, None, 0.5),
        (2, 60.0, None, 1.0),
        (5, 60.0, None, 8.0),
        (20, 600.0, None, MAX_BACKOFF),
        (20, 10.0, None, 10.0),  # never beyond the Canary's own interval
        (20, 60.0, 1.0, 1.0),  # nor beyond the re-check its last reconcile asked for
        (3, 1.0, 5.0, 1.0),
    ],
)
def test_the_backoff_of_a_failing_canary(
    failures: int, interval: float, recheck: float | None, expected: float
) -> None:
    assert backoff(failures, interval, recheck) == expected


class Scripted(Reconciler):
    """Answers each reconcile from a script: a requeue in seconds, or an error to raise."""

    script: list[float | Exception]

    def reconcile(self, namespace: str, name: str) -> float | None:
        step = self.script.pop(0)
        if isinstance(step, Exception):
            raise step
        return step


def _delays(script: list[float | Exception], interval: str) -> list[float]:
    """The delay the controller queues after each reconcile of one Canary."""
    clock = FakeMonotonic()
    kube = Kube.of(client.ApiClient(client.Configuration(host="http://127.0.0.1:9")))
    reconciler = Scripted(kube, IstioRouter(kube))
    reconciler.script = list(script)
    timers: ManualTimers[tuple[str, str]] = ManualTimers(clock)
    controller = Controller(kube, reconciler, Options(metrics_addr=None), timers=timers)
    canary = {"metadata": {"namespace": "n", "name": "c", "generation": 1},
              "spec": {"analysis": {"interval": interval}}}  # fmt: skip
    controller.on_canary("ADDED", canary)
    delays = []
    for _ in script:
        key = controller.queue.get(timeout=0)
        assert key == ("n", "c")
        controller._reconcile(key)
        controller.queue.done(key)
        delay = timers.due()[key] - clock.now
        delays.append(delay)
        clock.advance(delay)
        timers.run_due()
    return delays


def test_a_failing_canary_is_retried_at_least_once_per_interval() -> None:
    boom = RuntimeError("boom")
    assert _delays([boom] * 6, "2s") == [0.5, 1.0, 2.0, 2.0, 2.0, 2.0]


def test_failures_never_push_a_short_recheck_further_away() -> None:
    boom = RuntimeError("boom")
    delays = _delays([1.0, boom, boom, boom, boom, 1.0], "1m")
    assert delays == [1.0, 0.5, 1.0, 1.0, 1.0, 1.0]
