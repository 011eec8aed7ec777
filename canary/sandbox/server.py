"""The HTTP server: a threaded stdlib server with keep-alive, chunked watch streams and a kubeconfig."""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import select
import socket
import threading
from collections.abc import Iterable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import unquote, urlsplit

import yaml

from canary.sandbox import crds, faults, limits
from canary.sandbox.api import Api, Response
from canary.sandbox.errors import ApiError
from canary.sandbox.faults import FaultPlan
from canary.sandbox.resources import Registry
from canary.sandbox.store import Store, WriteOptions

log = logging.getLogger(__name__)


def _dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


def _peer_connected(sock: socket.socket) -> bool:
    """False once the client has closed its end (readable with nothing to read)."""
    try:
        readable, _, _ = select.select([sock], [], [], 0)
        return not readable or sock.recv(1, socket.MSG_PEEK) != b""
    except OSError:
        return False


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128
    api: Api

    def __init__(self, address: tuple[str, int], bounds: limits.Limits) -> None:
        super().__init__(address, _Handler)
        self.limits = bounds
        self._slots = limits.ConnectionSlots(bounds.max_connections)
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire():
            limits.refuse(request)
            super().shutdown_request(request)
            return
        with self._open_lock:
            self._open.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._open_lock:
            held = request in self._open
            self._open.discard(request)
        if held:
            self._slots.release()
        super().shutdown_request(request)

    def disconnect_all(self) -> None:
        """Hang up on every client: keep-alive connections would otherwise outlive the server."""
        with self._open_lock:
            connections = list(self._open)
        for connection in connections:
            with contextlib.suppress(OSError):  # already closed by the client
                connection.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: the client reuses connections from its pool
    server_version = "canary-sandbox"
    sys_version = ""
    disable_nagle_algorithm = True
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.connection.settimeout(self.server.limits.read_timeout)  # idle, half-sent requests end

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_PUT(self) -> None:
        self._serve("PUT")

    def do_PATCH(self) -> None:
        self._serve("PATCH")

    def do_DELETE(self) -> None:
        self._serve("DELETE")

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.address_string(), *args)

    def _serve(self, method: str) -> None:
        try:
            # Always drain the body first: a body left unread would be parsed as the next request.
            body = limits.read_body(self.rfile, self.headers.items(), self.server.limits)
        except (ApiError, limits.FramingError, OSError) as exc:
            self.close_connection = True
            with contextlib.suppress(OSError):  # a client that left gets no answer
                self._send(_refusal(exc))
            return
        url = urlsplit(self.path)
        headers = {k.lower(): v for k, v in self.headers.items()}
        alive = functools.partial(_peer_connected, self.connection)
        response = self.server.api.handle(
            method, unquote(url.path), url.query, headers, body, alive
        )
        if response.cut:  # fault injection: the client gets no answer at all
            if response.stream is not None:
                response.stream.close()
            self.close_connection = True
            faults.hang_up(self.connection)
            return
        timer = None
        if response.watch_cut is not None:
            timer = faults.hang_up_later(
                self.connection, response.watch_cut, self.server.api.faults
            )
        try:
            if response.stream is not None:
                self._stream(response)
            else:
                self._send(response)
        except (TimeoutError, BrokenPipeError, ConnectionResetError, OSError):
            self.close_connection = True
        finally:
            if timer is not None:
                timer.cancel()

    def _head(self, code: int, headers: list[tuple[str, str]]) -> bytes:
        try:
            phrase = HTTPStatus(code).phrase
        except ValueError:
            phrase = ""
        lines = [
            f"HTTP/1.1 {code} {phrase}",
            f"Date: {self.date_time_string()}",
            "Cache-Control: no-cache, private",
        ]
        lines += [f"{k}: {v}" for k, v in headers]
        if self.close_connection:
            lines.append("Connection: close")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", "replace")

    def _send(self, response: Response) -> None:
        if response.text is not None:
            payload, content_type = response.text.encode(), "text/plain; charset=utf-8"
        else:
            payload, content_type = _dumps(response.body), "application/json"
        headers = [("Content-Type", content_type), ("Content-Length", str(len(payload)))]
        headers += [("Warning", f"299 - {json.dumps(w)}") for w in response.warnings]
        headers += response.headers
        # One write for head and body: two small writes meet Nagle and delayed ACKs (40 ms).
        self.wfile.write(self._head(response.code, headers) + payload)

    def _stream(self, response: Response) -> None:
        assert response.stream is not None
        headers = [("Content-Type", "application/json"), ("Transfer-Encoding", "chunked")]
        self.wfile.write(self._head(200, headers))
        events = response.stream
        try:
            for kind, obj in events:
                data = _dumps({"type": kind, "object": obj}) + b"\n"
                self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        except ApiError as exc:
            data = _dumps({"type": "ERROR", "object": exc.status()}) + b"\n"
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        except (BrokenPipeError, ConnectionResetError):
            raise
        except Exception:
            log.exception("watch stream failed")
            self.close_connection = True
            return
        finally:
            events.close()
        self.wfile.write(b"0\r\n\r\n")


