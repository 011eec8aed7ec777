"""Revision hashing, config tracking and Deployment readiness are pure functions of the objects."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from canary.kube.readiness import deployment_readiness
from canary.kube.revision import (
    config_checksum,
    config_refs,
    is_tracked_secret,
    revision,
    template_hash,
    tracking_enabled,
)
from tests.controller.kube_fixtures import config_map, deployment, secret


def test_the_template_hash_ignores_key_order() -> None:
    template = deployment()["spec"]["template"]
    reordered = dict(reversed(list(copy.deepcopy(template).items())))
    assert template_hash(template) == template_hash(reordered)


def test_a_new_image_is_a_new_revision() -> None:
    old = deployment(image="podinfo:1")["spec"]["template"]
    new = deployment(image="podinfo:2")["spec"]["template"]
    assert revision(old, {}) != revision(new, {})


def test_a_changed_config_is_a_new_revision_with_the_same_template() -> None:
    template = deployment(config_map="c")["spec"]["template"]
    blue = {"configmap/c": config_checksum(config_map("c", color="blue"))}
    green = {"configmap/c": config_checksum(config_map("c", color="green"))}
    assert revision(template, blue) != revision(template, green)
    assert revision(template, blue) == revision(template, dict(blue))


@pytest.mark.parametrize(
    ("pod_spec", "config_maps", "secrets"),
    [
        pytest.param({"containers": [{"name": "a"}]}, set(), set(), id="none"),
        pytest.param(
            {
                "volumes": [
                    {"name": "v", "configMap": {"name": "cm"}},
                    {"name": "s", "secret": {"secretName": "sec"}},
                ]
            },
            {"cm"},
            {"sec"},
            id="volumes",
        ),
        pytest.param(
            {
                "volumes": [
                    {
                        "name": "p",
                        "projected": {
                            "sources": [{"configMap": {"name": "pcm"}}, {"secret": {"name": "ps"}}]
                        },
                    }
                ]
            },
            {"pcm"},
            {"ps"},
            id="projected",
        ),
        pytest.param(
            {
                "initContainers": [{"name": "i", "envFrom": [{"secretRef": {"name": "init-sec"}}]}],
                "containers": [
                    {
                        "name": "a",
                        "envFrom": [{"configMapRef": {"name": "env-cm"}}],
                        "env": [
                            {
                                "name": "X",
                                "valueFrom": {"configMapKeyRef": {"name": "key-cm", "key": "x"}},
                            },
                            {
                                "name": "Y",
                                "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}},
                            },
                        ],
                    }
                ],
            },
            {"env-cm", "key-cm"},
            {"init-sec"},
            id="env-and-init-containers",
        ),
    ],
)
def test_config_tracking_finds_every_reference(
    pod_spec: dict[str, Any], config_maps: set[str], secrets: set[str]
) -> None:
    refs = config_refs({"spec": pod_spec})
    assert (set(refs.config_maps), set(refs.secrets)) == (config_maps, secrets)


@pytest.mark.parametrize(
    ("type_", "tracked"),
    [
        ("Opaque", True),
        ("kubernetes.io/tls", True),
        ("kubernetes.io/basic-auth", True),
        ("kubernetes.io/service-account-token", False),
        ("kubernetes.io/dockerconfigjson", False),
    ],
)
def test_only_some_secret_types_are_tracked(type_: str, tracked: bool) -> None:
    assert is_tracked_secret(secret("s", type_=type_)) is tracked


def test_config_tracking_can_be_disabled_on_the_target() -> None:
    target = deployment()
    target["metadata"]["annotations"] = {"canary.dev/config-tracking": "disabled"}
    assert not tracking_enabled(target)
    assert tracking_enabled(deployment())


def _with_status(
    replicas: int = 2, generation: int = 3, pods: int | None = None, **status: Any
) -> dict[str, Any]:
    dep = deployment(replicas=replicas)
    dep["metadata"]["generation"] = generation
    dep["status"] = {"observedGeneration": generation, **status}
    if pods is not None:
        dep["status"]["replicas"] = pods
    return dep


DEADLINE = {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded"}


@pytest.mark.parametrize(
    ("dep", "threshold", "ready", "deadline", "reason"),
    [
        pytest.param(None, 100, False, False, "does not exist", id="missing"),
        pytest.param(
            _with_status(replicas=2, updatedReplicas=2, availableReplicas=2, pods=2),
            100,
            True,
            False,
            "",
            id="rolled-out",
        ),
        pytest.param(
            {
                **_with_status(updatedReplicas=2, availableReplicas=2),
                "status": {"observedGeneration": 2},
            },
            100,
            False,
            False,
            "observed",
            id="generation-not-observed",
        ),
        pytest.param(
            _with_status(updatedReplicas=1, availableReplicas=1),
            100,
            False,
            False,
            "1 of 2 updated",
            id="half-updated",
        ),
        pytest.param(
            _with_status(updatedReplicas=2, availableReplicas=1),
            100,
            False,
            False,
            "1 of 2",
            id="half-available",
        ),
        pytest.param(
            _with_status(updatedReplicas=1, availableReplicas=1),
            50,
            True,
            False,
            "",
            id="half-meets-threshold",
        ),
        pytest.param(
            _with_status(updatedReplicas=2, availableReplicas=2, pods=3),
            100,
            False,
            False,
            "pending termination",
            id="old-pods",
        ),
        pytest.param(
            _with_status(updatedReplicas=0, availableReplicas=0, conditions=[DEADLINE]),
            100,
            False,
            True,
            "progress deadline",
            id="deadline-exceeded",
        ),
        pytest.param(_with_status(replicas=0), 100, True, False, "", id="scaled-to-zero"),
    ],
)
def test_readiness_follows_the_deployment_status(
    dep: dict[str, Any] | None, threshold: int, ready: bool, deadline: bool, reason: str
) -> None:
    result = deployment_readiness(dep, threshold)
    assert (result.ready, result.deadline_exceeded) == (ready, deadline)
    assert reason in result.reason
