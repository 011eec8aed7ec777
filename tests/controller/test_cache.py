"""The reconciler reads watched objects from the caches the watches keep: 0 reads at rest, only writes in a rollout.

The requests are counted in the emulator's audit log (`Api.requests`, verb and resource as the
authorizer sees them); the bodies of the controller's writes are recorded on its own client.
"""

from __future__ import annotations

import itertools
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from kubernetes import client

from canary.analysis.results import Verdict
from canary.api.crdgen import write_crds
from canary.controller.reconcile import Reconciler
from canary.controller.runtime import Controller, Options
from canary.controller.watches import Watcher
from canary.engine.types import Routes
from canary.kube.cache import ALL, Store, metadata_of, older
from canary.kube.client import ISTIO_GROUP, ISTIO_VERSION, MERGE_PATCH, Kube, raw
from canary.kube.istio import IstioRouter
from canary.kube.workloads import DIGEST
from canary.sandbox import testing
from canary.sandbox.audit import attributes
from tests.controller.kube_fixtures import secret
from tests.controller.kube_harness import Harness
from tests.controller.test_runtime import api_client

JSON = dict[str, Any]
CACHED = ("canaries", "deployments", "services", "virtualservices", "destinationrules")
METADATA = ("configmaps", "secrets")
"""Watched as metadata only: the cache knows their versions, not their data."""
GROUPS = {
    "configmaps": ("", "v1"),
    "secrets": ("", "v1"),
    "canaries": ("canary.dev", "v1alpha1"),
    "deployments": ("apps", "v1"),
    "services": ("", "v1"),
    "virtualservices": (ISTIO_GROUP, ISTIO_VERSION),
    "destinationrules": (ISTIO_GROUP, ISTIO_VERSION),
}
NEW_IMAGE = "ghcr.io/stefanprodan/podinfo:6.0.1"


def _obj(name: str, version: str | None, namespace: str = "ns", **extra: Any) -> JSON:
    meta: JSON = {"name": name, "namespace": namespace}
    if version is not None:
        meta["resourceVersion"] = version
    return {"metadata": meta, **extra}


# The store's rules


@pytest.mark.parametrize(
    ("candidate", "held", "is_older"),
    [
        ("5", "7", True),
        ("7", "7", False),
        ("9", "7", False),
        ("5", None, False),
        ("abc", "7", False),  # opaque: the watch wins
        ("5", "xyz", False),
    ],
)
def test_only_an_integer_version_below_the_held_one_counts_as_older(
    candidate: str, held: str | None, is_older: bool
) -> None:
    assert older(_obj("a", candidate), None if held is None else _obj("a", held)) is is_older


def test_a_late_watch_event_does_not_undo_a_write_of_ours() -> None:
    store = Store("deployments")
    store.replace("ns", [_obj("a", "3", spec={"replicas": 1})], "3")
    store.remember(_obj("a", "8", spec={"replicas": 0}))  # our patch's answer

    store.apply("MODIFIED", _obj("a", "5", spec={"replicas": 2}))  # someone's earlier change
    assert store.lookup("ns", "a")[1] == _obj("a", "8", spec={"replicas": 0})

    store.apply("MODIFIED", _obj("a", "9", spec={"replicas": 3}))
    assert store.lookup("ns", "a")[1] == _obj("a", "9", spec={"replicas": 3})


def test_a_listing_drops_what_is_gone_but_keeps_what_we_wrote_after_it() -> None:
    store = Store("services")
    store.replace(ALL, [_obj("a", "1"), _obj("b", "2"), _obj("c", "3", "other")], "3")
    store.remember(_obj("d", "12"))

    store.replace("ns", [_obj("a", "4")], "10")  # a relist of `ns` after a 410

    assert store.lookup("ns", "a")[1] == _obj("a", "4")
    assert store.lookup("ns", "b") == (True, None)
    assert store.lookup("ns", "d")[1] == _obj("d", "12")
    assert store.lookup("other", "c")[1] == _obj("c", "3", "other")


def test_nothing_is_known_before_the_namespace_is_listed_or_once_marked_stale() -> None:
    store = Store("services")
    assert store.lookup("ns", "a") == (False, None)
    store.replace("ns", [_obj("a", "1")], "1")
    assert store.lookup("elsewhere", "a") == (False, None)
    assert store.lookup("ns", "a")[0]

    store.mark_stale("ns", "a")
    assert store.lookup("ns", "a") == (False, None)
    store.remember(_obj("a", "2"))  # what the API answered
    assert store.lookup("ns", "a") == (True, _obj("a", "2"))


