"""Benchmark of the emulated API server: create, list and watch of 1,000 objects, sustained patches.

Run: `python -m bench.apiserver [--objects 1000] [--threads 4] [--seconds 5]`. The server runs in
its own process pinned to one core (when the machine has two), so the numbers are the emulator's
single-core capacity rather than a fight for the client's GIL.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

from kubernetes import client

NS = "bench"
CMS = f"/api/v1/namespaces/{NS}/configmaps"
MERGE = "application/merge-patch+json"


@contextmanager
def server_process() -> Iterator[str]:
    """The CLI's apiserver in a subprocess on CPU 0; yields its URL."""
    command = [sys.executable, "-m", "canary", "sandbox", "apiserver", "--no-istio", "--port", "0"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        if hasattr(os, "sched_setaffinity") and len(os.sched_getaffinity(0)) > 1:
            # Every thread of the server (affinity is per thread), then this process elsewhere.
            for task in os.listdir(f"/proc/{process.pid}/task"):
                os.sched_setaffinity(int(task), {0})
            os.sched_setaffinity(0, os.sched_getaffinity(0) - {0})
        yield line.split("url=")[1].split()[0]
    finally:
        process.terminate()
        process.wait(timeout=10)


class Conn:
    """A keep-alive HTTP/1.1 connection speaking JSON."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self._conn = http.client.HTTPConnection(
            parts.hostname or "127.0.0.1", parts.port, timeout=60
        )

    def call(
        self, method: str, path: str, body: Any = None, content_type: str = "application/json"
    ) -> Any:
        data = None if body is None else json.dumps(body).encode()
        headers = {"Content-Type": content_type} if data is not None else {}
        self._conn.request(method, path, body=data, headers=headers)
        response = self._conn.getresponse()
        payload = response.read()
        if response.status >= 300:
            raise RuntimeError(f"{method} {path}: {response.status} {payload[:200]!r}")
        return json.loads(payload)

    def stream(self, path: str) -> Iterator[bytes]:
        self._conn.request("GET", path)
        response = self._conn.getresponse()
        while line := response.readline():
            yield line


def timed(fn: Callable[[], int]) -> tuple[int, float]:
    start = time.perf_counter()
    count = fn()
    return count, time.perf_counter() - start


def bench_create_list_watch(url: str, objects: int) -> list[tuple[str, int, float]]:
    conn = Conn(url)
    conn.call("POST", "/api/v1/namespaces", {"metadata": {"name": NS}})
    start_rv = conn.call("GET", CMS)["metadata"]["resourceVersion"]
    received: list[int] = []
    done_at: list[float] = []

    def watcher() -> None:
        path = f"{CMS}?watch=true&resourceVersion={start_rv}&timeoutSeconds=120"
        for line in Conn(url).stream(path):
            received.append(len(line))
            if len(received) == objects:
                done_at.append(time.perf_counter())
                return

    watching = threading.Thread(target=watcher)
    watching.start()
    body = {"metadata": {"name": "", "labels": {"app": "bench"}}, "data": {"k": "v" * 64}}

    def create() -> int:
        for i in range(objects):
            body["metadata"]["name"] = f"cm-{i:05d}"
            conn.call("POST", CMS, body)
        return objects

    started = time.perf_counter()
    rows = [("create (1 client)", *timed(create))]
    watching.join()
    rows.append(("watch: ADDED events, first create to last event", objects, done_at[0] - started))
    rows.append(
        ("list (one request, all objects)", *timed(lambda: len(conn.call("GET", CMS)["items"])))
    )
    rows.append(
        (
            "list with labelSelector",
            *timed(lambda: len(conn.call("GET", f"{CMS}?labelSelector=app%3Dbench")["items"])),
        )
    )

    def replay() -> int:
        count = 0
        for _ in Conn(url).stream(f"{CMS}?watch=true&resourceVersion={start_rv}&timeoutSeconds=1"):
            count += 1
            if count == objects:
                break
        return count

    rows.append(("watch: replay history from an RV", *timed(replay)))
    return rows


def bench_patches(url: str, threads: int, seconds: float) -> tuple[str, int, float]:
    deadline = time.perf_counter() + seconds
    counts = [0] * threads

    def patcher(i: int) -> None:
        conn = Conn(url)
        n = 0
        while time.perf_counter() < deadline:
            conn.call(
                "PATCH", f"{CMS}/cm-{(i * 97 + n) % 1000:05d}", {"data": {"n": str(n)}}, MERGE
            )
            n += 1
        counts[i] = n

    workers = [threading.Thread(target=patcher, args=(i,)) for i in range(threads)]
    start = time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return (f"merge patches ({threads} threads)", sum(counts), time.perf_counter() - start)


def bench_official_client(url: str, threads: int, seconds: float) -> tuple[str, int, float]:
    api_client = client.ApiClient(client.Configuration(host=url))
    deadline = time.perf_counter() + seconds
    counts = [0] * threads

    def patcher(i: int) -> None:
        core = client.CoreV1Api(api_client)
        n = 0
        while time.perf_counter() < deadline:
            core.patch_namespaced_config_map(f"cm-{(i * 97 + n) % 1000:05d}", NS,
                                             {"data": {"m": str(n)}}, _content_type=MERGE)  # fmt: skip
            n += 1
        counts[i] = n

    workers = [threading.Thread(target=patcher, args=(i,)) for i in range(threads)]
    start = time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    label = f"merge patches (official client, {threads} thread{'s' if threads > 1 else ''})"
    return (label, sum(counts), time.perf_counter() - start)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args(argv)
    with server_process() as url:
        rows = bench_create_list_watch(url, args.objects)
        rows.append(bench_patches(url, args.threads, args.seconds))
        rows.append(bench_official_client(url, 1, args.seconds))
        rows.append(bench_official_client(url, args.threads, args.seconds))
    print(f"| {'operation':<48} | {'count':>6} | {'seconds':>8} | {'per second':>10} |")
    print(f"|{'-' * 50}|{'-' * 7}:|{'-' * 9}:|{'-' * 11}:|")
    for name, count, seconds in rows:
        print(f"| {name:<48} | {count:>6} | {seconds:>8.3f} | {count / seconds:>10.0f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
