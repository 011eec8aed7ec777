"""Helpers for the mesh tests: loopback upstreams, Pods and Services in the emulator, a Mesh."""

from __future__ import annotations

import http.server
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubernetes import client

from canary.kube.client import ISTIO_GROUP, ISTIO_VERSION, MERGE_PATCH
from canary.playground.mesh import Mesh
from canary.playground.mesh_translate import PORT_ANNOTATION, WORKLOAD_ANNOTATION

JSON = dict[str, Any]
NS = "test"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Upstream:
    """A stdlib HTTP server on loopback answering `status` with `x-app-version: version`."""

    version: str
    status: int = 200
    fail_every: int = 0
    """When > 0, every n-th request is answered 500 instead of `status`."""
    delay: float = 0.0
    """Seconds to wait before answering."""
    seen: list[dict[str, str]] = field(default_factory=list)
    server: http.server.ThreadingHTTPServer | None = None

    @property
    def port(self) -> int:
        assert self.server is not None
        return int(self.server.server_address[1])

    def start(self) -> Upstream:
        upstream = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body in one segment: otherwise Nagle + delayed ACK add ~40 ms each.
            wbufsize = 65536
            disable_nagle_algorithm = True

            def do_GET(self) -> None:
                upstream.seen.append({k.lower(): v for k, v in self.headers.items()})
                every = upstream.fail_every
                status = 500 if every and len(upstream.seen) % every == 0 else upstream.status
                if upstream.delay:
                    time.sleep(upstream.delay)
                body = upstream.version.encode()
                self.send_response(status)
                self.send_header("x-app-version", upstream.version)
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


@contextmanager
def upstreams(*specs: tuple[str, int]) -> Iterator[list[Upstream]]:
    started = [Upstream(version, status).start() for version, status in specs]
    try:
        yield started
    finally:
        for upstream in started:
            upstream.stop()


def create_service(api: client.ApiClient, name: str, selector: JSON, namespace: str = NS) -> None:
    body = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"selector": selector, "ports": [{"port": 9898, "name": "http"}]},
    }
    client.CoreV1Api(api).create_namespaced_service(namespace, body)


def create_pod(
    api: client.ApiClient,
    name: str,
    workload: str,
    port: int,
    labels: JSON,
    namespace: str = NS,
    ready: bool = True,
) -> None:
    """A Pod as the playground runner publishes it (see the playground contract)."""
    core = client.CoreV1Api(api)
    body = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": labels,
            "annotations": {PORT_ANNOTATION: str(port), WORKLOAD_ANNOTATION: workload},
        },
        "spec": {"containers": [{"name": "app", "image": "app"}]},
    }
    core.create_namespaced_pod(namespace, body)
    status = {
        "phase": "Running",
        "podIP": "127.0.0.1",
        "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
    }
    core.patch_namespaced_pod_status(name, namespace, {"status": status}, _content_type=MERGE_PATCH)


def apply_istio(api: client.ApiClient, plural: str, kind: str, name: str, spec: JSON) -> None:
    """Create or replace a VirtualService/DestinationRule in NS."""
    custom = client.CustomObjectsApi(api)
    body: JSON = {
        "apiVersion": f"{ISTIO_GROUP}/{ISTIO_VERSION}",
        "kind": kind,
        "metadata": {"name": name, "namespace": NS},
        "spec": spec,
    }
    try:
        live = custom.get_namespaced_custom_object(ISTIO_GROUP, ISTIO_VERSION, NS, plural, name)
    except client.ApiException as error:
        if error.status != 404:
            raise
        custom.create_namespaced_custom_object(ISTIO_GROUP, ISTIO_VERSION, NS, plural, body)
        return
    body["metadata"]["resourceVersion"] = live["metadata"]["resourceVersion"]
    custom.replace_namespaced_custom_object(ISTIO_GROUP, ISTIO_VERSION, NS, plural, name, body)


def weighted(primary: int, canary: int, **extra: Any) -> JSON:
    """The controller's VirtualService shape: hosts and one weighted primary/canary route."""
    return {
        "hosts": ["podinfo"],
        "http": [
            {
                "name": "primary",
                "route": [
                    {"destination": {"host": "podinfo-primary"}, "weight": primary},
                    {"destination": {"host": "podinfo-canary"}, "weight": canary},
                ],
                **extra,
            }
        ],
    }


@contextmanager
def podinfo_mesh(
    api: client.ApiClient, workdir: Path, primary: Upstream, canary: Upstream
) -> Iterator[Mesh]:
    """Services podinfo-primary/-canary with one Pod each behind a started, polling Mesh."""
    client.CoreV1Api(api).create_namespace({"metadata": {"name": NS}})
    create_service(api, "podinfo-primary", {"app": "podinfo-primary"})
    create_service(api, "podinfo-canary", {"app": "podinfo"})
    create_pod(
        api, "podinfo-primary-1-0", "podinfo-primary", primary.port, {"app": "podinfo-primary"}
    )
    create_pod(api, "podinfo-2-0", "podinfo", canary.port, {"app": "podinfo"})
    mesh = Mesh(api, workdir=workdir, listen_port=free_port(), admin_port=free_port())
    try:
        mesh.start()
        mesh.run_in_background()
        yield mesh
    finally:
        mesh.stop()


@contextmanager
def podinfo(
    api: client.ApiClient, workdir: Path, canary_status: int = 200
) -> Iterator[tuple[Mesh, Upstream, Upstream]]:
    """Upstreams v1 (primary, 200) and v2 (canary, `canary_status`) behind a polling Mesh."""
    with (
        upstreams(("v1", 200), ("v2", canary_status)) as (primary, canary),
        podinfo_mesh(api, workdir, primary, canary) as mesh,
    ):
        yield mesh, primary, canary
