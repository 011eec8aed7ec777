"""The HTTP endpoints: /healthz (alive), /readyz (caches synced) and /metrics (Prometheus)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from canary import redact


class Endpoints:
    """A small threaded HTTP server; `port` is the bound port (useful with port 0)."""

    def __init__(
        self,
        address: str,
        registry: CollectorRegistry,
        healthy: Callable[[], bool],
        ready: Callable[[], bool],
    ) -> None:
        host, _, port = address.rpartition(":")
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer._serve(self)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.registry, self.healthy, self.ready = registry, healthy, ready
        self._httpd = ThreadingHTTPServer((host or "0.0.0.0", int(port or 8080)), Handler)
        self._httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    def _serve(self, request: BaseHTTPRequestHandler) -> None:
        path = request.path.split("?")[0]
        if path == "/metrics":
            exposition = generate_latest(self.registry).decode()
            self._send(request, 200, redact.text(exposition).encode(), CONTENT_TYPE_LATEST)
        elif path in ("/healthz", "/readyz"):
            ok = (self.healthy if path == "/healthz" else self.ready)()
            self._send(request, 200 if ok else 503, b"ok\n" if ok else b"not ready\n", "text/plain")
        else:
            self._send(request, 404, b"not found\n", "text/plain")

    @staticmethod
    def _send(request: BaseHTTPRequestHandler, code: int, body: bytes, content_type: str) -> None:
        request.send_response(code)
        request.send_header("Content-Type", content_type)
        request.send_header("Content-Length", str(len(body)))
        request.end_headers()
        request.wfile.write(body)

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, name="endpoints", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
