"""The playground's sample HTTP app: one version of `my-app`, its behaviour set by env vars.

Standard library only, so any Python 3.11+ runs it: `python examples/app/server.py`.

| variable | meaning | default |
|---|---|---|
| `PORT` | loopback port to listen on (127.0.0.1) | 8080 |
| `APP_VERSION` | version string, in every response's `x-app-version` header and body | `dev` |
| `APP_ERROR_RATE` | share of requests answered 500, drawn per request (0..1) | 0 |
| `APP_LATENCY_MS` | median latency in ms (log-normal, per request) | 5 |
| `APP_LATENCY_SIGMA` | sigma of the log-normal latency (0: constant) | 0.3 |
| `APP_READY_DELAY` | seconds before `/healthz/ready` answers 200 (start-up) | 0.5 |
| `APP_SEED` | seed of the per-request draws (reproducible runs) | random |

`GET /healthz/ready` answers 200 once ready, else 503 (it never fails or waits). Every other path
draws a status and a latency. Requests the mesh mirrors carry `x-canary-mirror: true`; they are
served like any other and counted in `/stats`. On SIGTERM the app stops accepting connections,
finishes the requests in flight (at most 5 s) and exits 0.
"""

from __future__ import annotations

import json
import math
import os
import random
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Behaviour:
    def __init__(self, env: dict[str, str]) -> None:
        self.version = env.get("APP_VERSION", "dev")
        self.error_rate = float(env.get("APP_ERROR_RATE", "0"))
        self.latency_ms = float(env.get("APP_LATENCY_MS", "5"))
        self.sigma = float(env.get("APP_LATENCY_SIGMA", "0.3"))
        self.ready_at = time.monotonic() + float(env.get("APP_READY_DELAY", "0.5"))
        seed = env.get("APP_SEED")
        self.random = random.Random(int(seed) if seed else None)
        self.lock = threading.Lock()
        self.counts = {"requests": 0, "errors": 0, "mirrored": 0}
        self.in_flight = 0

    def draw(self) -> tuple[int, float]:
        """(status, latency in seconds) of one request."""
        with self.lock:
            failed = self.random.random() < self.error_rate
            latency = self.latency_ms * math.exp(self.sigma * self.random.gauss(0.0, 1.0))
        return (500 if failed else 200), latency / 1000.0


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Head and body in one write, no Nagle: else delayed ACKs add ~40 ms per request behind Envoy.
    wbufsize = 65536
    disable_nagle_algorithm = True
    server: AppServer

    def log_message(self, format: str, *args: object) -> None:  # quiet: the mesh logs requests
        pass

    def _send(self, code: int, body: dict[str, object]) -> None:
        payload = (json.dumps(body) + "\n").encode()
        self.send_response(code)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(payload)))
        self.send_header("x-app-version", self.server.behaviour.version)
        if self.server.stopping.is_set():
            self.send_header("connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(payload)

    def do_GET(self) -> None:
        b = self.server.behaviour
        if self.path == "/healthz/ready":
            ready = time.monotonic() >= b.ready_at and not self.server.stopping.is_set()
            self._send(200 if ready else 503, {"version": b.version, "ready": ready})
            return
        if self.path == "/stats":
            with b.lock:
                self._send(200, {"version": b.version, **b.counts})
            return
        with b.lock:
            b.in_flight += 1
        try:
            code, latency = b.draw()
            time.sleep(latency)
            mirrored = self.headers.get("x-canary-mirror") == "true"
            with b.lock:
                b.counts["requests"] += 1
                b.counts["errors"] += code >= 500
                b.counts["mirrored"] += mirrored
            self._send(code, {"version": b.version, "status": code, "path": self.path})
        finally:
            with b.lock:
                b.in_flight -= 1

    do_POST = do_GET  # noqa: N815 - http.server's naming


class AppServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, port: int, behaviour: Behaviour) -> None:
        self.behaviour = behaviour
        self.stopping = threading.Event()
        super().__init__(("127.0.0.1", port), Handler)


def main() -> int:
    behaviour = Behaviour(dict(os.environ))
    port = int(os.environ.get("PORT", "8080"))
    try:
        server = AppServer(port, behaviour)
    except OSError as exc:
        print(
            f"my-app {behaviour.version}: cannot listen on 127.0.0.1:{port}: {exc}", file=sys.stderr
        )
        return 1

    def stop(signum: int, frame: object) -> None:
        server.stopping.set()
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(f"my-app {behaviour.version} listening on 127.0.0.1:{port}", flush=True)
    server.serve_forever(poll_interval=0.1)
    server.server_close()
    deadline = time.monotonic() + 5
    while behaviour.in_flight and time.monotonic() < deadline:
        time.sleep(0.02)
    return 0


if __name__ == "__main__":
    sys.exit(main())
