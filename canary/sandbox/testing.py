"""The test API: an emulator (or a real cluster) with a configured client, as context managers.

    from canary.sandbox import testing

    with testing.sandbox(crds=[testing.ISTIO_CRDS, "crds/"]) as env:
        v1 = kubernetes.client.CoreV1Api(env.api_client)
        ...

`cluster()` is the same, but when `KUBECONFIG` is set it yields that real cluster instead, so a
suite written against it runs unchanged on both; `env.server` is None there, and tests that need
emulator-only knobs (history, fault injection) should skip (`env.require_emulator()`).
"""

from __future__ import annotations

import functools
import os
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from kubernetes import client, config

from canary.sandbox import crds
from canary.sandbox.api import Fault
from canary.sandbox.deployments import DeploymentSimulator, Flapping, NeverReady, Ready
from canary.sandbox.faults import CUT_AFTER, CUT_BEFORE, FaultPlan
from canary.sandbox.server import ApiServer

__all__ = [
    "CUT_AFTER",
    "CUT_BEFORE",
    "ISTIO_CRDS",
    "DeploymentSimulator",
    "Environment",
    "Fault",
    "FaultPlan",
    "Flapping",
    "NeverReady",
    "Ready",
    "cluster",
    "eventually",
    "sandbox",
]

ISTIO_CRDS = crds.shipped_istio()
"""The shipped Istio networking CRDs (VirtualService, DestinationRule)."""

T = TypeVar("T")


@dataclass
class Environment:
    """Where the tests talk to: base URL, kubeconfig file and a ready `ApiClient`."""

    url: str
    kubeconfig: Path
    api_client: client.ApiClient
    server: ApiServer | None
    """The emulator, or None when running against a real cluster."""

    @property
    def is_emulator(self) -> bool:
        return self.server is not None

    def require_emulator(self) -> ApiServer:
        """The emulator; skips the calling test on a real cluster."""
        if self.server is None:
            import pytest

            pytest.skip("needs an emulator-only knob; running against a real cluster")
        return self.server


@contextmanager
def sandbox(crds: Iterable[str | Path] = (), *, history: int = 10_000,
            bookmark_interval: float = 60.0, namespace: str = "default",
            kubeconfig: str | Path | None = None,
            faults: FaultPlan | None = None) -> Iterator[Environment]:  # fmt: skip
    """Start the emulator on 127.0.0.1 (random port, own thread) with these CRD files loaded.

    `history` bounds the changes a watch can resume from (smaller: 410 Gone sooner);
    `bookmark_interval` is how often quiet watches that asked for bookmarks get one; `faults`
    makes a share of requests fail (change it later with `env.server.api.faults.set(plan)`).
    """
    server = ApiServer(
        crd_paths=crds, history=history, bookmark_interval=bookmark_interval, faults=faults
    )
    server.start()
    try:
        with tempfile.TemporaryDirectory(prefix="canary-sandbox-") as scratch:
            path = server.write_kubeconfig(kubeconfig or Path(scratch) / "kubeconfig", namespace)
            api_client = client.ApiClient(client.Configuration(host=server.url))
            try:
                yield Environment(server.url, path, api_client, server)
            finally:
                api_client.close()  # type: ignore[no-untyped-call]
    finally:
        server.stop()


@contextmanager
def cluster(crds: Iterable[str | Path] = (), **options: object) -> Iterator[Environment]:
    """A real cluster when `KUBECONFIG` is set (CRDs created if missing), else `sandbox()`."""
    kubeconfig = os.environ.get("KUBECONFIG")
    if not kubeconfig:
        with sandbox(crds, **options) as env:  # type: ignore[arg-type]
            yield env
        return
    configuration = client.Configuration()
    config.load_kube_config(  # type: ignore[no-untyped-call]
        config_file=kubeconfig, client_configuration=configuration
    )
    api_client = client.ApiClient(configuration)
    try:
        _ensure_crds(api_client, crds)
        yield Environment(configuration.host, Path(kubeconfig), api_client, None)
    finally:
        api_client.close()  # type: ignore[no-untyped-call]


def _ensure_crds(api_client: client.ApiClient, paths: Iterable[str | Path]) -> None:
    extensions: Any = client.ApiextensionsV1Api(api_client)
    names = []
    for doc in crds.load(paths):
        names.append(doc["metadata"]["name"])
        try:
            extensions.create_custom_resource_definition(doc)
        except client.ApiException as exc:
            if exc.status != 409:
                raise
    for name in names:
        eventually(functools.partial(_established, extensions, name), timeout=30)


def _established(extensions: Any, name: str) -> bool:
    crd = extensions.read_custom_resource_definition(name)
    conditions = (crd.status and crd.status.conditions) or []
    return any(c.type == "Established" and c.status == "True" for c in conditions)


def eventually(check: Callable[[], T], timeout: float = 5.0, interval: float = 0.02) -> T:
    """Poll `check` until it returns something truthy (returned) or `timeout` (AssertionError)."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() >= deadline:
            raise AssertionError(f"not true within {timeout} s: {check}")
        time.sleep(interval)
