"""How the simulated controller measures the traffic: exactly, or through a modelled Prometheus."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Protocol

import numpy as np

from canary.api.canary import Metric
from canary.api.common import parse_duration
from canary.engine.types import TrafficSample
from canary.metrics.evaluate import Readings
from canary.metrics.results import NO_SERIES, Reading, Series, from_number
from canary.protocols import Sample
from canary.sim import prometheus
from canary.sim.prometheus import BOUNDS, COLUMNS, FAILED, FIRST_BUCKET, OK, Pod, SideSeries
from canary.sim.scenario import PrometheusModel, Scenario
from canary.sim.traffic import SideSeries as ExactSeries
from canary.sim.traffic import Traffic, latency_quantile, success_rate

JUDGE_BUCKET_SECONDS = 10
"""The exact observer's judge samples: one per 10 s (it predates the use of `judge.step`)."""
NO_TEMPLATES = "the simulator computes only the built-in metrics"
WARMUP_SECONDS = 900
"""Primary traffic generated before the new revision appears: its pods are long-lived, so their
series exist and have history when the first window opens."""
QUANTILE = 0.99
REQUEST_COLUMNS = (OK, FAILED)
BUCKET_COLUMNS = tuple(range(FIRST_BUCKET, COLUMNS))
Measure = Callable[[ExactSeries, int, int], float | None]


class Observer(Protocol):
    """What the simulated controller reads: built-in metrics and the sequential test's sample."""

    def metric(self, metric: Metric, now: int) -> Readings:
        """The metric over its `interval` ending at `now` (seconds), with judge samples if any."""
        ...

    def traffic(self, since: int, until: int, *, cumulative: bool = True) -> TrafficSample:
        """Requests and 5xx of each side from `since` to `until` (seconds; `until` is now). Exact:
        the counts of the seconds in [since, until). `cumulative`: the sequential test's read
        since its start (the controller's *_SINCE queries); else an analysis interval's sample
        (REQUESTS and FAILURES, increase()), as MetricAnalyzer.traffic reads without `since`."""
        ...


def observer(scenario: Scenario, traffic: Traffic, seed: int) -> Observer:
    """The scenario's observer over `traffic`; the Prometheus model unless `prometheus.exact`."""
    if scenario.prometheus.exact:
        return ExactObserver(traffic)
    # Its own stream: the model's draws (pods, buckets) never shift the world's traffic draws.
    rng = np.random.default_rng([seed, 0x50524F4D])
    return PrometheusObserver(scenario, traffic, rng)


def builtin(metric: Metric) -> bool:
    return metric.template_ref is None and metric.name in (
        "request-success-rate",
        "request-duration",
    )


class ExactObserver:
    """Exact per-second counts over [now - interval, now); p99 from up to 4,000 log-normal draws."""

    def __init__(self, traffic: Traffic) -> None:
        self._traffic = traffic

    def metric(self, metric: Metric, now: int) -> Readings:
        if not builtin(metric):
            return Readings(canary=Reading(None, NO_TEMPLATES))
        since = max(0, now - int(parse_duration(metric.interval)))
        rng = self._traffic.rng
        if metric.name == "request-success-rate":
            measure: Measure = lambda s, a, b: success_rate(s, a, b)  # noqa: E731
        else:
            measure = lambda s, a, b: latency_quantile(s, a, b, rng)  # noqa: E731
        return self._measured(metric, since, now, measure)

    def _measured(self, metric: Metric, since: int, now: int, value: Measure) -> Readings:
        buckets = range(since, now, JUDGE_BUCKET_SECONDS)

        def reading(series: ExactSeries) -> Reading:
            measured = value(series, since, now)
            return Reading(measured, "" if measured is not None else "no requests in the window")

        def samples(series: ExactSeries) -> Series:
            points = ((b, value(series, b, min(b + JUDGE_BUCKET_SECONDS, now))) for b in buckets)
            return Series(tuple(Sample(float(t), v) for t, v in points if v is not None))

        # Only the judge reads samples; drawing them for every metric made short intervals slow.
        judged = metric.judge is not None
        traffic = self._traffic
        return Readings(
            canary=reading(traffic.canary),
            primary=reading(traffic.primary),
            canary_series=samples(traffic.canary) if judged else None,
            primary_series=samples(traffic.primary) if judged else None,
        )

    def traffic(self, since: int, until: int, *, cumulative: bool = True) -> TrafficSample:
        return self._traffic.sample(since, until)


