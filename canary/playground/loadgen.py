"""Steady user traffic through the mesh, every request's outcome recorded on the client side.

API:
    load = LoadGenerator(mesh.url, "podinfo", rate_per_s=20, record_path=Path("requests.jsonl"),
                         duration=600, concurrency=32, timeout=5.0, path="/")
    load.start()     # sends in background threads; stops by itself after `duration` seconds
    load.stop()      # or earlier; waits for the requests in flight
    load.wait()      # blocks until the run ends
    load.records     # list[Outcome]: time, status, version, latency_ms, error, request_id

Pacing: request k is due at start + k / rate (a token bucket of depth 1: no bursts to catch up
after a stall; a slot more than a second late is dropped, not sent). Each due request goes to a
pool of `concurrency` threads; when all are busy the slot is recorded with the error
"skipped: concurrency limit" instead of queueing, so the offered rate stays honest. Requests carry
`Host: <host>`, `User-Agent: canary-loadgen/1` (the telemetry's `source_workload="loadgen"`) and
a fresh `x-request-id`. `status` is 0 when there was no HTTP response (then `error` says why).
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO

import httpx

USER_AGENT = "canary-loadgen/1"
SKIPPED = "skipped: concurrency limit"


@dataclass(frozen=True)
class Outcome:
    """One request as the client saw it."""

    time: float
    """When it was sent, Unix seconds."""
    status: int
    """HTTP status; 0 when no response arrived."""
    version: str
    """The response's `x-app-version` header ("" if none)."""
    latency_ms: float | None
    """Send to end of body, ms; None when not sent."""
    error: str
    request_id: str


class LoadGenerator:
    """Steady traffic at `rate_per_s` for at most `duration` seconds (see module docstring)."""

    def __init__(
        self,
        url: str,
        host: str,
        rate_per_s: float,
        *,
        record_path: Path | None = None,
        duration: float = 3600.0,
        concurrency: int = 32,
        timeout: float = 5.0,
        path: str = "/",
        headers: dict[str, str] | None = None,
    ) -> None:
        if rate_per_s <= 0:
            raise ValueError(f"rate_per_s must be > 0, got {rate_per_s}")
        if concurrency < 1:
            raise ValueError(f"concurrency must be >= 1, got {concurrency}")
        self.url = url.rstrip("/") + path
        self.host = host
        self.rate = rate_per_s
        self.duration = duration
        self.concurrency = concurrency
        self._headers = {"host": host, "user-agent": USER_AGENT, **(headers or {})}
        self._client = httpx.Client(
            timeout=timeout,
            limits=httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency),
        )
        self._pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="loadgen")
        self._slots = threading.BoundedSemaphore(concurrency)
        self._lock = threading.Lock()
        self._records: list[Outcome] = []
        self._record_file: IO[str] | None = record_path.open("a") if record_path else None
        self._stop = threading.Event()
        self._done = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def records(self) -> list[Outcome]:
        with self._lock:
            return list(self._records)

    @property
    def running(self) -> bool:
        return self._thread is not None and not self._done.is_set()

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("a LoadGenerator runs once; make a new one")
        self._thread = threading.Thread(target=self._run, name="loadgen", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """End the run early and wait for the requests in flight (also fine before start())."""
        self._stop.set()
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="loadgen", daemon=True)
            self._thread.start()  # sends nothing (stop is set) but releases the client and pool
        self.wait()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the run has ended and every request in flight is recorded."""
        return self._done.wait(timeout)

    def _run(self) -> None:
        start = time.monotonic()
        sent = 0
        try:
            while not self._stop.is_set():
                due = start + sent / self.rate
                if due - start >= self.duration:
                    break
                delay = due - time.monotonic()
                if delay > 0 and self._stop.wait(delay):
                    break
                sent += 1
                if time.monotonic() - due > 1.0:
                    continue  # stalled: drop the late slot rather than burst
                if not self._slots.acquire(blocking=False):
                    self._record(Outcome(time.time(), 0, "", None, SKIPPED, ""))
                    continue
                self._pool.submit(self._send)
        finally:
            self._pool.shutdown(wait=True)
            self._client.close()
            if self._record_file is not None:
                self._record_file.close()
            self._done.set()

    def _send(self) -> None:
        request_id = str(uuid.uuid4())
        sent_at = time.time()
        began = time.perf_counter()
        try:
            response = self._client.get(
                self.url, headers={**self._headers, "x-request-id": request_id}
            )
            outcome = Outcome(
                sent_at,
                response.status_code,
                response.headers.get("x-app-version", ""),
                (time.perf_counter() - began) * 1000,
                "",
                request_id,
            )
        except httpx.HTTPError as error:
            outcome = Outcome(
                sent_at,
                0,
                "",
                (time.perf_counter() - began) * 1000,
                f"{type(error).__name__}: {error}",
                request_id,
            )
        finally:
            self._slots.release()
        self._record(outcome)

    def _record(self, outcome: Outcome) -> None:
        with self._lock:
            self._records.append(outcome)
            if self._record_file is not None:
                self._record_file.write(json.dumps(asdict(outcome)) + "\n")
                self._record_file.flush()
