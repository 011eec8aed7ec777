"""The RBAC of both installs is exactly what the controller uses: derived from every request of the scenario suite.

The emulator records every request. The whole scenario suite (every scenario of test_scenarios,
test_autoscaling and test_ownership), a rollout with credentials read from Secrets, and the
running controller (cluster-wide and namespaced, with leader election) are replayed here; the
RBAC rules those requests need, computed as kube-apiserver's authorizer sees them, must equal the
rules that the rendered installs grant the controller's ServiceAccount, binding by binding:
`kubectl kustomize deploy/` (cluster-wide) and `kubectl kustomize deploy/namespaced/`. A grant too
many or too few fails. That every rendered object is valid: tests/install/test_kustomize.py.
"""

from __future__ import annotations

import contextlib
import inspect
import itertools
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from canary.controller.reconcile import Reconciler
from canary.controller.runtime import Controller, Options
from canary.controller.watches import METADATA_ONLY
from canary.kube.client import Kube, raw
from canary.kube.istio import IstioRouter
from canary.kube.sources import KubeSecrets, KubeTemplates
from canary.metrics.analyzer import MetricAnalyzer, PrometheusProviders
from canary.metrics.prometheus import PrometheusProvider
from canary.notify.sources import KubeAlertProviders
from canary.sandbox import testing
from canary.sandbox.api import Request
from canary.sandbox.audit import Attributes, attributes
from canary.webhooks import HttpWebhookRunner
from tests.controller import test_autoscaling, test_ownership, test_reads, test_scenarios
from tests.controller.kube_fixtures import secret
from tests.controller.kube_harness import (
    ON_A_CLUSTER,
    RECORDED,
    Harness,
    runs_last,
    scenario_key,
)
from tests.controller.test_runtime import api_client
from tests.install.kustomize import CLUSTER_WIDE, NAMESPACED, needs_kubectl, render

pytestmark = ON_A_CLUSTER

SCENARIO_MODULES: tuple[ModuleType, ...] = (
    test_scenarios,
    test_autoscaling,
    test_ownership,
    test_reads,  # an Event recorded before a restart: its repeat is the only GET of an Event
)
Rule = tuple[str, str, str]
"""(apiGroup, resource[/subresource], verb)."""
_namespaces = itertools.count(1)


