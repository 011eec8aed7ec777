"""Drives the reconciler one reconcile at a time with a fake clock, against the emulator or a cluster.

Every object in the namespace is validated (kubernetes-validate strict, Istio CRD schemas) after
each reconcile, and every full object the controller sends is validated before it is sent.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import jsonpatch
import jsonpointer
import pytest

from canary.analysis.results import CheckResult, Verdict
from canary.api.canary import Canary, Webhook
from canary.controller.reconcile import Reconciler
from canary.engine.types import GateResult, Routes, TrafficSample
from canary.kube.client import ISTIO_GROUP, ISTIO_VERSION, MERGE_PATCH, Kube, raw, read
from canary.protocols import AnalysisOutcome
from canary.sandbox import testing
from canary.sandbox.patches import merge_patch
from tests.controller.kube_fixtures import autoscaler, canary_body, config_map, deployment
from tests.controller.kube_schemas import validate

JSON = dict[str, Any]
REAL_CLUSTER_DEADLINE = 300
ON_A_CLUSTER = [
    pytest.mark.cluster,
    pytest.mark.timeout(900 if os.environ.get("KUBECONFIG") else 60),
]
"""Marks of the modules that run unchanged against a real cluster when KUBECONFIG is set."""

ScenarioKey = tuple[str, str, tuple[tuple[str, str], ...]]
RECORDED: dict[ScenarioKey, list[Any]] = {}
"""The requests the controller made in each scenario run in this session, by (module, function,
parameters): the RBAC derivation (test_deploy) reuses them instead of running a scenario again."""


def scenario_key(module: str, function: str, params: dict[str, Any]) -> ScenarioKey:
    return module, function, tuple(sorted((k, str(v)) for k, v in params.items()))


def runs_last(test: Callable[..., Any]) -> Callable[..., Any]:
    """Run this test after every other one of the session (see conftest), to reuse RECORDED."""
    test.runs_last = True  # type: ignore[attr-defined]
    return test


VALIDATED_KINDS = (
    "Deployment",
    "Service",
    "VirtualService",
    "DestinationRule",
    "HorizontalPodAutoscaler",
)


class RealClock:
    """On a real cluster pods take real time: advancing the clock waits (a little)."""

    def __call__(self) -> datetime:
        return datetime.now(UTC)

    def advance(self, seconds: float) -> None:
        time.sleep(min(seconds, 2.0))


class FakeClock:
    """Time that moves only when told to."""

    def __init__(self) -> None:
        self.now = datetime(2026, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


class FakeMonotonic:
    """A monotonic clock in seconds that moves only when told to."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class ScriptedAnalyzer:
    """Every metric of the Canary gets the verdict in `verdict` (Pass unless changed)."""

    verdict: Verdict = Verdict.PASS
    calls: int = 0
    raises: bool = False

    def traffic(
        self, canary: Canary, at: datetime, *, since: datetime | None = None
    ) -> TrafficSample | None:
        return None  # the sequential test's guard sees no traffic here

    def analyze(
        self, canary: Canary, at: datetime, *, traffic_since: datetime | None = None
    ) -> AnalysisOutcome:
        self.calls += 1
        if self.raises:
            raise RuntimeError("prometheus is down")
        results = [
            CheckResult(
                m.name,
                self.verdict,
                99.0 if self.verdict == Verdict.PASS else 50.0,
                None,
                ">= 99",
                f"scripted {self.verdict}",
            )
            for m in canary.spec.analysis.metrics
        ]
        return AnalysisOutcome(results=results, traffic=None)

    def check_metrics(
        self, canary: Canary, at: datetime, names: frozenset[str]
    ) -> list[CheckResult]:
        """A guard tick: the scripted verdict for the named metrics (not counted in `calls`)."""
        calls = self.calls
        results = [r for r in self.analyze(canary, at).results if r.name in names]
        self.calls = calls
        return results


@dataclass
class ScriptedWebhooks:
    """Gates answer `open`; every call is recorded by hook type."""

    open: bool = True
    calls: list[str] = field(default_factory=list)
    payloads: list[tuple[str, Any]] = field(default_factory=list)
    """(hook type, the payload context) of every call."""

    def run(self, canary: Canary, hooks: Sequence[Webhook], payload: Any) -> GateResult:
        self.calls.extend(str(h.type) for h in hooks)
        self.payloads.extend((str(h.type), dict(payload)) for h in hooks)
        return GateResult(passed=self.open, message="scripted")


