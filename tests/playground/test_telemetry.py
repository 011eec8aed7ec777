"""Istio metrics from the mesh's logs: labels, counts equal to the logs, Prometheus vs embedded."""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from canary.metrics import promql
from canary.metrics.prometheus import PrometheusProvider
from canary.playground.embedded import EmbeddedProvider, histogram_quantile
from canary.playground.loadgen import LoadGenerator
from canary.playground.mesh import Mesh
from canary.playground.telemetry import (
    ENVOY_BUCKETS_MS,
    LABELS,
    Request,
    Telemetry,
    labels_of,
    prometheus_binary,
    start_prometheus,
)
from canary.protocols import MetricProviderError
from canary.sandbox import testing
from tests.playground.conftest_mesh import apply_istio, podinfo, weighted

JSON = dict[str, Any]

LINE: JSON = {
    "start_time": "1796070940.220",
    "authority": "podinfo",
    "duration_ms": 12,
    "mirror": None,
    "response_code": 503,
    "response_flags": "-",
    "upstream_cluster": "outbound|9898||podinfo-canary|test",
    "upstream_host": "127.0.0.1:18002",
    "upstream_workload": "podinfo;test;podinfo;v2;Kubernetes",
    "user_agent": "canary-loadgen/1",
}


def test_labels_are_istios_for_the_destination_reporter() -> None:
    labels = labels_of(LINE, "destination")
    assert labels is not None
    assert tuple(labels) == LABELS
    assert {k: labels[k] for k in (
        "reporter", "destination_workload", "destination_workload_namespace", "response_code",
        "destination_service", "destination_service_name", "destination_service_namespace",
        "destination_version", "source_workload", "response_flags", "request_protocol",
    )} == {
        "reporter": "destination", "destination_workload": "podinfo",
        "destination_workload_namespace": "test", "response_code": "503",
        "destination_service": "podinfo-canary.test.svc.cluster.local",
        "destination_service_name": "podinfo-canary", "destination_service_namespace": "test",
        "destination_version": "v2", "source_workload": "loadgen", "response_flags": "-",
        "request_protocol": "http",
    }  # fmt: skip
    # An attempt that reached no pod was seen by no server sidecar.
    assert labels_of({**LINE, "upstream_host": None, "response_flags": "UH"}, "destination") is None
    assert labels_of({**LINE, "upstream_host": None}, "source") is not None


def test_partial_lines_wait_for_their_end(tmp_path: Path) -> None:
    log = tmp_path / "upstream.log"
    text = json.dumps(LINE) + "\n"
    log.write_text(text + text[:20])
    telemetry = Telemetry(log)
    assert telemetry.poll() == 1
    with log.open("a") as file:
        file.write(text[20:] + "not json\n")
    assert telemetry.poll() == 1
    assert telemetry.bad_lines == 1
    sample = telemetry.registry.get_sample_value(
        "istio_requests_total", labels_of(LINE, "destination")
    )
    assert sample == 2


def test_embedded_provider_answers_built_ins_and_refuses_the_rest() -> None:
    now = 1_000_000.0
    requests = [Request(now - 10 + i * 0.1, "destination", "podinfo", "test", 500 if i % 5 == 0 else 200, float(i)) for i in range(50)]  # fmt: skip
    requests.append(Request(now - 5, "destination", "other", "test", 500, 1.0))
    requests.append(Request(now - 120, "destination", "podinfo", "test", 500, 1.0))  # outside

    class Source:
        def requests(self, since: float = 0.0) -> list[Request]:
            return [r for r in requests if r.time > since]

    provider = EmbeddedProvider(Source())
    at = datetime.fromtimestamp(now, UTC)
    variables = {"namespace": "test", "target": "podinfo", "interval": "1m"}

    def ask(template: str) -> float | None:
        return provider.query(promql.render(template, variables), at)

    assert ask(promql.SUCCESS_RATE) == pytest.approx(80.0)
    assert ask(promql.REQUESTS) == 50
    assert ask(promql.FAILURES) == 10
    assert ask(promql.REQUEST_DURATION) == histogram_quantile(0.99, [float(i) for i in range(50)])
    variables["target"] = "nobody"
    assert ask(promql.SUCCESS_RATE) is None
    with pytest.raises(MetricProviderError, match="built-in"):
        provider.query('sum(rate(istio_requests_total{reporter="source"}[1m]))', at)
    with pytest.raises(MetricProviderError, match="built-in"):
        provider.query(promql.render(promql.SUCCESS_RATE, variables) + " > 1", at)


@pytest.mark.parametrize(
    ("durations", "q", "expected"),
    [
        ([3.0] * 100, 0.99, 1 + 4 * 0.99),  # inside (1, 5]
        ([0.2] * 10, 0.5, 0.25),  # first bucket interpolates from 0
        ([10**7] * 3, 0.99, ENVOY_BUCKETS_MS[-1]),  # +Inf: the last finite bound
        ([], 0.99, None),
    ],
)
def test_histogram_quantile_is_prometheus_interpolation(
    durations: list[float], q: float, expected: float | None
) -> None:
    assert histogram_quantile(q, durations) == (
        pytest.approx(expected) if expected is not None else None
    )