def test_a_lookup_hands_out_a_copy() -> None:
    store = Store("deployments")
    store.replace("ns", [_obj("a", "1", spec={"replicas": 1})], "1")
    found = store.lookup("ns", "a")[1]
    assert found is not None
    found["spec"]["replicas"] = 5
    assert store.lookup("ns", "a")[1] == _obj("a", "1", spec={"replicas": 1})


events = st.lists(
    st.tuples(st.sampled_from(["ADDED", "MODIFIED", "DELETED", "WRITE"]), st.integers(1, 30)),
    max_size=20,
    unique_by=lambda event: event[1],  # one resourceVersion per change, as the API server does
)


@given(events)
def test_the_store_holds_the_newest_version_whatever_order_it_learns_them_in(
    history: list[tuple[str, int]],
) -> None:
    store = Store("deployments")
    store.replace("ns", [], "0")
    for kind, version in history:
        obj = _obj("a", str(version))
        if kind == "WRITE":
            store.remember(obj)
        else:
            store.apply(kind, obj)
    _, held = store.lookup("ns", "a")
    if not history:
        assert held is None
        return
    newest = max(v for _, v in history)
    if {v: k for k, v in history}[newest] == "DELETED":
        assert held is None
    else:
        assert held is not None
        assert int(held["metadata"]["resourceVersion"]) == newest


# Against the emulator


class Recorder:
    """The bodies of the writes a client sends (method, path, body)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.writes: list[tuple[str, str, Any]] = []

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        if method in ("PATCH", "PUT"):
            self.writes.append((method, url.split("?")[0], kwargs.get("body")))
        return self.inner.request(method, url, *args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def _carries_version(body: Any) -> bool:
    if isinstance(body, dict):
        return bool((body.get("metadata") or {}).get("resourceVersion"))
    return isinstance(body, list) and any(
        op.get("path") == "/metadata/resourceVersion" and op.get("value") for op in body
    )


def _versions_in_emulator(env: testing.Environment, namespace: str, plural: str) -> dict[str, str]:
    server = env.require_emulator()
    group, version = GROUPS[plural]
    resource = server.store.registry.find(group, version, plural)
    assert resource is not None, plural
    items, _ = server.store.list_objects(resource, namespace, lambda _: True)
    return {o["metadata"]["name"]: str(o["metadata"]["resourceVersion"]) for o in items}


def _versions_in_cache(kube: Kube, namespace: str, plural: str) -> dict[str, str]:
    store = kube.cache.get(metadata_of(plural) if plural in METADATA else plural)
    assert store is not None, plural
    versions = {}
    for ns, name in store.keys():  # noqa: SIM118 (a method, not a dict)
        obj = store.lookup(ns, name)[1] if ns == namespace else None
        if obj is not None:
            versions[name] = str(obj["metadata"]["resourceVersion"])
    return versions


def _plain_client(env: testing.Environment) -> client.ApiClient:
    """A client of its own, without the schema check of the scenario tests: that check reads the
    live object before each patch, which would count as the controller's reads here."""
    configuration = client.Configuration()
    configuration.host = env.require_emulator().url
    configuration.connection_pool_maxsize = 32
    return client.ApiClient(configuration)


def list_once(kube: Kube, namespace: str, plural: str) -> None:
    """Load the store of `plural` (a custom resource) with one listing, as a watch would."""
    group, version = GROUPS[plural]
    listing = raw(kube.custom.list_namespaced_custom_object, group, version, namespace, plural)
    kube.cache.store(plural).replace(
        namespace, listing["items"], listing["metadata"]["resourceVersion"]
    )