class ValidatingRest:
    """Wraps the client's REST layer so that everything the controller writes is validated first.

    Full objects (POST, PUT) are validated as sent. A JSON patch or a JSON merge patch is applied
    locally to the live object and the result validated, because the server would silently prune a misspelt field.
    """

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.sent: list[JSON] = []

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        body = kwargs.get("body")
        if (
            method in ("POST", "PUT")
            and isinstance(body, dict)
            and body.get("kind") in VALIDATED_KINDS
        ):
            validate({k: v for k, v in body.items() if k != "status"})
            self.sent.append(body)
        if method == "PATCH" and isinstance(body, list | dict) and _validated_path(url):
            self._validate_patched(url, body, kwargs.get("headers") or {})
        return self.inner.request(method, url, *args, **kwargs)

    def _validate_patched(
        self, url: str, operations: list[JSON] | JSON, headers: dict[str, str]
    ) -> None:
        live = self.inner.request(
            "GET",
            url.split("?")[0],
            headers={
                "Accept": "application/json",
                **{k: v for k, v in headers.items() if k.lower() == "authorization"},
            },
        )
        if live.status != 200:
            return
        current = json.loads(live.read())
        if isinstance(operations, dict):
            content_type = next(
                (v for k, v in headers.items() if k.lower() == "content-type"), MERGE_PATCH
            )
            if content_type != MERGE_PATCH:
                return  # only merge patches are sent as objects
            patched = merge_patch(current, operations)
        else:
            try:
                patched = jsonpatch.apply_patch(current, operations)
            except (jsonpatch.JsonPatchException, jsonpointer.JsonPointerException):
                return  # the server will refuse it too
        patched.setdefault("apiVersion", current.get("apiVersion"))
        patched.setdefault("kind", _kind_of(url))
        validate({k: v for k, v in patched.items() if k != "status"})
        self.sent.append(patched)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


_PLURAL_KINDS = {
    "/deployments/": "Deployment",
    "/services/": "Service",
    "/virtualservices/": "VirtualService",
    "/destinationrules/": "DestinationRule",
    "/horizontalpodautoscalers/": "HorizontalPodAutoscaler",
}


def _kind_of(url: str) -> str | None:
    return next((kind for part, kind in _PLURAL_KINDS.items() if part in url), None)


def _validated_path(url: str) -> bool:
    path = url.split("?")[0]
    return _kind_of(path) is not None and not path.endswith("/status")