def _refusal(exc: Exception) -> Response:
    if isinstance(exc, ApiError):
        return Response(exc.code, exc.status())
    if isinstance(exc, limits.FramingError):
        return Response(exc.code, text=f"{exc.code} {HTTPStatus(exc.code).phrase}: {exc.message}")
    return Response(400, ApiError(400, "BadRequest", f"bad request body: {exc}").status())


class ApiServer:
    """The emulated API server: a store, the REST API over it, and an HTTP listener.

    `ApiServer(port=0)` picks a free port. `start()` serves from a daemon thread, `stop()` ends open
    watches and closes the socket. `history` is how many changes watches can resume from (older
    resourceVersions get 410 Expired); `bookmark_interval` is how often a quiet watch that asked
    for bookmarks gets one; `faults` injects errors and cut connections (`canary.sandbox.faults`);
    `bounds` are the HTTP limits (body size, read timeout, connections; see canary.sandbox.limits).
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        crd_paths: Iterable[str | Path] = (),
        history: int = 10_000,
        bookmark_interval: float = 60.0,
        faults: FaultPlan | None = None,
        bounds: limits.Limits | None = None,
    ) -> None:
        self.store = Store(Registry(), history=history, bookmark_interval=bookmark_interval)
        self.limits = bounds or limits.Limits()
        self._httpd = _Server((host, port), self.limits)
        self.api = Api(self.store, f"{host}:{self.port}")
        if faults is not None:
            self.api.faults.set(faults)
        self._httpd.api = self.api
        self._thread: threading.Thread | None = None
        self.load_crds(crd_paths)

    @property
    def host(self) -> str:
        return str(self._httpd.server_address[0])

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def load_crds(self, paths: Iterable[str | Path]) -> list[str]:
        """Create (or replace) every CRD found in the YAML files and directories; their names."""
        names = []
        crd_type = self.store.registry.find(
            "apiextensions.k8s.io", "v1", "customresourcedefinitions"
        )
        assert crd_type is not None
        opts = WriteOptions(manager="canary-sandbox")
        for doc in crds.load(paths):
            name = doc.get("metadata", {}).get("name", "")
            try:
                self.store.create(crd_type, "", doc, opts)
            except ApiError as exc:
                if exc.code != 409:
                    raise
                current = self.store.get(crd_type, "", name)
                doc = {**doc, "metadata": {**doc["metadata"], "resourceVersion": None}}
                self.store.update(
                    crd_type, "", name, {**doc, "status": current.get("status")}, opts
                )
            names.append(name)
        return names

    def start(self) -> ApiServer:
        self._thread = threading.Thread(
            target=self.serve_forever, name="sandbox-apiserver", daemon=True
        )
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self._httpd.serve_forever(poll_interval=0.05)

    def stop(self) -> None:
        self.store.close()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._httpd.disconnect_all()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def kubeconfig(self, namespace: str = "default") -> dict[str, Any]:
        """A kubeconfig for this server (plain HTTP, a dummy token) for the client and kubectl."""
        name = "canary-sandbox"
        return {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": name, "cluster": {"server": self.url}}],
            "users": [{"name": name, "user": {"token": "sandbox"}}],
            "contexts": [
                {"name": name, "context": {"cluster": name, "user": name, "namespace": namespace}}
            ],
            "current-context": name,
            "preferences": {},
        }

    def write_kubeconfig(self, path: str | Path, namespace: str = "default") -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(
            yaml.safe_dump(self.kubeconfig(namespace), sort_keys=False), encoding="utf-8"
        )
        return path

    def __enter__(self) -> ApiServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
