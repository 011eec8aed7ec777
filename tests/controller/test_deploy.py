"""deploy/controller.yaml is valid, and its RBAC grants every request the controller makes (and no more kinds)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import kubernetes_validate
import pytest
import yaml

from canary.controller.reconcile import Reconciler
from canary.controller.runtime import Controller, Options
from canary.kube.client import Kube
from canary.kube.istio import IstioRouter
from tests.controller.kube_harness import ON_A_CLUSTER, Harness
from tests.controller.test_runtime import api_client

pytestmark = ON_A_CLUSTER

MANIFEST = Path(__file__).resolve().parents[2] / "deploy" / "controller.yaml"


def _documents() -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(MANIFEST.read_text()) if d]


@pytest.mark.parametrize(
    "document", _documents(), ids=lambda d: f"{d['kind']}-{d['metadata']['name']}"
)
def test_every_deploy_manifest_is_valid(document: dict[str, Any]) -> None:
    kubernetes_validate.validate(document, "1.30", strict=True)


def _granted() -> set[tuple[str, str, str]]:
    granted = set()
    for document in _documents():
        if document["kind"] in ("ClusterRole", "Role"):
            for rule in document["rules"]:
                for group in rule["apiGroups"]:
                    for resource in rule["resources"]:
                        granted |= {(group, resource, verb) for verb in rule["verbs"]}
    return granted


def _needed(method: str, path: str, query: str) -> tuple[str, str, str]:
    """The (apiGroup, resource, verb) an API request needs, as the authorizer computes it."""
    parts = path.strip("/").split("/")
    group, rest = ("", parts[2:]) if parts[0] == "api" else (parts[1], parts[3:])
    if rest and rest[0] == "namespaces" and len(rest) > 2:
        rest = rest[2:]
    resource, name, sub = (
        rest[0],
        rest[1] if len(rest) > 1 else "",
        rest[2] if len(rest) > 2 else "",
    )
    watching = parse_qs(query).get("watch") == ["true"]
    verb = {
        "GET": "watch" if watching else ("get" if name else "list"),
        "POST": "create",
        "PUT": "update",
        "PATCH": "patch",
        "DELETE": "delete",
    }[method]
    return group, f"{resource}/{sub}" if sub else resource, verb


def test_the_rbac_grants_every_request_of_a_rollout_a_revert_and_the_runtime(
    harness: Harness,
) -> None:
    server = harness.env.require_emulator()
    harness.given_target()
    harness.given_autoscaler()
    autoscaler = {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler"}
    harness.given_canary(revertOnDeletion=True, autoscalerRef={**autoscaler, "name": "podinfo"})
    harness.run_until(lambda: harness.phase() == "Initialized")
    # A changed HPA makes the promotion update the primary's: every verb on HPAs is exercised.
    harness.patch_autoscaler("podinfo", {"spec": {"maxReplicas": 9}})
    harness.update_target("ghcr.io/stefanprodan/podinfo:6.0.1")
    harness.run_until(lambda: harness.phase() == "Succeeded")
    # A second rollout repeats the step Events, which are counted on the existing ones.
    harness.update_target("ghcr.io/stefanprodan/podinfo:6.0.2")
    harness.run_until(lambda: harness.phase() == "Progressing")
    harness.run_until(lambda: harness.phase() == "Succeeded")
    harness.delete_canary()
    harness.run_until(lambda: harness.canary() is None, limit=5)
    requests = list(harness.controller_requests)

    kube = Kube.of(api_client(harness.env))
    options = Options(
        leader_elect=True, lease_namespace=harness.namespace, metrics_addr=None, retry_seconds=0.2
    )
    controller = Controller(kube, Reconciler(kube, IstioRouter(kube)), options)
    with harness.recording():
        controller.start()
        time.sleep(1.0)
        controller.stop()
    requests += harness.controller_requests[len(requests) :]
    assert server is not None

    needed = {_needed(r.method, r.path, r.query) for r in requests}
    assert not needed - _granted(), f"not granted: {sorted(needed - _granted())}"
    assert ("coordination.k8s.io", "leases", "update") in needed
    assert ("", "secrets", "watch") in needed
    assert ("autoscaling", "horizontalpodautoscalers", "update") in needed
    assert ("", "events", "patch") in needed