class PrometheusObserver:
    """The queries of canary/metrics/promql.py answered by the model of canary/sim/prometheus.py.

    A query at `now` sees the samples scraped at `now - queryLag` or earlier; its range still ends
    at `now`, so the missing scrape widens the gap Prometheus extrapolates over.
    """

    def __init__(self, scenario: Scenario, traffic: Traffic, rng: np.random.Generator) -> None:
        self._traffic = traffic
        self._settings = settings = scenario.prometheus
        self._lag = settings.lag_seconds
        self._rng = rng
        self.canary = self._side(settings, start=0)
        self.primary = self._side(settings, start=-WARMUP_SECONDS)
        self._warm_up(scenario)

    def _side(self, settings: PrometheusModel, start: int) -> SideSeries:
        interval = settings.interval_seconds
        pods = []
        for _ in range(settings.pods):
            phase = (
                int(parse_duration(settings.phase))
                if settings.phase is not None
                else int(self._rng.integers(interval))
            )
            pods.append(Pod(phase=phase))
        return SideSeries(pods, interval, self._rng, start=start)

    def _warm_up(self, scenario: Scenario) -> None:
        side = scenario.primary
        requests = self._rng.poisson(scenario.rps_at(0), WARMUP_SECONDS)
        failures = self._rng.binomial(requests, side.error_rate_at(0))
        latency = side.latency_at(0)
        self.primary.extend(requests, failures, [(latency.mu, latency.sigma)] * WARMUP_SECONDS)

    def _sync(self) -> None:
        """Feeds the model every second the world has generated since the last query."""
        for model, exact in (
            (self.canary, self._traffic.canary),
            (self.primary, self._traffic.primary),
        ):
            start, end = max(model.start, 0), self._traffic.seconds
            if end > start:
                model.extend(
                    np.asarray(exact.requests[start:end]),
                    np.asarray(exact.failures[start:end]),
                    list(zip(exact.mu[start:end], exact.sigma[start:end], strict=True)),
                )

    def metric(self, metric: Metric, now: int) -> Readings:
        if not builtin(metric):
            return Readings(canary=Reading(None, NO_TEMPLATES))
        self._sync()
        query = success_rate_query if metric.name == "request-success-rate" else p99_query
        interval = parse_duration(metric.interval)
        visible = now - self._lag

        def series(side: SideSeries) -> Series:
            assert metric.judge is not None
            step = parse_duration(metric.judge.step)
            return query_range(query, side, now - interval, now, step, visible)

        judged = metric.judge is not None
        return Readings(
            canary=query(self.canary, now, interval, visible),
            primary=query(self.primary, now, interval, visible),
            canary_series=series(self.canary) if judged else None,
            primary_series=series(self.primary) if judged else None,
        )

    def traffic(self, since: int, until: int, *, cumulative: bool = True) -> TrafficSample:
        """REQUESTS_SINCE and FAILURES_SINCE over `until - since` at `until` (the counts since
        `since` at scrape resolution), or with `cumulative=False` REQUESTS and FAILURES
        (increase()); rounded as canary.metrics.analyzer.count() rounds them (no data counts 0)."""
        self._sync()
        if until <= since:
            return TrafficSample(0, 0, 0, 0)
        read = counts_since if cumulative else increases
        counts = []
        for side in (self.canary, self.primary):
            requests, failures = read(side, since, until, until - self._lag)
            counts += [_count(requests), _count(failures)]
        return TrafficSample(*counts)


Query = Callable[[SideSeries, float, float, float], Reading]
"""(side, evaluation time, range, latest visible scrape time) -> the query's value."""


def increases(
    side: SideSeries, since: float, until: float, visible: float
) -> tuple[float | None, float | None]:
    """sum(increase()) at `until` over [since, until] of all requests and of the 5xx ones."""
    ok, failed = side.increase(REQUEST_COLUMNS, since, until, visible)
    return _sum(ok, failed), failed


def counts_since(
    side: SideSeries, since: float, until: float, visible: float
) -> tuple[float | None, float | None]:
    """promql.REQUESTS_SINCE and FAILURES_SINCE at `until` with the range `until - since`: the
    sequential test's cumulative counts, exact at scrape resolution (a new series' first count
    included; see docs/internals/benchmarks.md, "Diagnosed one by one")."""
    ok, failed = side.counted_since(REQUEST_COLUMNS, since, until, visible)
    return _sum(ok, failed), failed


def success_rate_query(side: SideSeries, at: float, window: float, visible: float) -> Reading:
    """promql.SUCCESS_RATE: (sum(rate(non-5xx[window])) or vector(0)) / sum(rate(all[window])) * 100."""
    ok, failed = side.increase(REQUEST_COLUMNS, at - window, at, visible)
    total = _sum(ok, failed)
    if total is None:
        return Reading(None, NO_SERIES)
    good = 0.0 if ok is None else ok / window
    with np.errstate(divide="ignore", invalid="ignore"):
        value = float(np.float64(good) / np.float64(total / window)) * 100
    return from_number(value)


def p99_query(side: SideSeries, at: float, window: float, visible: float) -> Reading:
    """promql.REQUEST_DURATION: histogram_quantile(0.99, sum(rate(..._bucket[window])) by (le))."""
    buckets = side.increase(BUCKET_COLUMNS, at - window, at, visible)
    if buckets[-1] is None:
        return Reading(None, NO_SERIES)
    rates = [(b or 0.0) / window for b in buckets]
    return from_number(prometheus.bucket_quantile(QUANTILE, BOUNDS, rates))


def query_range(
    query: Query, side: SideSeries, start: float, end: float, step: float, visible: float
) -> Series:
    """query_range(start, end, step) with `[step]` ranges, as the analyzer asks for a judge:
    points without data are left out, NaN points kept (canary.metrics.results.range_series)."""
    samples, nans = [], 0
    count = math.floor((end - start) / step + 1e-9) + 1
    for k in range(count):
        at = start + k * step
        reading = query(side, at, step, visible)
        if reading.value is not None:
            samples.append(Sample(at, reading.value))
        elif reading.detail != NO_SERIES:
            samples.append(Sample(at, math.nan))
            nans += 1
    if not samples:
        return Series((), NO_SERIES)
    if nans == len(samples):
        return Series((), "every sample is NaN (series exist but no requests)")
    return Series(tuple(samples))


def _sum(a: float | None, b: float | None) -> float | None:
    if a is None:
        return b
    if b is None:
        return a
    return a + b


def _count(value: float | None) -> int:
    if value is None or not math.isfinite(value):
        return 0
    return round(value)
