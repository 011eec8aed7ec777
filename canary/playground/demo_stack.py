"""The playground stack: emulator, workload runner, Envoy mesh, metrics and the real controller.

    with Stack(StackOptions(workdir=Path("/tmp/pg"))) as stack:
        print(stack.kubeconfig)          # kubectl and the canary CLI work against it
        crash = stack.wait()             # until a child crashes or stop() / a signal

What runs where:
- **API**: the Kubernetes API emulator (`canary.sandbox`), in this process, with the canary CRDs
  (`crds/`, else the ones generated from the models) and the shipped Istio CRDs.
- **Workloads**: `WorkloadRunner` (this process) runs every pod as a child process.
- **Mesh**: one real Envoy (child process), configured from the VirtualServices, DestinationRules,
  Services and Pods by the mesh module; its access logs feed the telemetry (Istio metrics).
- **Metrics**: a real `prometheus` (child process, scraping the telemetry every second) when the
  binary is on PATH, else the telemetry's embedded provider.
- **Controller**: `canary controller --kubeconfig ... --metrics-server ...` as a child process,
  unchanged (with the embedded provider it runs in this process, the same `Controller` with the
  embedded `MetricProvider` in place of `PrometheusProvider`).

Every child is owned by one `Supervisor`: a crash of any of them is reported and stops the rest.
Set-up problems (a port taken, Envoy or Prometheus failing to start) raise `PlaygroundError`, a
one-line message, after stopping whatever had started.
"""

from __future__ import annotations

import contextlib
import http.client
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from kubernetes import client

from canary.playground.runner import WorkloadRunner
from canary.playground.supervisor import Crash, Supervisor
from canary.sandbox import crds
from canary.sandbox.server import ApiServer

REPO_CRDS = Path(__file__).resolve().parents[2] / "crds"


class PlaygroundError(Exception):
    """The playground could not start or broke: a one-line reason for the user (exit code 2)."""


@dataclass
class StackOptions:
    """Where the stack writes its files and which ports it takes (0: a free one)."""

    workdir: Path
    api_port: int = 0
    mesh_port: int = 0
    admin_port: int = 0
    metrics: str = "auto"
    """`prometheus` (the binary must be on PATH), `embedded`, or `auto` (prometheus if found)."""
    scrape_interval: str = "1s"
    controller_log_level: str = "info"


def check_port_free(port: int, what: str) -> None:
    """PlaygroundError when a fixed port is taken on 127.0.0.1 (0 always passes)."""
    if port == 0:
        return
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError as exc:
            raise PlaygroundError(f"port {port} ({what}) is taken: {exc.strerror}") from None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def canary_crds() -> list[Path]:
    """The canary CRDs: the checkout's `crds/` directory, else generated now from the models."""
    if REPO_CRDS.is_dir():
        return [REPO_CRDS]
    from canary.api.crdgen import write_crds

    out = Path(tempfile.mkdtemp(prefix="canary-crds-"))
    write_crds(out)
    return [out]


