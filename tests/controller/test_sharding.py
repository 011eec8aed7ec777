"""Shards by label: each controller owns the Canaries of its shard, with a Lease of its own."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import pytest
from hypothesis import given
from hypothesis import strategies as st

from canary.controller.reconcile import Reconciler
from canary.controller.runtime import Controller, Options
from canary.controller.sharding import SHARD_LABEL, Shard, check_name, spread
from canary.kube.client import Kube, raw, read
from canary.kube.istio import IstioRouter
from canary.sandbox import testing
from tests.controller.kube_fixtures import canary_body, deployment
from tests.controller.kube_harness import ON_A_CLUSTER
from tests.controller.test_runtime import api_client, patience

FAST = {"canary": {"stepWeight": 50, "maxWeight": 50}}
F = TypeVar("F", bound=Callable[..., Any])


def on_a_cluster(test: F) -> F:
    """The marks of the tests that run against the API (the module mixes them with pure ones)."""
    for mark in reversed(ON_A_CLUSTER):
        test = mark(test)
    return test


@pytest.mark.parametrize(
    ("shard", "labels", "owned"),
    [
        (None, None, True),
        (None, {}, True),
        (None, {"app": "x"}, True),
        (None, {SHARD_LABEL: "a"}, False),
        ("a", {SHARD_LABEL: "a"}, True),
        ("a", {SHARD_LABEL: "b"}, False),
        ("a", {}, False),
        ("a", None, False),
    ],
)
def test_which_canaries_a_shard_owns(
    shard: str | None, labels: dict[str, str] | None, owned: bool
) -> None:
    assert Shard(shard).owns(labels) is owned


@pytest.mark.parametrize(
    ("shard", "selector", "lease"),
    [(None, f"!{SHARD_LABEL}", "canary-controller"),
     ("eu-1", f"{SHARD_LABEL}=eu-1", "canary-controller-eu-1")],
)  # fmt: skip
def test_a_shard_selects_by_label_and_elects_on_a_lease_of_its_own(
    shard: str | None, selector: str, lease: str
) -> None:
    assert (Shard(shard).selector, Shard(shard).lease_name("canary-controller")) == (
        selector,
        lease,
    )


@pytest.mark.parametrize("name", ["a", "shard-0", "eu.west_1", "x" * 63])
def test_valid_shard_names(name: str) -> None:
    assert check_name(name) == name


@pytest.mark.parametrize("name", ["", "-a", "a-", "a b", "a/b", "x" * 64])
def test_invalid_shard_names(name: str) -> None:
    with pytest.raises(ValueError, match="label value"):
        check_name(name)


names = st.from_regex(r"[a-z][a-z0-9-]{0,20}", fullmatch=True)


@given(names, names, st.integers(min_value=1, max_value=64))
def test_spread_is_stable_and_in_range(namespace: str, name: str, shards: int) -> None:
    first = spread(namespace, name, shards)
    assert first == spread(namespace, name, shards)
    assert 0 <= int(first.removeprefix("shard-")) < shards
    assert Shard(first).owns({SHARD_LABEL: first})


def test_spread_shares_out_evenly() -> None:
    counts = Counter(spread("ns", f"canary-{i}", 4) for i in range(4000))
    assert set(counts) == {"shard-0", "shard-1", "shard-2", "shard-3"}
    assert max(counts.values()) < 1.15 * min(counts.values())


# Against the API (the emulator, or the cluster in KUBECONFIG)


class Recording(Reconciler):
    """Counts, per Canary, the reconciles that were allowed to act."""

    acted: Counter[str]

    def _reconcile(self, canary: Any, obj: Any) -> float | None:
        self.acted[canary.metadata.name] += 1
        return super()._reconcile(canary, obj)


def _acted(controller: Controller) -> Counter[str]:
    return controller.reconciler.acted  # type: ignore[attr-defined, no-any-return]


@contextmanager
def running(env: testing.Environment, namespace: str, **options: Any) -> Iterator[Controller]:
    kube = Kube.of(api_client(env))
    reconciler = Recording(kube, IstioRouter(kube))
    reconciler.acted = Counter()
    opts = Options(namespaces=[namespace], workers=2, metrics_addr=None, watch_timeout=5, **options)
    controller = Controller(kube, reconciler, opts)
    controller.start()
    try:
        yield controller
    finally:
        controller.stop()
        kube.api.close()  # type: ignore[no-untyped-call]


@pytest.fixture
def simulated(env: testing.Environment) -> Iterator[None]:
    if not env.is_emulator:
        yield
        return
    with testing.DeploymentSimulator(env.api_client, tick=0.05):
        yield


def _create(kube: Kube, namespace: str, name: str, shard: str | None) -> None:
    raw(kube.apps.create_namespaced_deployment, namespace, deployment(name, namespace))
    body = canary_body(name, namespace, strategy=FAST)
    if shard:
        body["metadata"]["labels"] = {SHARD_LABEL: shard}
    raw(kube.custom.create_namespaced_custom_object, "canary.dev", "v1alpha1", namespace,
        "canaries", body)  # fmt: skip


def _phase(kube: Kube, namespace: str, name: str) -> str | None:
    obj = read(kube.custom.get_namespaced_custom_object, "canary.dev", "v1alpha1", namespace,
               "canaries", name)  # fmt: skip
    return ((obj or {}).get("status") or {}).get("phase")


def _label(kube: Kube, namespace: str, name: str, shard: str | None) -> None:
    patch = {"metadata": {"labels": {SHARD_LABEL: shard}}}
    raw(kube.custom.patch_namespaced_custom_object, "canary.dev", "v1alpha1", namespace,
        "canaries", name, patch, _content_type="application/merge-patch+json")  # fmt: skip


def _set_image(kube: Kube, namespace: str, name: str, image: str) -> None:
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "podinfod", "image": image}]}}}}
    raw(kube.apps.patch_namespaced_deployment, name, namespace, patch,
        _content_type="application/strategic-merge-patch+json")  # fmt: skip


@on_a_cluster
def test_each_controller_reconciles_only_its_own_shard_and_a_relabelled_canary_moves(
    env: testing.Environment, namespace: str, simulated: None
) -> None:
    kube = Kube.of(env.api_client)
    with (
        running(env, namespace, shard="blue") as blue,
        running(env, namespace) as default,
    ):
        _create(kube, namespace, "in-blue", "blue")
        _create(kube, namespace, "unlabelled", None)
        _create(kube, namespace, "in-green", "green")  # no controller runs shard green
        wait = patience(env, 15)
        for name in ("in-blue", "unlabelled"):
            testing.eventually(lambda n=name: _phase(kube, namespace, n) == "Initialized",  # type: ignore[misc]
                               timeout=wait)  # fmt: skip

        assert set(_acted(blue)) == {"in-blue"}
        assert set(_acted(default)) == {"unlabelled"}
        assert _phase(kube, namespace, "in-green") is None, "nobody owns shard green"

        # Move: the default shard gives it up, blue takes it and carries out its next rollout.
        _label(kube, namespace, "unlabelled", "blue")
        testing.eventually(lambda: "unlabelled" in _key_names(blue), timeout=wait)
        before = _acted(default)["unlabelled"]
        _set_image(kube, namespace, "unlabelled", "ghcr.io/stefanprodan/podinfo:6.0.1")
        testing.eventually(lambda: _phase(kube, namespace, "unlabelled") == "Succeeded",
                           timeout=patience(env, 20))  # fmt: skip

        assert _acted(default)["unlabelled"] == before, "the old shard no longer acts on it"
        assert _acted(blue)["unlabelled"] > 0
        assert "unlabelled" not in _key_names(default)


def _key_names(controller: Controller) -> set[str]:
    with controller._lock:
        return {name for _, name in controller.index.canaries}


@on_a_cluster
def test_with_two_replicas_per_shard_only_each_shards_lease_holder_acts(
    env: testing.Environment, namespace: str, simulated: None
) -> None:
    election = {"leader_elect": True, "lease_namespace": namespace, "lease_seconds": 3,
                "renew_deadline": 2, "retry_seconds": 0.2}  # fmt: skip
    kube = Kube.of(env.api_client)
    with (
        running(env, namespace, shard="a", identity="a-1", **election) as a1,
        running(env, namespace, shard="a", identity="a-2", **election) as a2,
        running(env, namespace, shard="b", identity="b-1", **election) as b1,
        running(env, namespace, shard="b", identity="b-2", **election) as b2,
    ):
        for pair in ((a1, a2), (b1, b2)):
            testing.eventually(lambda p=pair: p[0].is_leader() or p[1].is_leader(), timeout=10)  # type: ignore[misc]
        _create(kube, namespace, "app-a", "a")
        _create(kube, namespace, "app-b", "b")
        for name in ("app-a", "app-b"):
            testing.eventually(lambda n=name: _phase(kube, namespace, n) == "Initialized",  # type: ignore[misc]
                               timeout=patience(env, 15))  # fmt: skip

        holders = {}
        for shard in ("a", "b"):
            lease = raw(kube.coordination.read_namespaced_lease,
                        f"canary-controller-{shard}", namespace)  # fmt: skip
            holders[shard] = lease["spec"]["holderIdentity"]
        replicas = {"a-1": a1, "a-2": a2, "b-1": b1, "b-2": b2}
        for identity, controller in replicas.items():
            shard = identity[0]
            leads = holders[shard] == identity
            assert controller.is_leader() is leads
            assert set(_acted(controller)) == ({f"app-{shard}"} if leads else set())