def _rules(document: dict[str, Any]) -> set[Rule]:
    return {
        (group, resource, verb)
        for rule in document["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }


CONTROLLER = {"kind": "ServiceAccount", "name": "canary-controller", "namespace": "canary-system"}


def _granted(path: Path) -> dict[str, set[Rule]]:
    """The controller's rules by where they apply, following every binding of its ServiceAccount.

    "*" for a ClusterRoleBinding, else the RoleBinding's namespace: a RoleBinding grants its Role,
    or a ClusterRole's rules, in its own namespace only.
    """
    documents = render(path)
    roles = {
        (d["kind"], d["metadata"].get("namespace", ""), d["metadata"]["name"]): _rules(d)
        for d in documents
        if d["kind"] in ("ClusterRole", "Role")
    }
    grants: dict[str, set[Rule]] = {}
    for binding in documents:
        if binding["kind"] not in ("ClusterRoleBinding", "RoleBinding"):
            continue
        if CONTROLLER not in binding["subjects"]:
            continue
        scope = binding["metadata"].get("namespace", "*")
        ref = binding["roleRef"]
        key = (ref["kind"], "" if ref["kind"] == "ClusterRole" else scope, ref["name"])
        assert key in roles, f"{binding['metadata']['name']} binds {key}, which is not installed"
        grants.setdefault(scope, set()).update(roles[key])
    return grants


def _needed(requests: list[Request]) -> set[Rule]:
    found = {_attributes(r) for r in requests}
    return {(a.group, a.rbac_resource, a.verb) for a in found if a.resource}


def _attributes(request: Request) -> Attributes:
    return attributes(request.method, request.path, request.query)


# Recording


def _scenarios() -> Iterator[tuple[str, Callable[..., Any], dict[str, Any]]]:
    """Every scenario of the suite that takes a harness, once per parameter set."""
    for module in SCENARIO_MODULES:
        for name, function in inspect.getmembers(module, inspect.isfunction):
            if not name.startswith("test_") or function.__module__ != module.__name__:
                continue
            params = list(inspect.signature(function).parameters)
            if params[:1] != ["harness"]:
                continue
            extra = params[1:]
            if not extra:
                yield name, function, {}
                continue
            for mark in getattr(function, "pytestmark", []):
                if mark.name == "parametrize" and mark.args[0] == extra[0] and len(extra) == 1:
                    for value in mark.args[1]:
                        yield f"{name}[{value}]", function, {extra[0]: value}


def _new_namespace(env: testing.Environment) -> str:
    name = f"rbac-{os.getpid()}-{next(_namespaces)}"
    Kube.of(env.api_client).core.create_namespace({"metadata": {"name": name}})  # type: ignore[arg-type]
    return name


def _run_scenarios(env: testing.Environment) -> list[Request]:
    """Requests of every scenario: as recorded earlier in this session, or by running it now."""
    requests: list[Request] = []
    for _name, function, kwargs in _scenarios():
        key = scenario_key(function.__module__, function.__name__, kwargs)
        if key in RECORDED:
            requests += RECORDED[key]
            continue
        with Harness.start(env, _new_namespace(env)) as harness:
            with contextlib.suppress(pytest.skip.Exception):
                function(harness, **kwargs)
            requests += harness.controller_requests
    with Harness.start(env, _new_namespace(env)) as harness:
        _rollout_with_credentials(harness)
        requests += harness.controller_requests
    return requests


def _rollout_with_credentials(harness: Harness) -> None:
    """A template metric with a bearer token and a signed webhook: Secrets read by `get`."""
    kube, ns = harness.kube, harness.namespace
    raw(kube.core.create_namespaced_secret, ns, secret("prom", ns))
    raw(kube.core.create_namespaced_secret, ns, {**secret("hook", ns), "data": {"key": "aw=="}})
    template = {
        "apiVersion": "canary.dev/v1alpha1",
        "kind": "MetricTemplate",
        "metadata": {"name": "errors"},
        "spec": {
            "provider": {
                "address": "http://127.0.0.1:1",
                "bearerTokenSecretRef": {"name": "prom"},
                "timeout": "1s",
            },
            "query": "sum(up)",
        },
    }
    raw(
        kube.custom.create_namespaced_custom_object,
        "canary.dev",
        "v1alpha1",
        ns,
        "metrictemplates",
        template,
    )
    secrets = KubeSecrets(kube)
    harness.reconciler = Reconciler(
        kube,
        IstioRouter(kube),
        MetricAnalyzer(
            PrometheusProvider("http://127.0.0.1:1", timeout=1.0),
            templates=KubeTemplates(kube),
            providers=PrometheusProviders(secrets),
        ),
        HttpWebhookRunner(secrets, backoff=0.0),
        clock=harness.clock,
    )
    hook = {"name": "load", "type": "rollout", "url": "http://127.0.0.1:1/", "timeout": "1s",
            "signingSecretRef": {"name": "hook"}}  # fmt: skip
    metric = {"name": "errors", "templateRef": {"name": "errors"}, "thresholdRange": {"max": 1}}
    harness.given_target()
    harness.given_canary(analysis={"interval": "1s", "threshold": 2, "webhooks": [hook],
                                   "metrics": [metric]})  # fmt: skip
    harness.run_until(lambda: harness.phase() == "Initialized")
    harness.update_target("ghcr.io/stefanprodan/podinfo:6.0.1")
    harness.run_until(lambda: harness.phase() == "Failed")


def _run_controller(harness: Harness, namespaces: list[str]) -> list[Request]:
    """The running controller for a moment: watches, workers, leader election."""
    kube = Kube.of(api_client(harness.env))
    options = Options(
        namespaces=namespaces,
        leader_elect=True,
        lease_namespace=harness.namespace,
        metrics_addr=None,
        retry_seconds=0.2,
    )
    controller = Controller(kube, Reconciler(kube, IstioRouter(kube)), options)
    before = len(harness.controller_requests)
    with harness.recording():
        controller.start()
        deadline = time.monotonic() + 5
        while not controller.ready() and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.5)
        controller.stop()
    kube.api.close()  # type: ignore[no-untyped-call]
    return harness.controller_requests[before:]


def _read_alert_provider(harness: Harness) -> list[Request]:
    """The dispatcher's read of the AlertProvider a Canary names (canary.notify.sources), by name.

    No scenario of SCENARIO_MODULES sends notifications; test_notifications wires its own
    dispatcher, so the read is recorded here through the controller's own source.
    """
    kube = Kube.of(api_client(harness.env))
    before = len(harness.controller_requests)
    with harness.recording():
        KubeAlertProviders(kube).get(harness.namespace, "team")
    kube.api.close()  # type: ignore[no-untyped-call]
    return harness.controller_requests[before:]


RBAC_TIMEOUT = pytest.mark.timeout(900)
"""Standalone, the derivation runs the whole scenario suite itself."""


@pytest.fixture(scope="module")
def recorded(env: testing.Environment) -> dict[str, list[Request]]:
    """The controller's requests: the scenario suite, and the running controller both ways."""
    env.require_emulator()
    scenarios = _run_scenarios(env)
    with Harness.start(env, _new_namespace(env)) as harness:
        scenarios += _read_alert_provider(harness)
    with Harness.start(env, _new_namespace(env)) as harness:
        cluster = _run_controller(harness, [])
    with Harness.start(env, _new_namespace(env)) as harness:
        namespaced = _run_controller(harness, [harness.namespace])
        watched = harness.namespace
    return {
        "scenarios": scenarios,
        "cluster": cluster,
        "namespaced": namespaced,
        "watched": [Request("", watched, "", "")],
    }


LEASES = {("coordination.k8s.io", "leases", v) for v in ("get", "create", "update")}


def _explain(needed: set[Rule], granted: set[Rule]) -> str:
    return f"too few: {sorted(needed - granted)}; too many: {sorted(granted - needed)}"


TEMPLATES = ("canary.dev", "metrictemplates", "get")


@runs_last
@RBAC_TIMEOUT
@needs_kubectl
def test_the_cluster_wide_rbac_is_exactly_what_the_controller_uses(
    recorded: dict[str, list[Request]],
) -> None:
    needed = _needed(recorded["scenarios"] + recorded["cluster"])
    grants = _granted(CLUSTER_WIDE)
    assert set(grants) == {"*", "canary-system"}
    assert needed - LEASES == grants["*"], _explain(needed - LEASES, grants["*"])
    assert needed & LEASES == grants["canary-system"] == LEASES
    assert ("", "secrets", "get") in needed  # credentials and tracked configs: one by one
    assert ("canary.dev", "alertproviders", "get") in needed


@runs_last
@RBAC_TIMEOUT
@needs_kubectl
def test_the_namespaced_rbac_is_exactly_what_the_controller_uses_in_its_namespaces(
    recorded: dict[str, list[Request]],
) -> None:
    watched = recorded["watched"][0].path
    outside = [
        _attributes(r)
        for r in recorded["namespaced"]
        if _attributes(r).resource and _attributes(r).namespace != watched
    ]
    assert not outside, f"requests outside the watched namespace: {outside}"
    needed = _needed(recorded["scenarios"] + recorded["namespaced"])
    grants = _granted(NAMESPACED)
    assert "*" not in grants, "the namespaced install must not bind a ClusterRole cluster-wide"
    # Its own namespace: the Lease, and the shared MetricTemplates of policies/ (read by name).
    assert TEMPLATES in needed
    assert grants.pop("canary-system") == needed & LEASES | {TEMPLATES} == LEASES | {TEMPLATES}
    assert set(grants) == {"apps", "payments"}
    for namespace, rules in grants.items():
        assert needed - LEASES == rules, f"{namespace}: {_explain(needed - LEASES, rules)}"
    config = next(d for d in render(NAMESPACED) if d["kind"] == "ConfigMap")
    assert set(config["data"]["CANARY_NAMESPACES"].split(",")) == set(grants)


@runs_last
@RBAC_TIMEOUT
def test_secrets_and_config_maps_are_listed_and_watched_as_metadata_only(
    recorded: dict[str, list[Request]],
) -> None:
    requests = recorded["scenarios"] + recorded["cluster"] + recorded["namespaced"]
    collections = [
        r
        for r in requests
        if _attributes(r).resource in ("secrets", "configmaps")
        and _attributes(r).verb in ("list", "watch")
    ]
    assert {_attributes(r).verb for r in collections} == {"list", "watch"}
    assert all(r.accept == METADATA_ONLY["Accept"] for r in collections), collections
