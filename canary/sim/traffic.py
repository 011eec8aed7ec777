"""Synthetic traffic, one bucket per simulated second, and the metrics measured from it."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from canary.engine.types import Routes, TrafficSample
from canary.sim.scenario import Scenario, Side

LATENCY_SAMPLE_CAP = 4000
"""At most this many latency draws per quantile: enough for a stable p99, cheap to draw."""


@dataclass
class SideSeries:
    """Per-second counts and latency parameters for one side."""

    requests: list[int] = field(default_factory=list)
    failures: list[int] = field(default_factory=list)
    mu: list[float] = field(default_factory=list)
    sigma: list[float] = field(default_factory=list)


@dataclass
class Traffic:
    """Everything that happened, second by second, since the new revision appeared."""

    scenario: Scenario
    rng: np.random.Generator
    canary: SideSeries = field(default_factory=SideSeries)
    primary: SideSeries = field(default_factory=SideSeries)
    user_canary_requests: int = 0
    user_canary_failures: int = 0
    user_requests: int = 0

    @property
    def seconds(self) -> int:
        return len(self.primary.requests)

    def run_until(self, until: int, routes: Routes) -> None:
        """Generates the traffic of every second up to `until` under fixed routes."""
        start = self.seconds
        if until <= start:
            return
        times = np.arange(start, until, dtype=np.float64)
        rps = np.array([self.scenario.rps_at(t) for t in times])
        users = self.rng.poisson(rps)
        to_canary = self.rng.binomial(users, routes.canary / 100)
        to_primary = users - to_canary
        mirrored = self.rng.binomial(to_primary, routes.mirror / 100)
        canary_total = to_canary + mirrored
        canary_rate = self._error_rates(self.scenario.canary, times, canary_total)
        primary_rate = self._error_rates(self.scenario.primary, times, to_primary)
        user_canary_failures = self.rng.binomial(to_canary, canary_rate)
        mirror_failures = self.rng.binomial(mirrored, canary_rate)
        primary_failures = self.rng.binomial(to_primary, primary_rate)
        self._append(
            self.canary,
            self.scenario.canary,
            times,
            canary_total,
            user_canary_failures + mirror_failures,
        )
        self._append(self.primary, self.scenario.primary, times, to_primary, primary_failures)
        self.user_requests += int(users.sum())
        self.user_canary_requests += int(to_canary.sum())
        self.user_canary_failures += int(user_canary_failures.sum())

    @staticmethod
    def _error_rates(side: Side, times: np.ndarray, load: np.ndarray) -> np.ndarray:
        rates = np.array([side.error_rate_at(t) for t in times])
        if side.overload is not None:
            rates = np.where(
                load > side.overload.rps, np.maximum(rates, side.overload.error_rate), rates
            )
        return rates

    @staticmethod
    def _append(
        series: SideSeries,
        side: Side,
        times: np.ndarray,
        requests: np.ndarray,
        failures: np.ndarray,
    ) -> None:
        latencies = [side.latency_at(t) for t in times]
        series.requests.extend(int(n) for n in requests)
        series.failures.extend(int(n) for n in failures)
        series.mu.extend(lat.mu for lat in latencies)
        series.sigma.extend(lat.sigma for lat in latencies)

    def sample(self, since: int, until: int) -> TrafficSample:
        """Requests and failures of each side over [since, until)."""
        return TrafficSample(
            canary_requests=sum(self.canary.requests[since:until]),
            canary_failures=sum(self.canary.failures[since:until]),
            primary_requests=sum(self.primary.requests[since:until]),
            primary_failures=sum(self.primary.failures[since:until]),
        )


def success_rate(series: SideSeries, since: int, until: int) -> float | None:
    """Percent of requests that did not fail, as Istio's request-success-rate; None without requests."""
    requests = sum(series.requests[since:until])
    if requests == 0:
        return None
    return 100.0 * (1 - sum(series.failures[since:until]) / requests)


def latency_quantile(
    series: SideSeries, since: int, until: int, rng: np.random.Generator, quantile: float = 0.99
) -> float | None:
    """A quantile of response times in milliseconds, drawn from the per-second distributions."""
    counts = np.array(series.requests[since:until])
    total = int(counts.sum())
    if total == 0:
        return None
    if total > LATENCY_SAMPLE_CAP:
        counts = np.floor(counts * LATENCY_SAMPLE_CAP / total).astype(int)
    mu = np.repeat(np.array(series.mu[since:until]), counts)
    sigma = np.repeat(np.array(series.sigma[since:until]), counts)
    if mu.size == 0:
        return None
    return float(np.quantile(rng.lognormal(mu, sigma), quantile))