@pytest.fixture
def mesh(env: testing.Environment, tmp_path: Path) -> Iterator[tuple[Mesh, Telemetry]]:
    """70/30 primary/canary, the canary failing 1 in 5, with the telemetry tailing the logs."""
    with podinfo(env.api_client, tmp_path / "mesh") as (mesh, _, canary):
        canary.fail_every = 5
        apply_istio(
            env.api_client, "virtualservices", "VirtualService", "podinfo", weighted(70, 30)
        )
        testing.eventually(lambda: httpx.get(f"{mesh.url}/", headers={"host": "podinfo"}, timeout=5).status_code == 200)  # fmt: skip
        telemetry = Telemetry(mesh.upstream_log_path, access_log=mesh.access_log_path)
        telemetry.start()
        try:
            yield mesh, telemetry
        finally:
            telemetry.stop()


def run_traffic(mesh: Mesh, telemetry: Telemetry, seconds: float = 6.0) -> None:
    """60 req/s for `seconds` through Envoy, then everything logged is counted."""
    load = LoadGenerator(mesh.url, "podinfo", 60, duration=seconds)
    load.start()
    assert load.wait(timeout=30)
    assert all(r.error == "" for r in load.records)
    time.sleep(1.0)  # Envoy flushes its logs every 0.2 s
    telemetry.poll()


def log_counts(path: Path, *, all_lines: bool = False) -> Counter[tuple[str, str]]:
    """(workload, code) counts of a log; lines that reached no pod only when `all_lines`."""
    counts: Counter[tuple[str, str]] = Counter()
    for line in path.read_text().splitlines():
        entry = json.loads(line)
        if entry["upstream_host"] or all_lines:
            workload = (entry["upstream_workload"] or "unknown").split(";")[0]
            counts[workload, str(entry["response_code"])] += 1
    return counts


def metric_counts(telemetry: Telemetry, reporter: str) -> Counter[tuple[str, str]]:
    counts: Counter[tuple[str, str]] = Counter()
    for metric in telemetry.registry.collect():
        for sample in metric.samples:
            if sample.name == "istio_requests_total" and sample.labels["reporter"] == reporter:
                key = (sample.labels["destination_workload"], sample.labels["response_code"])
                counts[key] += int(sample.value)
    return counts


@pytest.mark.slow
def test_counts_equal_the_access_logs(mesh: tuple[Mesh, Telemetry]) -> None:
    envoy, telemetry = mesh
    run_traffic(envoy, telemetry)
    workdir = envoy.workdir
    destination = metric_counts(telemetry, "destination")
    assert destination == log_counts(workdir / "upstream.log")
    # The source reporter also counts what reached no pod (here the probe's 404 before routes).
    assert metric_counts(telemetry, "source") == log_counts(workdir / "access.log", all_lines=True)
    assert set(destination) == {("podinfo-primary", "200"), ("podinfo", "200"), ("podinfo", "500")}
    served = httpx.get(telemetry.metrics_url, timeout=5).text
    assert "istio_request_duration_milliseconds_bucket{" in served
    assert 'le="0.5"' in served
    assert 'le="3.6e+06"' in served


@pytest.mark.slow
@pytest.mark.prometheus
@pytest.mark.skipif(prometheus_binary() is None, reason="no prometheus on PATH")
def test_real_prometheus_and_the_embedded_provider_agree(
    mesh: tuple[Mesh, Telemetry], tmp_path: Path
) -> None:
    envoy, telemetry = mesh
    process, url = start_prometheus(tmp_path / "prometheus", [telemetry.metrics_address])
    try:
        real = PrometheusProvider(url)
        embedded = telemetry.provider()
        up = 'up{job="istio-mesh"} == 1'
        testing.eventually(lambda: real.query(up, datetime.now(UTC)), timeout=20, interval=0.2)
        # Warm-up, so that every series exists before the measured traffic; then a quiet gap
        # holding the window's start and at least one scrape after it. Prometheus's first sample
        # in the window then precedes all measured requests: its increase() misses none, and
        # its extrapolation scales every bucket alike, which leaves the quantile exact.
        run_traffic(envoy, telemetry, seconds=1.0)  # ends with 1 s without traffic
        quiet_from = time.time()
        time.sleep(2.5)
        run_traffic(envoy, telemetry)
        time.sleep(3)  # three more scrapes (1 s interval) of the final counts
        at = datetime.now(UTC)
        window = f"{int(at.timestamp() - quiet_from)}s"  # starts < 1 s into the quiet gap
        for workload in ("podinfo", "podinfo-primary"):
            variables = {"namespace": "test", "target": workload, "interval": window}
            for template, tolerance in (
                (promql.SUCCESS_RATE, {"abs": 0.01}),  # percentage points
                (promql.REQUEST_DURATION, {"rel": 0.001}),
                # Prometheus extrapolates increase() to the window's edges: about window /
                # sampled span (12 s / 11 s here), so its count runs ~9 % high.
                (promql.REQUESTS, {"rel": 0.25}),
            ):
                rendered = promql.render(template, variables)
                want = embedded.query(rendered, at)
                got = real.query(rendered, at)
                print(f"{workload} {template[:30]}... embedded={want} prometheus={got}")
                assert want is not None
                assert got is not None
                assert got == pytest.approx(want, **tolerance)
            # And straight from Envoy's upstream log, without the telemetry in between.
            start = at.timestamp() - int(window[:-1])
            codes = [
                int(e["response_code"])
                for e in map(json.loads, envoy.upstream_log_path.read_text().splitlines())
                if e["upstream_workload"].startswith(f"{workload};")
                and start < float(e["start_time"]) + e["duration_ms"] / 1000 <= at.timestamp()
            ]
            from_log = sum(c < 500 for c in codes) / len(codes) * 100
            success = real.query(promql.render(promql.SUCCESS_RATE, variables), at)
            assert success == pytest.approx(from_log, abs=3.0)
    finally:
        process.terminate()
        process.wait(10)