@contextmanager
def cached(harness: Harness, frozen: tuple[str, ...] = ()) -> Iterator[tuple[Kube, Recorder]]:
    """The harness's reconciler on a client of its own whose reads go through the caches of a
    running Controller (no workers: the test drives the reconciles). The kinds in `frozen` are
    listed once and never watched, so that they go stale when someone else changes them."""
    kube = Kube.of(_plain_client(harness.env))
    recorder = Recorder(kube.api.rest_client)
    kube.api.rest_client = recorder  # type: ignore[assignment]
    reconciler = Reconciler(
        kube, IstioRouter(kube), harness.analyzer, harness.webhooks, clock=harness.clock
    )
    namespace = harness.namespace
    controller = Controller(
        kube, reconciler, Options(namespaces=[namespace], workers=0, metrics_addr=None)
    )
    controller.watchers = [w for w in controller.watchers if w.name.split("/")[0] not in frozen]
    harness.reconciler = reconciler
    unsettled = harness.settle

    def caught_up() -> bool:
        return all(
            _versions_in_cache(kube, namespace, p)
            == _versions_in_emulator(harness.env, namespace, p)
            for p in CACHED + METADATA
            if p not in frozen
        )

    def settle() -> None:
        unsettled()
        # A reconcile may only be compared with another once the watches have delivered.
        testing.eventually(caught_up)

    harness.settle = settle  # type: ignore[method-assign]
    controller.start()
    try:
        testing.eventually(controller.ready)
        for plural in frozen:
            list_once(kube, namespace, plural)
        yield kube, recorder
    finally:
        controller.stop()
        kube.api.close()  # type: ignore[no-untyped-call]


def _by_verb(harness: Harness, since: int = 0) -> Counter[tuple[str, str]]:
    """(verb, resource) of the controller's requests, watches aside."""
    counts: Counter[tuple[str, str]] = Counter()
    for request in harness.controller_requests[since:]:
        seen = attributes(request.method, request.path, request.query)
        if seen.resource and seen.verb not in ("watch", "list"):
            counts[(seen.verb, seen.rbac_resource)] += 1
    return counts


def _reads(counts: Counter[tuple[str, str]]) -> int:
    return sum(n for (verb, resource), n in counts.items() if verb == "get" and resource in CACHED)


def test_at_rest_a_canary_costs_no_request_at_all(harness: Harness) -> None:
    with cached(harness):
        harness.given_target()
        harness.given_canary()
        harness.settle()
        harness.run_until(lambda: harness.phase() == "Initialized")
        since = len(harness.controller_requests)

        for _ in range(5):
            harness.tick()

        assert _by_verb(harness, since) == Counter()
        assert harness.phase() == "Initialized"


def test_a_rollout_with_caches_reads_nothing_and_writes_only_patches_carrying_versions(
    harness: Harness,
) -> None:
    with cached(harness) as (_, recorder):
        harness.given_target()
        harness.given_canary()
        harness.settle()
        harness.run_until(lambda: harness.phase() == "Initialized")
        since = len(harness.controller_requests)

        harness.update_target(NEW_IMAGE)
        harness.run_until(lambda: harness.phase() == "Succeeded")

        counts = _by_verb(harness, since)
        assert _reads(counts) == 0, counts
        assert counts[("patch", "virtualservices")] >= 2  # the steps moved the weights
        assert recorder.writes, "no write recorded"
        assert all(_carries_version(body) for _, _, body in recorder.writes), [
            (m, p) for m, p, b in recorder.writes if not _carries_version(b)
        ]
        assert {method for method, _, _ in recorder.writes} == {"PATCH"}
        assert any(path.endswith("/podinfo/status") for _, path, _ in recorder.writes)
        assert harness.image("podinfo-primary") == NEW_IMAGE
        assert harness.routes() == Routes(100, 0)


def test_a_tracked_config_map_is_read_again_only_once_its_version_moves(harness: Harness) -> None:
    with cached(harness):
        harness.given_config_map("settings", color="blue")
        harness.given_target(config_map="settings")
        harness.given_canary()
        harness.settle()
        harness.run_until(lambda: harness.phase() == "Initialized")
        since = len(harness.controller_requests)

        for _ in range(3):
            harness.tick()
        assert _by_verb(harness, since) == Counter()

        harness.replace_config_map("settings", color="green")
        since = len(harness.controller_requests)
        harness.run_until(lambda: harness.phase() == "Succeeded")

        assert _by_verb(harness, since)[("get", "configmaps")] >= 1
        assert harness.config_map("settings-primary")["data"] == {"color": "green"}


