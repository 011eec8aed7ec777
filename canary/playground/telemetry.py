"""Istio's standard metrics built from the mesh's Envoy access logs, served for Prometheus.

API:
    telemetry = Telemetry(mesh.upstream_log_path, access_log=mesh.access_log_path, port=0)
    telemetry.start()            # tails the logs (every 0.1 s), serves /metrics on 127.0.0.1
    telemetry.metrics_address    # "127.0.0.1:<port>" (a Prometheus scrape target)
    telemetry.metrics_url        # "http://127.0.0.1:<port>/metrics"
    telemetry.provider()         # the embedded MetricProvider (canary.playground.embedded)
    telemetry.poll()             # read what the logs have now (the thread does this; for tests)
    telemetry.stop()
    start_prometheus(workdir, [telemetry.metrics_address], scrape_interval="1s", spawn=None)
        -> (process, "http://127.0.0.1:<port>")   # when prometheus_binary() is not None

Series (Istio's names, label set and order; Envoy's default histogram buckets in ms):
`istio_requests_total` and `istio_request_duration_milliseconds_bucket/_sum/_count`.
- `reporter="destination"`: one per request a pod served, read from the router's upstream log:
  every upstream attempt (a retry reaches a pod again) and every mirrored copy, as the server's
  sidecar would count them. Attempts that reached no pod (no healthy upstream, connect failure)
  are not counted, as no server sidecar saw them.
- `reporter="source"` (only when `access_log` is given): one per user request, read from the
  downstream access log, as a client sidecar or gateway would count it.
`destination_workload`/`_namespace`/`_app`/`_version`/`_canonical_*` come from the endpoint's
`istio.workload` metadata (the Pod's `playground.canary.dev/workload` annotation and labels),
`destination_service*` from the cluster name, `source_workload` is `loadgen` for the playground's
load generator (User-Agent `canary-loadgen/...`), else `unknown`; `connection_security_policy`
is `none` (no mTLS in the playground).
"""

from __future__ import annotations

import json
import logging
import shutil
import socket
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import yaml
from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server

if TYPE_CHECKING:
    from canary.playground.embedded import EmbeddedProvider

log = logging.getLogger("canary.playground.telemetry")

ENVOY_BUCKETS_MS = (
    *(0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000),
    *(300000, 600000, 1800000, 3600000),
)
"""Envoy's (and Istio's) default histogram boundaries in milliseconds; +Inf is implied."""

LABELS = (
    *("reporter", "source_workload", "source_workload_namespace", "source_principal"),
    *("source_app", "source_version", "source_canonical_service", "source_canonical_revision"),
    *("source_cluster", "destination_workload", "destination_workload_namespace"),
    *("destination_principal", "destination_app", "destination_version"),
    *("destination_service", "destination_service_name", "destination_service_namespace"),
    *("destination_canonical_service", "destination_canonical_revision", "destination_cluster"),
    *("request_protocol", "response_code", "grpc_response_status", "response_flags"),
    "connection_security_policy",
)
"""The istio.stats filter's labels, in its order."""

LOADGEN_AGENT = "canary-loadgen"
RETENTION = 200_000
"""Requests kept in memory for the embedded provider (at 50 req/s: about an hour)."""


@dataclass(frozen=True)
class Request:
    """One counted request: what the embedded provider aggregates."""

    time: float
    """Completion time, Unix seconds (start + duration)."""
    reporter: str
    workload: str
    namespace: str
    code: int
    duration_ms: float


