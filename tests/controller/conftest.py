"""Fixtures for the controller tests: an API (emulator, or a real cluster when KUBECONFIG is set) and a harness."""

from __future__ import annotations

import itertools
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from canary.api.crdgen import write_crds
from canary.kube.client import Kube
from canary.sandbox import testing
from tests.controller.kube_harness import RECORDED, Harness, scenario_key

_namespaces = itertools.count(1)


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[testing.Environment]:
    crd_dir = tmp_path_factory.mktemp("crds")
    write_crds(crd_dir)
    with testing.cluster(crds=[testing.ISTIO_CRDS, crd_dir]) as environment:
        yield environment


@pytest.fixture
def namespace(env: testing.Environment) -> Iterator[str]:
    name = f"canary-test-{os.getpid()}-{next(_namespaces)}"
    core = Kube.of(env.api_client).core
    core.create_namespace({"metadata": {"name": name}})  # type: ignore[arg-type]
    yield name
    if not env.is_emulator:
        core.delete_namespace(name)


@pytest.fixture
def harness(
    env: testing.Environment, namespace: str, request: pytest.FixtureRequest
) -> Iterator[Harness]:
    with Harness.start(env, namespace) as h:
        yield h
    callspec = getattr(request.node, "callspec", None)
    params = dict(callspec.params) if callspec is not None else {}
    key = scenario_key(request.node.function.__module__, request.node.function.__name__, params)
    RECORDED[key] = list(h.controller_requests)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests marked with kube_harness.runs_last go after all others (they reuse their records)."""
    last = [i for i in items if getattr(getattr(i, "function", None), "runs_last", False)]
    if last:
        items[:] = [i for i in items if i not in last] + last