def test_a_tracked_secret_is_read_once_per_version_and_only_its_checksum_is_kept(
    harness: Harness,
) -> None:
    with cached(harness) as (kube, _):
        raw(
            harness.kube.core.create_namespaced_secret,
            harness.namespace,
            secret("token", harness.namespace),
        )
        harness.given_target(secret="token")
        harness.given_canary()
        harness.settle()
        harness.run_until(lambda: harness.phase() == "Initialized")
        since = len(harness.controller_requests)

        for _ in range(3):
            harness.tick()

        assert _by_verb(harness, since) == Counter()
        known, kept = kube.cache.kept("secrets", harness.namespace, "token")
        assert known
        assert kept is not None
        assert "data" not in kept
        assert kept[DIGEST] == harness.status()["trackedConfigs"]["secret/token"]

        # A new version of the Secret: read once, and rolled out (its copy read once too).
        changed = secret("token", harness.namespace, token="bmV3LXRva2Vu")
        raw(harness.kube.core.replace_namespaced_secret, "token", harness.namespace, changed)
        harness.settle()
        since = len(harness.controller_requests)
        harness.run_until(lambda: harness.phase() == "Progressing")
        harness.run_until(lambda: harness.phase() == "Succeeded")

        counts = _by_verb(harness, since)
        # The source when its version moved and when the promotion copies it; the copy once.
        assert counts[("get", "secrets")] == 3, counts
        copy = raw(harness.kube.core.read_namespaced_secret, "token-primary", harness.namespace)
        assert copy["data"] == {"token": "bmV3LXRva2Vu"}


def test_a_promotion_clears_from_the_primary_and_the_status_what_the_target_dropped(
    harness: Harness,
) -> None:
    with cached(harness):
        harness.given_config_map("settings", color="blue")
        harness.given_target(config_map="settings")
        harness.given_canary()
        harness.settle()
        harness.run_until(lambda: harness.phase() == "Initialized")
        assert "configmap/settings" in harness.status()["trackedConfigs"]

        # The new revision no longer uses the ConfigMap: its envFrom and volumes are gone.
        target = harness.existing_deployment("podinfo")
        pod = target["spec"]["template"]["spec"]
        del pod["volumes"], pod["containers"][0]["envFrom"]
        pod["containers"][0]["image"] = NEW_IMAGE
        raw(harness.kube.apps.replace_namespaced_deployment, "podinfo", harness.namespace, target)
        harness.settle()
        harness.run_until(lambda: harness.phase() == "Succeeded")

        primary = harness.existing_deployment("podinfo-primary")["spec"]["template"]["spec"]
        assert primary["containers"][0]["image"] == NEW_IMAGE
        assert "envFrom" not in primary["containers"][0]
        assert "volumes" not in primary
        assert "configmap/settings" not in harness.status().get("trackedConfigs", {})


def test_a_status_written_behind_the_cache_costs_one_conflict_and_one_read(
    harness: Harness,
) -> None:
    with cached(harness, frozen=("canaries",)) as (kube, _):
        harness.given_target()
        harness.given_canary()
        list_once(kube, harness.namespace, "canaries")
        harness.settle()
        harness.run_until(lambda: harness.phase() == "Initialized")
        # Another writer labels the Canary: the controller's copy is now out of date.
        harness.patch_canary({"metadata": {"labels": {"team": "payments"}}})
        harness.update_target(NEW_IMAGE)
        since = len(harness.controller_requests)

        harness.tick()

        counts = _by_verb(harness, since)
        assert counts[("get", "canaries")] == 1, counts
        assert counts[("patch", "canaries/status")] == 2, counts
        assert harness.phase() == "Progressing"
        assert harness.canary_object()["metadata"]["labels"]["team"] == "payments"
        harness.run_until(lambda: harness.phase() == "Succeeded")


def test_a_failing_rollout_still_rolls_back_with_caches(harness: Harness) -> None:
    with cached(harness):
        harness.given_target()
        harness.given_canary(
            analysis={
                "interval": "1s",
                "threshold": 2,
                "metrics": [{"name": "request-success-rate", "thresholdRange": {"min": 99}}],
            }
        )
        harness.settle()
        harness.run_until(lambda: harness.phase() == "Initialized")
        since = len(harness.controller_requests)
        harness.analyzer.verdict = Verdict.FAIL

        harness.update_target(NEW_IMAGE)
        harness.run_until(lambda: harness.phase() == "Failed")

        assert _reads(_by_verb(harness, since)) == 0
        assert harness.routes() == Routes(100, 0)
        assert harness.replicas("podinfo") == 0
        assert harness.image("podinfo-primary") != NEW_IMAGE


