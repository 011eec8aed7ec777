"""Fixtures for the emulator's tests: the emulator (or a real cluster), a namespace per test."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client

from canary.sandbox import testing

HERE = Path(__file__).parent
WIDGETS = HERE / "crds" / "widgets.yaml"
# CI puts a copy of shared/ beside the checkout; the package ships its own copy as a fallback.
SHARED_ISTIO = (
    Path(__file__).parents[2].parent / "shared/schemas/istio/customresourcedefinitions.gen.yaml"
)
ISTIO = SHARED_ISTIO if SHARED_ISTIO.exists() else testing.ISTIO_CRDS


@pytest.fixture(scope="module")
def env() -> Iterator[testing.Environment]:
    """The emulator, or the real cluster named by KUBECONFIG, with the Istio and test CRDs."""
    with testing.cluster(crds=[ISTIO, WIDGETS]) as environment:
        yield environment


@pytest.fixture
def api(env: testing.Environment) -> client.ApiClient:
    return env.api_client


@pytest.fixture
def namespace(env: testing.Environment) -> Iterator[str]:
    """A fresh namespace per test, so tests never see each other's objects (also on a cluster)."""
    core = client.CoreV1Api(env.api_client)
    name = f"t-{uuid.uuid4().hex[:10]}"
    core.create_namespace({"metadata": {"name": name}})
    yield name
    try:
        core.delete_namespace(name)
    except client.ApiException as exc:
        if exc.status != 404:
            raise