class Stack:
    """Starts the playground's parts in order, and stops them in reverse (see the module doc)."""

    def __init__(self, options: StackOptions) -> None:
        self.options = options
        self.workdir = options.workdir
        self.supervisor = Supervisor(grace=5)
        self.server: ApiServer | None = None
        self.api_client: client.ApiClient | None = None
        self.runner: WorkloadRunner | None = None
        self.mesh: Any = None
        self.telemetry: Any = None
        self.prometheus_url: str | None = None
        self.prometheus_port = 0
        self.metrics_mode = ""
        self.controller: Any = None
        self.controller_thread: threading.Thread | None = None
        self.kubeconfig = self.workdir / "kubeconfig"
        self.mesh_url = ""
        self.controller_addr = ""

    # -- start --------------------------------------------------------------------------------

    def start(self) -> Stack:
        """Start everything; PlaygroundError (everything stopped again) when a part cannot start."""
        o = self.options
        self.workdir.mkdir(parents=True, exist_ok=True)
        for port, what in (
            (o.api_port, "API server"),
            (o.mesh_port, "mesh listener"),
            (o.admin_port, "Envoy admin"),
        ):
            check_port_free(port, what)
        try:
            self._start_api()
            self._choose_metrics()
            # The controller process takes seconds to import; it starts first and becomes ready
            # while the rest starts (it only needs the API; Prometheus's port is chosen now).
            self._start_controller()
            self._start_runner()
            self._start_mesh()
            self._start_metrics()
            if self.prometheus_url is None:
                self._start_embedded_controller()
            self._wait_ready(int(self.controller_addr.rsplit(":", 1)[1]))
        except PlaygroundError:
            self.stop()
            raise
        except Exception as exc:
            self.stop()
            raise PlaygroundError(f"{type(exc).__name__}: {exc}") from exc
        return self

    def _start_api(self) -> None:
        try:
            self.server = ApiServer(
                "127.0.0.1", self.options.api_port, [crds.shipped_istio(), *canary_crds()]
            )
        except OSError as exc:
            raise PlaygroundError(f"API server cannot listen: {exc}") from None
        self.server.start()
        self.server.write_kubeconfig(self.kubeconfig)
        configuration = client.Configuration(host=self.server.url)
        configuration.connection_pool_maxsize = 16
        self.api_client = client.ApiClient(configuration)

    def _start_runner(self) -> None:
        assert self.api_client is not None
        self.runner = WorkloadRunner(
            self.api_client,
            supervisor=self.supervisor,
            log_dir=self.workdir / "pods",
            lifecycle_log=self.workdir / "pods.jsonl",
        ).start()

    def _start_mesh(self) -> None:
        from canary.playground import demo_mesh

        assert self.api_client is not None
        try:
            self.mesh, self.telemetry = demo_mesh.start_mesh(self)
        except (ImportError, OSError, RuntimeError) as exc:
            crash = self.supervisor.crash
            reason = str(crash) if crash is not None else str(exc).strip() or type(exc).__name__
            first = reason.splitlines()[0]
            raise PlaygroundError(
                f"Envoy cannot start: {first} (see {self.workdir / 'mesh'})"
            ) from None
        self.mesh_url = self.mesh.url

    def _choose_metrics(self) -> None:
        mode = self.options.metrics
        if mode == "auto":
            mode = "prometheus" if shutil.which("prometheus") else "embedded"
        if mode == "prometheus" and not shutil.which("prometheus"):
            raise PlaygroundError("--metrics prometheus: no `prometheus` binary on PATH")
        self.metrics_mode = mode
        self.controller_addr = f"127.0.0.1:{free_port()}"
        if mode == "prometheus":
            self.prometheus_port = free_port()
            self.prometheus_url = f"http://127.0.0.1:{self.prometheus_port}"

    def _start_metrics(self) -> None:
        from canary.playground import demo_mesh

        if self.metrics_mode == "prometheus":
            demo_mesh.start_prometheus(self, self.prometheus_port)

    def _start_controller(self) -> None:
        """`canary controller` as a child process, when a real Prometheus is used."""
        if self.prometheus_url is None:
            return
        log = open(self.workdir / "controller.log", "ab")  # noqa: SIM115 - the child keeps it
        argv = [
            sys.executable,
            "-m",
            "canary",
            "controller",
            "--kubeconfig",
            str(self.kubeconfig),
            "--metrics-server",
            self.prometheus_url,
            "--metrics-addr",
            self.controller_addr,
            "--log-format",
            "json",
            "--log-level",
            self.options.controller_log_level,
        ]
        try:
            self.supervisor.spawn("controller", argv, stdout=log, stderr=subprocess.STDOUT)
        finally:
            log.close()

    def _start_embedded_controller(self) -> None:
        from canary.playground import demo_mesh

        self.controller, self.controller_thread = demo_mesh.start_embedded_controller(self)

    def _wait_ready(self, port: int, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.supervisor.crash is not None:
                raise PlaygroundError(f"{self.supervisor.crash} while starting")
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            try:
                connection.request("GET", "/healthz")
                if connection.getresponse().status == 200:
                    return
            except (OSError, http.client.HTTPException):
                pass
            finally:
                connection.close()
            time.sleep(0.1)
        raise PlaygroundError(
            f"the controller did not answer /healthz within {timeout:.0f} s "
            f"(see {self.workdir / 'controller.log'})"
        )

    # -- run and stop -------------------------------------------------------------------------

    def wait(self, timeout: float | None = None) -> Crash | None:
        """Block until a child crashes (returned) or `request_stop()`."""
        return self.supervisor.wait(timeout)

    def request_stop(self) -> None:
        self.supervisor.request_stop()

    def stop(self) -> None:
        """Stop everything that started, newest first; safe to call more than once."""
        if self.controller is not None:
            with contextlib.suppress(Exception):
                self.controller.request_stop()
            if self.controller_thread is not None:
                self.controller_thread.join(timeout=10)
            self.controller = None
        if self.runner is not None:
            self.runner.stop()
            self.runner = None
        if self.mesh is not None:
            with contextlib.suppress(Exception):
                self.mesh.stop()
            self.mesh = None
        # Prometheus goes before the telemetry it scrapes: a scrape cut short by a closing server
        # would print a traceback.
        self.supervisor.stop()
        if self.telemetry is not None:
            with contextlib.suppress(Exception):
                self.telemetry.stop()
            self.telemetry = None
        if self.api_client is not None:
            self.api_client.close()  # type: ignore[no-untyped-call]
            self.api_client = None
        if self.server is not None:
            self.server.stop()
            self.server = None

    def __enter__(self) -> Stack:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