def labels_of(entry: dict[str, Any], reporter: str) -> dict[str, str] | None:
    """Istio's labels for one access-log line (mesh_translate.LOG_FORMAT); None if not counted."""
    host = entry.get("upstream_host")
    if reporter == "destination" and (not host or host == "-"):
        return None
    fields = str(entry.get("upstream_workload") or "").split(";")
    workload, namespace, app, version, cluster = (fields + [""] * 5)[:5]
    parts = str(entry.get("upstream_cluster") or "").split("|")
    service, service_namespace = (parts[3], parts[4]) if len(parts) == 5 else ("", "")
    agent = str(entry.get("user_agent") or "")
    source = "loadgen" if agent.startswith(LOADGEN_AGENT) else "unknown"
    code = entry.get("response_code")
    return {
        "reporter": reporter,
        "source_workload": source,
        "source_workload_namespace": "unknown",
        "source_principal": "unknown",
        "source_app": source,
        "source_version": "unknown",
        "source_canonical_service": source,
        "source_canonical_revision": "latest",
        "source_cluster": "unknown",
        "destination_workload": workload or "unknown",
        "destination_workload_namespace": namespace or service_namespace or "unknown",
        "destination_principal": "unknown",
        "destination_app": app or "unknown",
        "destination_version": version or "unknown",
        "destination_service": (
            f"{service}.{service_namespace}.svc.cluster.local"
            if service
            else str(entry.get("authority") or "unknown")
        ),
        "destination_service_name": service or "unknown",
        "destination_service_namespace": service_namespace or "unknown",
        "destination_canonical_service": app or workload or "unknown",
        "destination_canonical_revision": version or "latest",
        "destination_cluster": cluster or "unknown",
        "request_protocol": "http",
        "response_code": str(code if code not in (None, "-") else 0),
        "grpc_response_status": "",
        "response_flags": str(entry.get("response_flags") or "-"),
        "connection_security_policy": "none",
    }


class _Tail:
    """Reads the complete lines appended to a file since the last call."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._offset = 0
        self._partial = b""

    def lines(self) -> Iterator[str]:
        try:
            with self.path.open("rb") as file:
                file.seek(self._offset)
                data = file.read()
        except FileNotFoundError:
            return
        self._offset += len(data)
        data = self._partial + data
        *complete, self._partial = data.split(b"\n")
        for line in complete:
            if line.strip():
                yield line.decode("utf-8", "replace")


class Telemetry:
    """Tails the mesh's logs into Istio's metrics (see module docstring)."""

    def __init__(
        self,
        upstream_log: Path,
        *,
        access_log: Path | None = None,
        port: int = 0,
        poll_interval: float = 0.1,
    ) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests_total = Counter(
            "istio_requests",
            "Requests, counted as Istio's stats filter does (from Envoy's access logs).",
            LABELS,
            registry=self.registry,
        )
        self.duration = Histogram(
            "istio_request_duration_milliseconds",
            "Request duration in milliseconds (Envoy's %DURATION%).",
            LABELS,
            buckets=ENVOY_BUCKETS_MS,
            registry=self.registry,
        )
        self._tails = [(_Tail(upstream_log), "destination")]
        if access_log is not None:
            self._tails.append((_Tail(access_log), "source"))
        self._port = port
        self._poll_interval = poll_interval
        self._lock = threading.Lock()
        self._recent: deque[Request] = deque(maxlen=RETENTION)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._server: Any = None
        self.bad_lines = 0

    @property
    def port(self) -> int:
        return self._port

    @property
    def metrics_address(self) -> str:
        return f"127.0.0.1:{self._port}"

    @property
    def metrics_url(self) -> str:
        return f"http://{self.metrics_address}/metrics"

    def start(self) -> None:
        """Serve /metrics on 127.0.0.1 (a free port when 0) and tail the logs in a thread."""
        server, _ = start_http_server(self._port, addr="127.0.0.1", registry=self.registry)
        self._server = server
        self._port = int(server.server_address[1])
        self._thread = threading.Thread(target=self._loop, name="telemetry", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(self._poll_interval):
            try:
                self.poll()
            except Exception as error:  # a bad read must not end the metrics
                log.warning("telemetry poll failed: %s", error)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def poll(self) -> int:
        """Count every complete line appended since the last poll; the number counted."""
        counted = 0
        for tail, reporter in self._tails:
            for line in tail.lines():
                try:
                    entry = json.loads(line)
                except json.JSONDecodeError:
                    self.bad_lines += 1
                    continue
                if isinstance(entry, dict) and self.observe(entry, reporter):
                    counted += 1
        return counted

    def observe(self, entry: dict[str, Any], reporter: str) -> bool:
        """Count one access-log line for `reporter`; False when it is not counted."""
        labels = labels_of(entry, reporter)
        if labels is None:
            return False
        duration = float(entry.get("duration_ms") or 0)
        self.requests_total.labels(**labels).inc()
        self.duration.labels(**labels).observe(duration)
        start = float(entry.get("start_time") or 0)
        request = Request(
            time=start + duration / 1000,
            reporter=reporter,
            workload=labels["destination_workload"],
            namespace=labels["destination_workload_namespace"],
            code=int(labels["response_code"]),
            duration_ms=duration,
        )
        with self._lock:
            self._recent.append(request)
        return True

    def requests(self, since: float = 0.0) -> list[Request]:
        """The counted requests completed after `since` (Unix seconds), oldest first."""
        with self._lock:
            return [r for r in self._recent if r.time > since]

    def provider(self) -> EmbeddedProvider:
        """A MetricProvider answering the controller's built-in queries from these counts."""
        from canary.playground.embedded import EmbeddedProvider

        return EmbeddedProvider(self)


