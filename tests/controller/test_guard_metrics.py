"""The controller's guard ticks against the emulator: only the guard metrics are queried, and a
breach rolls the canary back long before the analysis interval."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import pytest

from canary.metrics.analyzer import MetricAnalyzer
from canary.protocols import Sample
from tests.controller.kube_harness import FakeClock, Harness

pytestmark = pytest.mark.timeout(120)
V1 = "ghcr.io/stefanprodan/podinfo:6.0.1"
GUARDED = {
    "interval": "1m",
    "threshold": 2,
    "guardInterval": "5s",
    "sequential": {"enabled": False},
    "metrics": [
        {"name": "request-duration", "thresholdRange": {"max": 500}},
        {
            "name": "request-success-rate",
            "interval": "30s",
            "thresholdRange": {"min": 50},
            "guard": True,
        },
    ],
}


@dataclass
class FakePrometheus:
    """Answers the built-in queries: a p99 of 100 ms, a success rate of 99.9% (10% for the canary
    once `broken`), 100 requests; records which metric each query was for, and when."""

    broken: bool = False
    asked: list[tuple[datetime, str]] = field(default_factory=list)

    def query(self, query: str, at: datetime) -> float | None:
        canary = 'destination_workload="podinfo"' in query
        if "istio_request_duration" in query:
            self.asked.append((at, "request-duration"))
            return 100.0
        if 'response_code!~"5.*"' in query:
            self.asked.append((at, "request-success-rate"))
            return 10.0 if canary and self.broken else 99.9
        self.asked.append((at, "traffic"))
        return 100.0

    def query_range(self, query: str, start: datetime, end: datetime, step: float) -> list[Sample]:
        return []

    def metrics_asked(self, since: datetime) -> set[str]:
        """What was queried after `since`."""
        return {kind for at, kind in self.asked if at > since}


def test_a_guard_tick_queries_only_the_guard_metric_and_a_breach_rolls_back_at_once(
    harness: Harness,
) -> None:
    if not isinstance(harness.clock, FakeClock):
        pytest.skip("drives the guard's 5 s cadence on a fake clock")
    clock = harness.clock
    prometheus = FakePrometheus()
    harness.given_initialized(analysis=GUARDED)
    harness.reconciler.analyzer = MetricAnalyzer(prometheus)
    harness.update_target(V1)
    harness.run_until(lambda: harness.routes().canary == 25)
    first_step = clock.now

    # Given a healthy canary at its first step, when the guard looks every 5 s for 40 s,
    while (clock.now - first_step).total_seconds() < 40:
        harness.tick()
    # then it queried the guard metric at each look and nothing else, and changed no step.
    looks = {at for at, _ in prometheus.asked if at > first_step}
    assert len(looks) >= 6
    assert prometheus.metrics_asked(first_step) == {"request-success-rate"}
    assert harness.routes().canary == 25
    assert harness.phase() == "Progressing"
    assert harness.status().get("lastGuardAt") is not None

    # When the canary starts failing 90% of its requests,
    prometheus.broken = True
    broke = clock.now
    decided_at = clock.now
    for _ in range(5):
        decided_at = clock.now
        harness.tick()
        if harness.phase() == "Failed":
            break
    # then the next guard tick rolls it back, well before the 1 m analysis tick.
    assert harness.phase() == "Failed"
    assert (decided_at - broke).total_seconds() <= 5
    assert (decided_at - first_step).total_seconds() < 60
    assert prometheus.metrics_asked(first_step) == {"request-success-rate"}
    assert "guard check failed: request-success-rate" in harness.status()["message"]
    assert harness.routes().canary == 0