@dataclass
class Harness:
    """A namespace with a target Deployment, a Canary and a reconciler driven by hand."""

    env: testing.Environment
    namespace: str
    kube: Kube
    clock: FakeClock | RealClock
    analyzer: ScriptedAnalyzer
    webhooks: ScriptedWebhooks
    simulator: testing.DeploymentSimulator | None
    reconciler: Reconciler
    name: str = "podinfo"
    requeues: list[float | None] = field(default_factory=list)
    controller_requests: list[Any] = field(default_factory=list)

    @classmethod
    @contextmanager
    def start(cls, env: testing.Environment, namespace: str) -> Iterator[Harness]:
        from canary.kube.istio import IstioRouter

        kube = Kube.of(env.api_client)
        rest = env.api_client.rest_client
        if not isinstance(rest, ValidatingRest):
            env.api_client.rest_client = ValidatingRest(rest)  # type: ignore[assignment]
        validating = env.api_client.rest_client
        assert isinstance(validating, ValidatingRest)
        validating.sent.clear()
        clock: FakeClock | RealClock = FakeClock() if env.is_emulator else RealClock()
        analyzer, webhooks = ScriptedAnalyzer(), ScriptedWebhooks()
        simulator = testing.DeploymentSimulator(env.api_client) if env.is_emulator else None
        reconciler = Reconciler(kube, IstioRouter(kube), analyzer, webhooks, clock=clock)
        yield cls(env, namespace, kube, clock, analyzer, webhooks, simulator, reconciler)

    # Given

    def given_target(self, **options: Any) -> JSON:
        body = deployment(self.name, self.namespace, **options)
        return raw(self.kube.apps.create_namespaced_deployment, self.namespace, body)

    def given_canary(self, **spec: Any) -> JSON:
        if not self.env.is_emulator:
            # Real pods need real time to pull and start.
            spec.setdefault("progressDeadlineSeconds", REAL_CLUSTER_DEADLINE)
        body = canary_body(self.name, self.namespace, **spec)
        return raw(
            self.kube.custom.create_namespaced_custom_object,
            "canary.dev",
            "v1alpha1",
            self.namespace,
            "canaries",
            body,
        )

    def given_autoscaler(self, low: int = 2, high: int = 6, **spec: Any) -> JSON:
        """An autoscaling/v2 HPA `<name>` scaling the target on CPU."""
        body = autoscaler(self.name, self.namespace, low, high, **spec)
        return raw(
            self.kube.autoscaling.create_namespaced_horizontal_pod_autoscaler, self.namespace, body
        )

    def autoscaler(self, name: str) -> JSON | None:
        return read(
            self.kube.autoscaling.read_namespaced_horizontal_pod_autoscaler, name, self.namespace
        )

    def patch_autoscaler(self, name: str, patch: JSON) -> None:
        raw(
            self.kube.autoscaling.patch_namespaced_horizontal_pod_autoscaler,
            name,
            self.namespace,
            patch,
            _content_type=MERGE_PATCH,
        )

    def given_config_map(self, name: str, **data: str) -> JSON:
        return raw(
            self.kube.core.create_namespaced_config_map,
            self.namespace,
            config_map(name, self.namespace, **data),
        )

    def replace_config_map(self, name: str, **data: str) -> None:
        live = self.config_map(name)
        live["data"] = dict(data)
        raw(self.kube.core.replace_namespaced_config_map, name, self.namespace, live)

    def config_map(self, name: str) -> JSON:
        found = read(self.kube.core.read_namespaced_config_map, name, self.namespace)
        assert found is not None, name
        return found

    def given_service(self, selector: dict[str, str], port: int) -> JSON:
        body = {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": self.name, "namespace": self.namespace},
            "spec": {"selector": selector, "ports": [{"name": "http", "port": port}]},
        }
        return raw(self.kube.core.create_namespaced_service, self.namespace, body)

    def given_virtual_service(self, host: str, timeout: str) -> JSON:
        body = {
            "apiVersion": f"{ISTIO_GROUP}/{ISTIO_VERSION}",
            "kind": "VirtualService",
            "metadata": {"name": self.name, "namespace": self.namespace},
            "spec": {
                "hosts": [host],
                "http": [{"timeout": timeout, "route": [{"destination": {"host": host}}]}],
            },
        }
        return raw(
            self.kube.custom.create_namespaced_custom_object,
            ISTIO_GROUP,
            ISTIO_VERSION,
            self.namespace,
            "virtualservices",
            body,
        )

    def given_destination_rule(self, name: str, **spec: Any) -> JSON:
        body = {
            "apiVersion": f"{ISTIO_GROUP}/{ISTIO_VERSION}",
            "kind": "DestinationRule",
            "metadata": {"name": name, "namespace": self.namespace},
            "spec": {"host": name, **spec},
        }
        return raw(
            self.kube.custom.create_namespaced_custom_object,
            ISTIO_GROUP,
            ISTIO_VERSION,
            self.namespace,
            "destinationrules",
            body,
        )

    def rule(self, name: str) -> JSON:
        found = self.istio("destinationrules", name)
        assert found is not None, name
        return found

    def given_initialized(self, **spec: Any) -> None:
        self.given_target()
        self.given_canary(**spec)
        self.run_until(lambda: self.phase() == "Initialized")

    # When

    def reconcile(self) -> float | None:
        """One reconcile, then the Deployments settle (simulated, or really on a cluster)."""
        with self.recording():
            requeue = self.reconciler.reconcile(self.namespace, self.name)
        self.requeues.append(requeue)
        self.settle()
        self.validate_namespace()
        return requeue

    @contextmanager
    def recording(self) -> Iterator[None]:
        """Adds the requests the emulator receives meanwhile to `controller_requests`."""
        if self.env.server is None:
            yield
            return
        received = self.env.server.api.requests
        marker = received[-1] if received else None
        try:
            yield
        finally:
            new = []
            for request in reversed(received):
                if request is marker:
                    break
                new.append(request)
            self.controller_requests.extend(reversed(new))

    def tick(self) -> float | None:
        """Reconcile, then let the clock run to the requested requeue."""
        requeue = self.reconcile()
        self.clock.advance(requeue if requeue else 1.0)
        return requeue

    def run_until(self, done: Callable[[], bool], limit: int | None = None) -> list[str | None]:
        """Tick until `done()`; the phases seen on the way. Fails after `limit` ticks."""
        phases: list[str | None] = []
        limit = limit or (60 if self.env.is_emulator else 400)
        for _ in range(limit):
            if done():
                return phases
            self.tick()
            phases.append(self.phase())
        raise AssertionError(f"not done after {limit} reconciles; phases: {phases}")

    def update_target(self, image: str) -> None:
        target = self.deployment(self.name)
        assert target is not None
        target["spec"]["template"]["spec"]["containers"][0]["image"] = image
        raw(self.kube.apps.replace_namespaced_deployment, self.name, self.namespace, target)
        self.settle()

    def restart_controller(self) -> None:
        """A new reconciler with nothing in memory, as after a crash."""
        from canary.kube.istio import IstioRouter

        self.reconciler = Reconciler(
            self.kube, IstioRouter(self.kube), self.analyzer, self.webhooks, clock=self.clock
        )

    def replace_virtual_service(self, vs: JSON) -> None:
        raw(
            self.kube.custom.replace_namespaced_custom_object,
            ISTIO_GROUP,
            ISTIO_VERSION,
            self.namespace,
            "virtualservices",
            vs["metadata"]["name"],
            vs,
        )

    def delete_canary(self) -> None:
        raw(
            self.kube.custom.delete_namespaced_custom_object,
            "canary.dev",
            "v1alpha1",
            self.namespace,
            "canaries",
            self.name,
        )

    def patch_canary(self, patch: JSON) -> None:
        raw(
            self.kube.custom.patch_namespaced_custom_object,
            "canary.dev",
            "v1alpha1",
            self.namespace,
            "canaries",
            self.name,
            patch,
            _content_type=MERGE_PATCH,
        )

    def settle(self) -> None:
        if self.simulator is not None:
            self.simulator.step()
            return
        time.sleep(0.5)  # a real cluster rolls out on its own

    # Then

    def canary(self) -> JSON | None:
        return read(
            self.kube.custom.get_namespaced_custom_object,
            "canary.dev",
            "v1alpha1",
            self.namespace,
            "canaries",
            self.name,
        )

    def status(self) -> JSON:
        obj = self.canary()
        return (obj or {}).get("status") or {}

    def phase(self) -> str | None:
        return self.status().get("phase")

    def deployment(self, name: str) -> JSON | None:
        return read(self.kube.apps.read_namespaced_deployment, name, self.namespace)

    def find_service(self, name: str) -> JSON | None:
        return read(self.kube.core.read_namespaced_service, name, self.namespace)

    def service(self, name: str) -> JSON:
        found = self.find_service(name)
        assert found is not None, f"service {name} does not exist"
        return found

    def existing_deployment(self, name: str) -> JSON:
        found = self.deployment(name)
        assert found is not None, f"deployment {name} does not exist"
        return found

    def canary_object(self) -> JSON:
        found = self.canary()
        assert found is not None, "the Canary does not exist"
        return found

    def sent(self) -> list[JSON]:
        """Every object the controller wrote in this test, as validated."""
        rest = self.env.api_client.rest_client
        assert isinstance(rest, ValidatingRest)
        return rest.sent

    def istio(self, plural: str, name: str) -> JSON | None:
        return read(
            self.kube.custom.get_namespaced_custom_object,
            ISTIO_GROUP,
            ISTIO_VERSION,
            self.namespace,
            plural,
            name,
        )

    def virtual_service(self) -> JSON:
        vs = self.istio("virtualservices", self.name)
        assert vs is not None
        return vs

    def routes(self) -> Routes:
        from canary.kube.istio import IstioRouter

        routes = IstioRouter._routes_of(self.virtual_service(), _names(self.name, self.namespace))
        assert routes is not None
        return routes

    def image(self, name: str) -> str:
        dep = self.deployment(name)
        assert dep is not None
        return str(dep["spec"]["template"]["spec"]["containers"][0]["image"])

    def replicas(self, name: str) -> int:
        dep = self.deployment(name)
        assert dep is not None
        return int(dep["spec"]["replicas"])

    def events(self) -> list[JSON]:
        listed = raw(self.kube.core.list_namespaced_event, self.namespace)
        return [e for e in listed["items"] if e["involvedObject"].get("kind") == "Canary"]

    def condition(self, kind: str) -> JSON:
        return next(c for c in self.status().get("conditions", []) if c["type"] == kind)

    def validate_namespace(self) -> None:
        for obj in self._every_object():
            validate(_without_server_fields(obj))

    def _every_object(self) -> Iterator[JSON]:
        autoscaling = self.kube.autoscaling.list_namespaced_horizontal_pod_autoscaler
        for listing, api_version, kind in (
            (
                raw(self.kube.apps.list_namespaced_deployment, self.namespace),
                "apps/v1",
                "Deployment",
            ),
            (raw(self.kube.core.list_namespaced_service, self.namespace), "v1", "Service"),
            (raw(autoscaling, self.namespace), "autoscaling/v2", "HorizontalPodAutoscaler"),
        ):
            for item in listing["items"]:
                yield {"apiVersion": api_version, "kind": kind, **item}
        for plural in ("virtualservices", "destinationrules"):
            listing = raw(
                self.kube.custom.list_namespaced_custom_object,
                ISTIO_GROUP,
                ISTIO_VERSION,
                self.namespace,
                plural,
            )
            yield from listing["items"]


def _names(name: str, namespace: str) -> Any:
    from canary.kube.names import Names

    return Names(namespace=namespace, canary=name, target=name, apex=name)


def _without_server_fields(obj: JSON) -> JSON:
    """What the schemas describe: the status is written by others (the simulator, Kubernetes)."""
    out: JSON = json.loads(json.dumps(obj))
    out.pop("status", None)
    return out