# A real Prometheus scraping the telemetry (when the binary is on PATH)

SCRAPE_INTERVAL = "1s"
"""The playground's scrape interval: short, so that a 30 s analysis window holds ~30 samples and a
rate() over it is never empty; Prometheus's own default (1m) suits production, not a demo."""


def prometheus_binary() -> str | None:
    """The `prometheus` on PATH, or None (then the playground uses the embedded provider)."""
    return shutil.which("prometheus")


def prometheus_config(targets: Sequence[str], scrape_interval: str = SCRAPE_INTERVAL) -> str:
    """A prometheus.yml with one job, `istio-mesh`, scraping `targets` ("host:port")."""
    config = {
        "global": {"scrape_interval": scrape_interval, "evaluation_interval": scrape_interval},
        "scrape_configs": [
            {
                "job_name": "istio-mesh",
                "scrape_interval": scrape_interval,
                "scrape_timeout": scrape_interval,
                "static_configs": [{"targets": list(targets)}],
            }
        ],
    }
    return yaml.safe_dump(config, sort_keys=False)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_prometheus(
    workdir: Path,
    targets: Sequence[str],
    *,
    scrape_interval: str = SCRAPE_INTERVAL,
    port: int | None = None,
    spawn: Callable[..., subprocess.Popen[bytes]] | None = None,
    timeout: float = 30.0,
) -> tuple[subprocess.Popen[bytes], str]:
    """Start `prometheus` on 127.0.0.1 scraping `targets`; (process, base URL) once it is ready.

    Its config and TSDB live in `workdir`. RuntimeError when there is no binary or it does not
    become ready within `timeout` seconds (the process is stopped then).
    """
    binary = prometheus_binary()
    if binary is None:
        raise RuntimeError("no prometheus binary on PATH")
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "prometheus.yml").write_text(prometheus_config(targets, scrape_interval))
    port = port or free_port()
    argv = [
        binary,
        f"--config.file={workdir / 'prometheus.yml'}",
        f"--storage.tsdb.path={workdir / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--log.level=warn",
    ]
    log_file = (workdir / "prometheus.log").open("ab")
    kwargs: dict[str, Any] = {"stdout": log_file, "stderr": subprocess.STDOUT}
    process = spawn("prometheus", argv, **kwargs) if spawn else subprocess.Popen(argv, **kwargs)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    with httpx.Client(timeout=2.0) as http:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                break
            try:
                if http.get(f"{url}/-/ready").status_code == 200:
                    return process, url
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
    if process.poll() is None:
        process.terminate()
        process.wait(10)
    raise RuntimeError(f"prometheus did not become ready (see {workdir / 'prometheus.log'})")
