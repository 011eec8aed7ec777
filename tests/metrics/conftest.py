"""A real Prometheus for the session, with history backfilled by promtool before it starts."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from . import history


@dataclass(frozen=True)
class PrometheusServer:
    url: str
    data_dir: Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def binaries() -> tuple[str, str]:
    """prometheus and promtool from PATH; a skip (or, in CI, a failure) when missing."""
    found = {name: shutil.which(name) for name in ("prometheus", "promtool")}
    missing = [name for name, path in found.items() if path is None]
    if missing:
        reason = f"prometheus not installed: {', '.join(missing)} not on PATH (apt-get install prometheus)"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return str(found["prometheus"]), str(found["promtool"])


def backfill(promtool: str, workdir: Path) -> Path:
    """Blocks must exist before the server starts: it only picks up new blocks much later."""
    source = workdir / "history.om"
    source.write_text(history.openmetrics())
    data = workdir / "data"
    subprocess.run(
        [promtool, "tsdb", "create-blocks-from", "openmetrics", str(source), str(data)],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return data


def wait_ready(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"prometheus exited with {process.returncode}: {log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(f"{url}/-/ready", timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.05)
    pytest.fail(f"prometheus not ready after 20 s: {log.read_text()[-2000:]}")


@contextmanager
def serving(server_binary: str, data: Path, workdir: Path) -> Iterator[PrometheusServer]:
    """A real Prometheus on a free loopback port over the TSDB in `data`, stopped on exit."""
    config = workdir / "prometheus.yml"
    config.write_text("global:\n  scrape_interval: 1m\nscrape_configs: []\n")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = workdir / "prometheus.log"
    with log.open("wb") as log_file:
        process = subprocess.Popen(
            [
                server_binary,
                f"--config.file={config}",
                f"--storage.tsdb.path={data}",
                # Retention counts from the newest block; a short one would delete the history.
                "--storage.tsdb.retention.time=100y",
                f"--web.listen-address=127.0.0.1:{port}",
                "--log.level=warn",
            ],
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_ready(url, process, log)
        yield PrometheusServer(url=url, data_dir=data)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="session")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrometheusServer]:
    server_binary, promtool = binaries()
    workdir = tmp_path_factory.mktemp("prometheus")
    data = backfill(promtool, workdir)
    with serving(server_binary, data, workdir) as server:
        yield server
