"""API requests per Canary per interval, with and without the watch-fed caches, from the emulator's audit log.

Run: `python -m bench.requests [--canaries 5] [--intervals 5]`. In an in-process emulator, the
same Canaries are reconciled by hand (one reconcile per Canary per interval, a fake clock moving
one interval each round), at rest, through a rollout and through the next one (whose Events
repeat the first's), once by a reconciler reading straight from the API ("uncached") and once
through a running Controller's caches ("cached", no workers: this script drives the reconciles). Counted: every request the emulator receives during the reconciles, by verb and
resource, watches and their listings aside (they are per controller, not per Canary), and the
bytes of the bodies the controller's writes send (JSON as the client serialises it).
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import structlog
from kubernetes import client

from bench.objects import deployment
from canary.api.crdgen import write_crds
from canary.controller.reconcile import Reconciler
from canary.controller.runtime import Controller, Options
from canary.kube.client import Kube, raw, read
from canary.kube.istio import IstioRouter
from canary.sandbox import testing
from canary.sandbox.audit import attributes

JSON = dict[str, Any]
CACHED = {
    "canaries": ("canary.dev", "v1alpha1"),
    "deployments": ("apps", "v1"),
    "services": ("", "v1"),
    "virtualservices": ("networking.istio.io", "v1"),
    "destinationrules": ("networking.istio.io", "v1"),
}


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def _canary(name: str, namespace: str) -> JSON:
    return {
        "apiVersion": "canary.dev/v1alpha1",
        "kind": "Canary",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
            "service": {"port": 9898},
            "analysis": {"interval": "1m", "threshold": 2},
            "strategy": {"canary": {"stepWeight": 25, "maxWeight": 50}},
        },
    }


class Sizes:
    """Wraps a client's REST layer to add up the bytes of the bodies its writes send."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.bytes = 0

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        body = kwargs.get("body")
        if method in ("POST", "PUT", "PATCH") and body is not None:
            self.bytes += len(json.dumps(body, separators=(",", ":")))
        return self.inner.request(method, url, *args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


class Run:
    """N Canaries in one namespace, reconciled by hand."""

    def __init__(self, env: testing.Environment, namespace: str, canaries: int, cached: bool):
        self.env, self.namespace, self.cached = env, namespace, cached
        self.names = [f"app{i}" for i in range(canaries)]
        self.test = Kube.of(env.api_client)
        configuration = client.Configuration()
        configuration.host = env.url
        configuration.connection_pool_maxsize = 32
        self.kube = Kube.of(client.ApiClient(configuration))
        self.sizes = Sizes(self.kube.api.rest_client)
        self.kube.api.rest_client = self.sizes  # type: ignore[assignment]
        self.clock = Clock()
        self.reconciler = Reconciler(self.kube, IstioRouter(self.kube), clock=self.clock)
        self.simulator = testing.DeploymentSimulator(env.api_client, namespace)
        self.counts: Counter[tuple[str, str]] = Counter()

    @contextmanager
    def controller(self) -> Iterator[None]:
        options = Options(namespaces=[self.namespace], workers=0, metrics_addr=None)
        controller = Controller(self.kube, self.reconciler, options)
        controller.start()
        try:
            testing.eventually(controller.ready, timeout=30)
            yield
        finally:
            controller.stop()

    def given(self) -> None:
        raw(self.test.core.create_namespace, {"metadata": {"name": self.namespace}})
        for name in self.names:
            body = deployment(name, self.namespace, "podinfo:1", replicas=2)
            raw(self.test.apps.create_namespaced_deployment, self.namespace, body)
            raw(
                self.test.custom.create_namespaced_custom_object,
                "canary.dev",
                "v1alpha1",
                self.namespace,
                "canaries",
                _canary(name, self.namespace),
            )

    def round(self, counted: bool) -> None:
        """One interval: every Canary reconciled once, then the Deployments settle."""
        self.settle()
        requests = self.env.require_emulator().api.requests
        marker = requests[-1] if requests else None
        for name in self.names:
            self.reconciler.reconcile(self.namespace, name)
        if counted:
            for request in reversed(requests):
                if request is marker:
                    break
                seen = attributes(request.method, request.path, request.query)
                if seen.resource and seen.verb not in ("watch", "list"):
                    self.counts[(seen.verb, seen.rbac_resource)] += 1
        self.clock.now += timedelta(minutes=1)

    def settle(self) -> None:
        self.simulator.step()
        if self.cached:
            # Compare like with like: each reconcile sees what the watches have delivered.
            testing.eventually(self._caught_up, timeout=30)

    def _caught_up(self) -> bool:
        server = self.env.require_emulator()
        for plural, (group, version) in CACHED.items():
            resource = server.store.registry.find(group, version, plural)
            assert resource is not None
            items, _ = server.store.list_objects(resource, self.namespace, lambda _: True)
            store = self.kube.cache.get(plural)
            if store is None:
                return False
            for item in items:
                meta = item["metadata"]
                known, held = store.lookup(self.namespace, meta["name"])
                if not known or held is None:
                    return False
                if held["metadata"]["resourceVersion"] != str(meta["resourceVersion"]):
                    return False
        return True

    def phases(self) -> set[str | None]:
        found = set()
        for name in self.names:
            obj = read(
                self.test.custom.get_namespaced_custom_object,
                "canary.dev",
                "v1alpha1",
                self.namespace,
                "canaries",
                name,
            )
            found.add(((obj or {}).get("status") or {}).get("phase"))
        return found

    def until(self, done: Callable[[], bool], counted: bool, limit: int = 40) -> int:
        for rounds in range(limit):
            if done():
                return rounds
            self.round(counted)
        raise RuntimeError(f"not done after {limit} rounds: {self.phases()}")

    def new_image(self, image: str) -> None:
        for name in self.names:
            patch = {
                "spec": {"template": {"spec": {"containers": [{"name": "app", "image": image}]}}}
            }
            raw(
                self.test.apps.patch_namespaced_deployment,
                name,
                self.namespace,
                patch,
            )


def measure(env: testing.Environment, canaries: int, intervals: int, cached: bool) -> list[str]:
    run = Run(env, f"bench-{'cached' if cached else 'uncached'}", canaries, cached)
    run.given()
    rows = []
    with run.controller() if cached else nullcontext():
        run.until(lambda: run.phases() == {"Initialized"}, counted=False)
        run.counts.clear()
        run.sizes.bytes = 0
        for _ in range(intervals):
            run.round(counted=True)
        rows.append(_row(run, "at rest", intervals))
        for number, image in enumerate(("podinfo:2", "podinfo:3")):
            run.counts.clear()
            run.sizes.bytes = 0
            run.new_image(image)
            # A second rollout starts from Succeeded: wait for it to leave that phase first.
            started = run.until(lambda: "Succeeded" not in run.phases(), counted=True)
            rounds = started + run.until(lambda: run.phases() == {"Succeeded"}, counted=True)
            which = "rollout" if number == 0 else "next rollout"
            rows.append(_row(run, f"{which} ({rounds} intervals)", rounds))
    return rows


def _row(run: Run, phase: str, intervals: int) -> str:
    per = len(run.names) * max(intervals, 1)
    total = sum(run.counts.values())
    gets = sum(n for (verb, _), n in run.counts.items() if verb == "get")
    writes = total - gets
    detail = ", ".join(
        f"{verb} {res} {n / per:.2f}" for (verb, res), n in sorted(run.counts.items())
    )
    mode = "cached" if run.cached else "uncached"
    sent = run.sizes.bytes / per
    return (
        f"| {mode} | {phase} | {gets / per:.2f} | {writes / per:.2f} | {sent:,.0f} "
        f"| {detail or '-'} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--canaries", type=int, default=5)
    parser.add_argument("--intervals", type=int, default=5)
    args = parser.parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.ERROR))
    with tempfile.TemporaryDirectory() as scratch:
        write_crds(Path(scratch))
        with testing.sandbox(crds=[testing.ISTIO_CRDS, scratch]) as env:
            started = time.monotonic()
            rows = measure(env, args.canaries, args.intervals, cached=False)
            rows += measure(env, args.canaries, args.intervals, cached=True)
    print(f"{args.canaries} Canaries; requests per Canary per interval (watches aside)\n")
    print("| reads | phase | GET | writes | bytes written | by verb and resource |")
    print("|---|---|---|---|---:|---|")
    for row in rows:
        print(row)
    print(f"\n({time.monotonic() - started:.1f} s)")


if __name__ == "__main__":
    main()
