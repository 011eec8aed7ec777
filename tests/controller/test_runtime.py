"""The running controller (threads, watches, leader election, endpoints) end to end against an API server."""

from __future__ import annotations

import threading
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from kubernetes import client, config

from canary.controller.reconcile import Reconciler
from canary.controller.runtime import Controller, Options
from canary.controller.watches import Watcher
from canary.kube.client import Kube, raw, read
from canary.kube.istio import IstioRouter
from canary.sandbox import testing
from tests.controller.kube_fixtures import canary_body, deployment
from tests.controller.kube_harness import ON_A_CLUSTER, REAL_CLUSTER_DEADLINE, ValidatingRest

FAST = {"canary": {"stepWeight": 50, "maxWeight": 50}}
pytestmark = ON_A_CLUSTER


def patience(env: testing.Environment, seconds: float) -> float:
    """How long to wait: real pods pull images and start, simulated ones do not."""
    return seconds if env.is_emulator else seconds * 15


def api_client(env: testing.Environment) -> client.ApiClient:
    """A client of its own per controller, with room for its watches and workers.

    Its writes are schema-checked like the reconciler's in the scenario tests.
    """
    configuration = client.Configuration()
    if env.is_emulator:
        configuration.host = env.url
    else:
        config.load_kube_config(  # type: ignore[no-untyped-call]
            config_file=str(env.kubeconfig), client_configuration=configuration
        )
    configuration.connection_pool_maxsize = 32
    api = client.ApiClient(configuration)
    api.rest_client = ValidatingRest(api.rest_client)  # type: ignore[assignment]
    return api


class CountingReconciler(Reconciler):
    """Counts the reconciles that were allowed to act."""

    acted: int = 0

    def _reconcile(self, canary: Any, obj: Any) -> float | None:
        self.acted += 1
        return super()._reconcile(canary, obj)


@contextmanager
def running(env: testing.Environment, namespace: str, **options: Any) -> Iterator[Controller]:
    kube = Kube.of(api_client(env))
    reconciler = CountingReconciler(kube, IstioRouter(kube))
    opts = Options(
        namespaces=[namespace], workers=2, metrics_addr="127.0.0.1:0", watch_timeout=5, **options
    )
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


def _create(env: testing.Environment, namespace: str, **spec: Any) -> Kube:
    kube = Kube.of(env.api_client)
    raw(kube.apps.create_namespaced_deployment, namespace, deployment("podinfo", namespace))
    if not env.is_emulator:
        spec.setdefault("progressDeadlineSeconds", REAL_CLUSTER_DEADLINE)
    body = canary_body("podinfo", namespace, strategy=FAST, **spec)
    raw(
        kube.custom.create_namespaced_custom_object,
        "canary.dev",
        "v1alpha1",
        namespace,
        "canaries",
        body,
    )
    return kube


def _phase(kube: Kube, namespace: str) -> str | None:
    obj = read(
        kube.custom.get_namespaced_custom_object,
        "canary.dev",
        "v1alpha1",
        namespace,
        "canaries",
        "podinfo",
    )
    return ((obj or {}).get("status") or {}).get("phase")


def _set_image(kube: Kube, namespace: str, image: str) -> None:
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "podinfod", "image": image}]}}}}
    raw(
        kube.apps.patch_namespaced_deployment,
        "podinfo",
        namespace,
        patch,
        _content_type="application/strategic-merge-patch+json",
    )


def _primary_image(kube: Kube, namespace: str) -> str:
    primary = raw(kube.apps.read_namespaced_deployment, "podinfo-primary", namespace)
    return str(primary["spec"]["template"]["spec"]["containers"][0]["image"])


def test_the_running_controller_initialises_and_promotes_a_new_image(
    env: testing.Environment, namespace: str, simulated: None
) -> None:
    with running(env, namespace) as controller:
        kube = _create(env, namespace)
        testing.eventually(
            lambda: _phase(kube, namespace) == "Initialized", timeout=patience(env, 15)
        )

        _set_image(kube, namespace, "ghcr.io/stefanprodan/podinfo:6.0.1")
        testing.eventually(
            lambda: _phase(kube, namespace) == "Succeeded", timeout=patience(env, 20)
        )

        assert _primary_image(kube, namespace) == "ghcr.io/stefanprodan/podinfo:6.0.1"
        assert controller.ready()


