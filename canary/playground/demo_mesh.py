"""The stack's and the demo's side of the mesh, the telemetry and the load generator (12b's parts).

Everything that touches those modules' APIs is here, so the rest of the demo reads plain rows:
- `start_mesh(stack)`, `start_prometheus(stack)`, `start_embedded_controller(stack)`;
- `load_generator(stack, rate, path)` and `user_requests(load)`: rows `{time, status, version,
  latency_ms, error}`;
- `served_requests(workdir)`: Envoy's upstream log (one line per request a pod served, mirrored
  copies included) as rows `{time, code, port, duration_ms, mirror, workload, version}`.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from canary.playground.demo_stack import Stack

JSON = dict[str, Any]


def mesh_dir(workdir: Path) -> Path:
    return workdir / "mesh"


def access_log(workdir: Path) -> Path:
    return mesh_dir(workdir) / "access.log"


def upstream_log(workdir: Path) -> Path:
    return mesh_dir(workdir) / "upstream.log"


def start_mesh(stack: Stack) -> tuple[Any, Any]:
    """Start Envoy (owned by the stack's supervisor) and the telemetry; (mesh, telemetry)."""
    from canary.playground.demo_stack import free_port
    from canary.playground.mesh import Mesh
    from canary.playground.telemetry import Telemetry

    assert stack.api_client is not None
    o = stack.options
    mesh = Mesh(
        stack.api_client,
        workdir=mesh_dir(stack.workdir),
        listen_port=o.mesh_port or free_port(),
        admin_port=o.admin_port or free_port(),
        spawn=stack.supervisor,
    )
    mesh.start()
    mesh.run_in_background()
    telemetry = Telemetry(mesh.upstream_log_path, access_log=mesh.access_log_path)
    telemetry.start()
    return mesh, telemetry


def start_prometheus(stack: Stack, port: int) -> str:
    """Start a real prometheus scraping the telemetry every `scrape_interval`; its URL."""
    from canary.playground.telemetry import start_prometheus as start

    try:
        _, url = start(
            stack.workdir / "prometheus",
            [stack.telemetry.metrics_address],
            scrape_interval=stack.options.scrape_interval,
            spawn=stack.supervisor,
            port=port,
        )
    except RuntimeError as exc:
        from canary.playground.demo_stack import PlaygroundError

        raise PlaygroundError(f"prometheus cannot start: {exc}") from None
    return str(url)


def start_embedded_controller(stack: Stack) -> tuple[Any, threading.Thread]:
    """The real controller in this process, its metrics answered by the embedded provider."""
    from canary.controller.reconcile import Reconciler
    from canary.controller.runtime import Controller, Options
    from canary.kube.client import Kube
    from canary.kube.istio import IstioRouter
    from canary.kube.sources import KubeSecrets, KubeTemplates
    from canary.metrics.analyzer import MetricAnalyzer, PrometheusProviders
    from canary.webhooks import HttpWebhookRunner

    assert stack.api_client is not None
    _log_to_file(stack.workdir / "controller.log")
    kube = Kube.of(stack.api_client)
    secrets = KubeSecrets(kube)
    analyzer = MetricAnalyzer(
        stack.telemetry.provider(),
        templates=KubeTemplates(kube),
        providers=PrometheusProviders(secrets),
    )
    reconciler = Reconciler(kube, IstioRouter(kube), analyzer, HttpWebhookRunner(secrets))
    options = Options(
        namespaces=[],
        workers=4,
        leader_elect=False,
        lease_name="canary-controller",
        lease_namespace="default",
        identity="playground",
        metrics_addr=stack.controller_addr,
    )
    controller = Controller(kube, reconciler, options)
    thread = threading.Thread(target=controller.run_forever, name="controller", daemon=True)
    thread.start()
    return controller, thread


def _log_to_file(path: Path) -> None:
    """The in-process controller's structlog lines go to `path` as JSON, as the child's would."""
    import structlog

    log_file = path.open("a")  # kept open for the life of the process, as stderr would be
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(20),
        logger_factory=structlog.WriteLoggerFactory(file=log_file),
        cache_logger_on_first_use=False,
    )


def load_generator(stack: Stack, rate: float, record: Path) -> Any:
    """Steady user traffic to `my-app` through Envoy, every outcome recorded in `record`."""
    from canary.playground.loadgen import LoadGenerator

    return LoadGenerator(stack.mesh_url, "my-app", rate, record_path=record, concurrency=32)


def user_requests(load: Any) -> list[JSON]:
    """The load generator's record (`loadgen.Outcome`s) as rows; slots it skipped are left out.

    A slot is skipped, not sent, when all `concurrency` senders are busy (loadgen's module doc).
    """
    if load is None:
        return []
    return [
        {
            "time": r.time,
            "status": r.status,
            "version": r.version,
            "latency_ms": r.latency_ms,
            "error": r.error,
            "request_id": r.request_id,
        }
        for r in load.records
        if not r.error.startswith("skipped")
    ]


def skipped(load: Any) -> int:
    """Slots the load generator could not send (every sender busy)."""
    return 0 if load is None else sum(r.error.startswith("skipped") for r in load.records)


def read_jsonl(path: Path) -> list[JSON]:
    if not path.exists():
        return []
    rows = []
    for line in path.read_text().splitlines():
        line = line.strip()
        if line:
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                continue  # a line cut short by a stop
    return rows


def _port(host: str) -> int:
    try:
        return int(host.rsplit(":", 1)[1])
    except (IndexError, ValueError):
        return 0


def served_requests(workdir: Path) -> list[JSON]:
    """Envoy's upstream log (mesh_translate.LOG_FORMAT) as rows for demo_summary."""
    rows = []
    for e in read_jsonl(upstream_log(workdir)):
        port = _port(str(e.get("upstream_host") or ""))
        if not port:
            continue
        rows.append(
            {
                "time": float(e.get("start_time") or 0),
                "code": int(e.get("response_code") or 0),
                "port": port,
                "duration_ms": float(e.get("duration_ms") or 0),
                "mirror": e.get("mirror") == "true",
                "workload": str(e.get("upstream_workload") or "").split(";")[0],
                "version": e.get("app_version") or "",
            }
        )
    return rows
