"""Small local HTTP servers for failure cases: slow, canned answers, and a header recorder."""

from __future__ import annotations

import json
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


@dataclass
class Canned:
    """What the fake answers, and what it was asked."""

    status: int = 200
    body: object = field(default_factory=lambda: {"status": "success", "data": {"result": []}})
    delay: float = 0.0
    requests: list[dict[str, str]] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)


@contextmanager
def fake_prometheus(canned: Canned, tls: tuple[Path, Path] | None = None) -> Iterator[str]:
    """Serves `canned` on a free 127.0.0.1 port (HTTPS with a (cert, key) pair); yields its URL."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            canned.requests.append(dict(self.headers.items()))
            canned.paths.append(self.path)
            time.sleep(canned.delay)
            payload = (
                canned.body if isinstance(canned.body, bytes) else json.dumps(canned.body).encode()
            )
            try:
                self.send_response(canned.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
            except OSError:
                pass  # the client gave up (timeout); nothing to answer

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    scheme = "http"
    if tls is not None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(*tls)
        server.socket = context.wrap_socket(server.socket, server_side=True)
        scheme = "https"
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"{scheme}://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