def test_a_virtual_service_changed_behind_the_cache_costs_one_conflict_and_one_read(
    harness: Harness,
) -> None:
    with cached(harness, frozen=("virtualservices",)):
        harness.given_target()
        harness.given_canary()
        harness.settle()
        harness.run_until(lambda: harness.phase() == "Initialized")
        harness.update_target(NEW_IMAGE)
        harness.run_until(lambda: harness.routes().canary > 0)
        weight = harness.routes().canary
        # Another writer labels the VirtualService: the controller's copy is now out of date.
        raw(
            harness.kube.custom.patch_namespaced_custom_object,
            ISTIO_GROUP,
            ISTIO_VERSION,
            harness.namespace,
            "virtualservices",
            "podinfo",
            {"metadata": {"labels": {"team": "payments"}}},
            _content_type=MERGE_PATCH,
        )
        since = len(harness.controller_requests)

        harness.run_until(lambda: harness.routes().canary != weight)

        counts = _by_verb(harness, since)
        assert counts[("get", "virtualservices")] == 1, counts
        assert _reads(counts) == 1, counts
        assert harness.routes().canary == harness.status()["canaryWeight"]
        assert harness.virtual_service()["metadata"]["labels"]["team"] == "payments"
        harness.run_until(lambda: harness.phase() == "Succeeded")
        assert harness.routes() == Routes(100, 0)


_cut_namespaces = itertools.count(1)


def test_a_rollout_succeeds_while_the_watches_keep_being_cut(tmp_path: Path) -> None:
    faults = testing.FaultPlan(watch_cut=0.3, seed=7)
    write_crds(tmp_path)
    with testing.sandbox(crds=[testing.ISTIO_CRDS, tmp_path], faults=faults) as env:
        namespace = f"cut-{next(_cut_namespaces)}"
        raw(Kube.of(env.api_client).core.create_namespace, {"metadata": {"name": namespace}})
        with Harness.start(env, namespace) as harness, cached(harness) as (kube, _):
            harness.given_target()
            harness.given_canary()
            harness.settle()
            harness.run_until(lambda: harness.phase() == "Initialized")
            harness.update_target(NEW_IMAGE)
            harness.run_until(lambda: harness.phase() == "Succeeded")

            assert harness.image("podinfo-primary") == NEW_IMAGE
            assert harness.routes() == Routes(100, 0)
            for plural in CACHED:
                assert _versions_in_cache(kube, namespace, plural) == _versions_in_emulator(
                    env, namespace, plural
                ), plural


def test_ready_only_once_every_cache_holds_the_watched_namespace(harness: Harness) -> None:
    kube = Kube.of(api_client(harness.env))
    options = Options(namespaces=[harness.namespace], workers=0, metrics_addr=None)
    controller = Controller(kube, Reconciler(kube, IstioRouter(kube)), options)
    assert not controller.ready()
    controller.start()
    try:
        testing.eventually(controller.ready)
        for plural in CACHED:
            store = kube.cache.get(plural)
            assert store is not None, plural
            assert store.covers(harness.namespace), plural
            assert not store.covers("elsewhere"), plural
    finally:
        controller.stop()
        kube.api.close()  # type: ignore[no-untyped-call]


class MissedDeletion(Watcher):
    """Its first listing also holds a Service deleted since, and it watches from a version the
    server no longer keeps: as after an outage in which a deletion was missed."""

    def _list(self) -> str:
        version = super()._list()
        if self.relists > 1:
            return version
        assert self.store is not None
        ghost = _obj("ghost", "1", self.scope)
        self.store.apply("ADDED", ghost)
        return "1"


def test_a_410_gone_lists_again_and_the_cache_forgets_what_was_deleted_meanwhile(
    env: testing.Environment, namespace: str
) -> None:
    server = env.require_emulator()
    kube = Kube.of(env.api_client)
    body = {"metadata": {"name": "web"}, "spec": {"ports": [{"port": 80}]}}
    raw(kube.core.create_namespaced_service, namespace, body)
    server.store.compact()
    store = Store("services")
    watcher = MissedDeletion(
        "services",
        kube.core.list_namespaced_service,
        (namespace,),
        lambda kind, obj: None,
        timeout_seconds=5,
        store=store,
        scope=namespace,
    )
    stop = threading.Event()
    thread = threading.Thread(target=watcher.run, args=(stop,), daemon=True)
    thread.start()
    try:
        testing.eventually(lambda: watcher.relists >= 2, timeout=10)

        assert store.lookup(namespace, "ghost") == (True, None)
        _, web = store.lookup(namespace, "web")
        assert web is not None
        assert web["spec"]["ports"][0]["port"] == 80
    finally:
        stop.set()
        watcher.stop()
        thread.join(5)