class StaleWatcher(Watcher):
    """Starts watching from a resourceVersion older than the server keeps, as after a long outage."""

    def _list(self) -> str:
        version = super()._list()
        return "1" if self.relists == 1 else version


def test_a_watch_whose_history_expired_lists_again(
    env: testing.Environment, namespace: str
) -> None:
    server = env.require_emulator()
    kube = _create(env, namespace)
    server.store.compact()
    seen: list[str] = []
    watcher = StaleWatcher(
        "deployments",
        kube.apps.list_namespaced_deployment,
        (namespace,),
        lambda kind, obj: seen.append(obj["metadata"]["name"]),
        timeout_seconds=5,
    )
    stop = threading.Event()
    thread = threading.Thread(target=watcher.run, args=(stop,), daemon=True)
    thread.start()
    try:
        testing.eventually(lambda: watcher.relists >= 2, timeout=10)
        _set_image(kube, namespace, "ghcr.io/stefanprodan/podinfo:6.0.1")
        testing.eventually(lambda: seen.count("podinfo") >= 3, timeout=10)
    finally:
        stop.set()
        watcher.stop()
        thread.join(5)


def test_the_controller_keeps_working_after_the_watch_history_is_compacted(
    env: testing.Environment, namespace: str, simulated: None
) -> None:
    server = env.require_emulator()
    with running(env, namespace):
        kube = _create(env, namespace)
        testing.eventually(
            lambda: _phase(kube, namespace) == "Initialized", timeout=patience(env, 15)
        )

        server.store.compact()
        _set_image(kube, namespace, "ghcr.io/stefanprodan/podinfo:6.0.1")

        testing.eventually(
            lambda: _phase(kube, namespace) == "Succeeded", timeout=patience(env, 20)
        )
        assert _primary_image(kube, namespace) == "ghcr.io/stefanprodan/podinfo:6.0.1"


def test_with_two_controllers_exactly_one_acts_and_the_other_takes_over_when_it_stops(
    env: testing.Environment, namespace: str, simulated: None
) -> None:
    election = {
        "leader_elect": True,
        "lease_namespace": namespace,
        "lease_seconds": 3,
        "renew_deadline": 2,
        "retry_seconds": 0.2,
    }
    with (
        running(env, namespace, identity="a", **election) as a,
        running(env, namespace, identity="b", **election) as b,
    ):
        testing.eventually(lambda: a.is_leader() or b.is_leader(), timeout=10)
        leader, follower = (a, b) if a.is_leader() else (b, a)
        kube = _create(env, namespace)
        testing.eventually(
            lambda: _phase(kube, namespace) == "Initialized", timeout=patience(env, 15)
        )

        assert not follower.is_leader()
        assert leader.reconciler.acted > 0  # type: ignore[attr-defined]
        assert follower.reconciler.acted == 0  # type: ignore[attr-defined]

        leader.stop()
        testing.eventually(follower.is_leader, timeout=10)
        _set_image(kube, namespace, "ghcr.io/stefanprodan/podinfo:6.0.1")
        testing.eventually(
            lambda: _phase(kube, namespace) == "Succeeded", timeout=patience(env, 20)
        )
        assert follower.reconciler.acted > 0  # type: ignore[attr-defined]


def test_the_endpoints_report_health_readiness_and_the_controller_metrics(
    env: testing.Environment, namespace: str, simulated: None
) -> None:
    with running(env, namespace) as controller:
        kube = _create(env, namespace)
        testing.eventually(
            lambda: _phase(kube, namespace) == "Initialized", timeout=patience(env, 15)
        )
        assert controller.endpoints is not None
        base = f"http://127.0.0.1:{controller.endpoints.port}"

        health = urllib.request.urlopen(f"{base}/healthz").status
        readiness = testing.eventually(
            lambda: urllib.request.urlopen(f"{base}/readyz").status == 200
        )
        metrics = urllib.request.urlopen(f"{base}/metrics").read().decode()

    assert health == 200
    assert readiness
    for name in (
        "canary_info",
        "canary_phase",
        "canary_status",
        "canary_weight",
        "canary_reconcile_duration_seconds",
    ):
        assert f"\n{name}" in metrics, name
    assert (
        f'canary_phase{{name="podinfo",namespace="{namespace}",phase="Initialized"}} 1.0' in metrics
    )
