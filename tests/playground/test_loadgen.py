"""The load generator: steady rate, every request recorded, bounded run, honest overload."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from canary.playground.loadgen import SKIPPED, LoadGenerator
from tests.playground.conftest_mesh import Upstream


def test_steady_rate_every_outcome_recorded_and_it_stops_by_itself(tmp_path: Path) -> None:
    upstream = Upstream("v7", fail_every=4).start()
    try:
        record = tmp_path / "requests.jsonl"
        load = LoadGenerator(
            f"http://127.0.0.1:{upstream.port}", "podinfo", 40, record_path=record, duration=2.0
        )
        load.start()
        assert load.wait(timeout=15), "the run did not end by itself"
    finally:
        upstream.stop()
    records = load.records
    assert 70 <= len(records) <= 81  # 40/s for 2 s; late slots (a loaded machine) are dropped
    assert len(records) == len(upstream.seen)
    assert {r.status for r in records} == {200, 500}
    assert sum(r.status == 500 for r in records) == len(records) // 4
    assert all(r.version == "v7" and r.error == "" and r.latency_ms is not None for r in records)
    assert all(h["host"] == "podinfo" for h in upstream.seen)
    assert {h["x-request-id"] for h in upstream.seen} == {r.request_id for r in records}
    times = sorted(r.time for r in records)
    assert times[-1] - times[0] == pytest.approx(2.0, abs=0.3)
    lines = [json.loads(line) for line in record.read_text().splitlines()]
    assert sorted(line["request_id"] for line in lines) == sorted(r.request_id for r in records)


def test_overload_is_recorded_not_queued(tmp_path: Path) -> None:
    upstream = Upstream("v1", delay=0.5).start()
    try:
        load = LoadGenerator(
            f"http://127.0.0.1:{upstream.port}", "podinfo", 20, duration=1.0, concurrency=2
        )
        load.start()
        assert load.wait(timeout=15)
    finally:
        upstream.stop()
    records = load.records
    skipped = [r for r in records if r.error == SKIPPED]
    served = [r for r in records if r.status == 200]
    assert len(served) <= 6  # 2 in flight at a time, 0.5 s each, over ~1.5 s
    assert skipped
    assert all(r.status == 0 and r.latency_ms is None for r in skipped)
    assert len(skipped) + len(served) == len(records)


def test_an_unreachable_target_is_an_error_outcome() -> None:
    load = LoadGenerator("http://127.0.0.1:9", "podinfo", 10, duration=0.3, timeout=1.0)
    load.start()
    assert load.wait(timeout=15)
    assert load.records
    assert all(r.status == 0 and r.error.startswith("ConnectError") for r in load.records)


@pytest.mark.parametrize(("rate", "concurrency"), [(0, 1), (-1, 1), (1, 0)])
def test_bad_settings_are_refused(rate: float, concurrency: int) -> None:
    with pytest.raises(ValueError, match=r"rate_per_s|concurrency"):
        LoadGenerator("http://127.0.0.1:9", "x", rate, concurrency=concurrency)


def test_stop_before_start_returns_and_a_run_happens_once() -> None:
    load = LoadGenerator("http://127.0.0.1:9", "podinfo", 10)
    load.stop()
    assert load.records == []
    with pytest.raises(RuntimeError, match="runs once"):
        load.start()
