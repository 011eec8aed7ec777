"""The simulator and the controller's analyzer read the sequential test's traffic over the same
windows: contiguous, never overlapping, starting with the first step, and giving the same counts."""

from __future__ import annotations

import itertools
import re
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pytest

from canary.api.canary import Canary
from canary.api.common import parse_duration
from canary.engine.types import Needs, TrafficSample
from canary.metrics.analyzer import MetricAnalyzer
from canary.protocols import Sample
from canary.sim import simulator
from canary.sim.simulator import EPOCH, simulate
from canary.sim.traffic import Traffic
from tests.sim.test_guard_scenarios import canary, first_step, world

RANGE = re.compile(r"\[([0-9a-z]+)\]\)\)$")


class CounterHistory:
    """A MetricProvider answering `sum(increase(istio_requests_total{...}[N]))` at `at` from
    known per-second counts, as Prometheus would from counters scraped every second."""

    def __init__(self, traffic: Traffic) -> None:
        def cumulative(values: list[int]) -> np.ndarray:
            return np.concatenate(([0], np.cumsum(values)))

        self.counters = {
            ("my-app", False): cumulative(traffic.canary.requests),
            ("my-app", True): cumulative(traffic.canary.failures),
            ("my-app-primary", False): cumulative(traffic.primary.requests),
            ("my-app-primary", True): cumulative(traffic.primary.failures),
        }
        self.windows: list[tuple[int, int]] = []

    def query(self, query: str, at: datetime) -> float | None:
        workload = re.search(r'destination_workload="([^"]+)"', query)
        match = RANGE.search(query)
        assert workload is not None, query
        assert match is not None, query
        end = round((at - EPOCH).total_seconds())
        start = end - round(parse_duration(match.group(1)))
        self.windows.append((start, end))
        counter = self.counters[(workload.group(1), "5.*" in query)]
        return float(counter[end] - counter[start])

    def query_range(self, query: str, start: datetime, end: datetime, step: float) -> list[Sample]:
        raise AssertionError("the traffic sample is an instant query")


@pytest.mark.parametrize(
    ("guard", "seed"),
    [pytest.param("5s", 1, id="guard-5s"), pytest.param("12s", 2, id="guard-12s")],
)
def test_the_simulator_and_the_analyzer_read_the_same_windows(
    monkeypatch: pytest.MonkeyPatch, guard: str, seed: int
) -> None:
    # Given the simulator's rollout of a healthy canary, recording each tick's Needs and the
    # window the simulator sampled,
    asked: list[tuple[Canary, datetime, Needs]] = []
    sampled: list[tuple[int, int, TrafficSample]] = []
    worlds: list[Traffic] = []
    real_needs, real_sample = simulator.needs, Traffic.sample

    def needs(subject: Canary, revision: str, now: datetime, **kwargs: Any) -> Needs:
        wanted = real_needs(subject, revision, now, **kwargs)
        if wanted.traffic_since is not None:
            asked.append((subject, now, wanted))
        return wanted

    def sample(self: Traffic, since: int, until: int) -> TrafficSample:
        if self not in worlds:
            worlds.append(self)
        result = real_sample(self, since, until)
        sampled.append((since, until, result))
        return result

    monkeypatch.setattr(simulator, "needs", needs)
    monkeypatch.setattr(Traffic, "sample", sample)
    outcome = simulate(canary(guardInterval=guard), world(0.02, primary={"errorRate": 0.01}), seed)
    # when the controller's analyzer answers the same ticks from the same counters,
    provider = CounterHistory(worlds[0])
    analyzer = MetricAnalyzer(provider)
    read = [analyzer.traffic(c, now, since=wanted.traffic_since) for c, now, wanted in asked]
    # then both read the same windows and get the same counts,
    windows = sorted(set(provider.windows))
    assert windows == [(since, until) for since, until, _ in sampled]
    assert read == [result for _, _, result in sampled]
    # every read covers the run from its first step on (what is new in it feeds the test), and
    # successive reads end at most a guard interval apart.
    assert {since for since, _ in windows} == {first_step(outcome)}
    ends = [first_step(outcome), *(until for _, until in windows)]
    assert all(0 < b - a <= parse_duration(guard) for a, b in itertools.pairwise(ends))


def test_the_analyzer_reads_whole_seconds_and_an_empty_window_is_zero() -> None:
    since = EPOCH + timedelta(seconds=10)

    class Recording:
        def __init__(self) -> None:
            self.queries: list[tuple[str, datetime]] = []

        def query(self, query: str, at: datetime) -> float | None:
            self.queries.append((query, at))
            return 3.0

        def query_range(self, *_: object) -> list[Sample]:
            return []

    provider = Recording()
    subject = canary()
    traffic = MetricAnalyzer(provider).traffic(
        subject, since + timedelta(seconds=12, milliseconds=900), since=since
    )
    assert traffic == TrafficSample(3, 3, 3, 3)
    assert {at for _, at in provider.queries} == {since + timedelta(seconds=12)}
    assert all(q.endswith("[12s]))") for q, _ in provider.queries)
    empty = MetricAnalyzer(provider).traffic(
        subject, since + timedelta(milliseconds=900), since=since
    )
    assert empty == TrafficSample(0, 0, 0, 0)
    assert len(provider.queries) == 4  # no query for the empty window
