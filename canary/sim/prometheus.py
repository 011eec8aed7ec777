"""Prometheus as the controller sees it: scraped Istio counters, increase()/rate(), histogram_quantile().

Pure numpy, no I/O. Each side's pods export `istio_requests_total` (one series per pod and
response class: non-5xx, 5xx) and `istio_request_duration_milliseconds_bucket` (one series per pod
and `le`); Prometheus scrapes each pod every `scrape_interval` at the pod's own phase. A series
exists from the first scrape after its first request, so the counts before that scrape are never
seen by increase(), exactly as in a real Prometheus. The PromQL functions follow Prometheus 2.x
(`promql/functions.go` extrapolatedRate, `promql/quantile.go` bucketQuantile, as of v2.42, the
version the tests compare against): range selectors include both ends of `[t - range, t]`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

ISTIO_BUCKETS_MS: tuple[float, ...] = (
    *(0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000),
    *(300000, 600000, 1800000, 3600000),
)
"""Upper bounds of `istio_request_duration_milliseconds_bucket`, +Inf excluded: Envoy's default
histogram buckets (source/common/stats/histogram_impl.cc, HistogramSettingsImpl::defaultBuckets),
which Istio's stats filter uses unless a `sidecar.istio.io/statsHistogramBuckets` overrides them."""
BOUNDS: tuple[float, ...] = (*ISTIO_BUCKETS_MS, math.inf)
OK, FAILED = 0, 1
"""Columns of a pod's scrape: non-5xx and 5xx request counters, then the cumulative buckets."""
FIRST_BUCKET = 2
COLUMNS = FIRST_BUCKET + len(BOUNDS)
EXTRAPOLATION_THRESHOLD = 1.1
"""extrapolatedRate extrapolates to a range edge only when the gap is below 1.1 sample intervals."""
LOOKBACK_SECONDS = 300
"""An instant selector's lookback (Prometheus' --query.lookback-delta default, 5 min)."""


def extrapolated_increase(
    times: np.ndarray, values: np.ndarray, range_start: float, range_end: float
) -> np.ndarray | None:
    """increase() of counters sampled at `times` (seconds, shape (n,)), values shape (n, k).

    The samples must already be those inside [range_start, range_end]. Returns shape (k,), or None
    with fewer than two samples (Prometheus drops the series). Follows extrapolatedRate in
    Prometheus' promql/functions.go (v2.x): the raw increase corrects counter resets by adding the
    value before each drop; it is then extrapolated to each edge of the range when the gap to it is
    below 1.1x the average sample interval, else by half an interval; towards the start by no more
    than where the counter would have been zero.
    """
    if len(times) < 2:
        return None
    first, last = values[0].astype(np.float64), values[-1].astype(np.float64)
    result = last - first
    drops = np.diff(values, axis=0) < 0
    if drops.any():
        result = result + np.where(drops, values[:-1], 0).sum(axis=0)
    to_start = float(times[0] - range_start)
    to_end = float(range_end - times[-1])
    sampled = float(times[-1] - times[0])
    average = sampled / (len(times) - 1)
    threshold = average * EXTRAPOLATION_THRESHOLD
    with np.errstate(divide="ignore", invalid="ignore"):
        to_zero = np.where(result > 0, sampled * (first / result), math.inf)
    start_gap = np.where((result > 0) & (first >= 0) & (to_zero < to_start), to_zero, to_start)
    interval = sampled + np.where(start_gap < threshold, start_gap, average / 2)
    interval = interval + (to_end if to_end < threshold else average / 2)
    return np.asarray(result * (interval / sampled))


def bucket_quantile(q: float, bounds: Sequence[float], counts: Sequence[float]) -> float:
    """histogram_quantile(q) of cumulative bucket counts with these upper bounds (ascending).

    Prometheus' bucketQuantile (promql/quantile.go, v2.x): NaN without a +Inf bucket, with fewer
    than two buckets or no observations; counts are first made monotonic (floating-point sums can
    dip); a rank in the +Inf bucket answers the largest finite bound; in the lowest bucket the
    interpolation starts at 0 (or answers the bound itself when it is <= 0); elsewhere it is linear
    between the bucket's lower and upper bound. q = 0 over an empty lowest bucket divides 0 by 0:
    NaN, as in Prometheus.
    """
    if q < 0:
        return -math.inf
    if q > 1:
        return math.inf
    if not bounds or not math.isinf(bounds[-1]) or len(bounds) < 2:
        return math.nan
    monotonic = [float(c) for c in np.maximum.accumulate(np.asarray(counts, dtype=np.float64))]
    observations = monotonic[-1]
    if observations == 0 or math.isnan(observations):
        return math.nan
    rank = q * observations
    b = next((i for i in range(len(bounds) - 1) if monotonic[i] >= rank), len(bounds) - 1)
    if b == len(bounds) - 1:
        return float(bounds[-2])
    if b == 0 and bounds[0] <= 0:
        return float(bounds[0])
    start, end, count = 0.0, float(bounds[b]), monotonic[b]
    if b > 0:
        start = float(bounds[b - 1])
        count -= monotonic[b - 1]
        rank -= monotonic[b - 1]
    if count == 0:
        # Only at rank 0 in an empty lowest bucket: Go's 0/0, so Prometheus answers NaN.
        return math.nan
    return start + (end - start) * (rank / count)


def bucket_probabilities(mu: float, sigma: float) -> np.ndarray:
    """Chance that a log-normal(mu, sigma) latency in ms falls in each bucket (shape (len(BOUNDS),))."""
    cdf = [0.5 * math.erfc(-(math.log(b) - mu) / (sigma * math.sqrt(2))) for b in ISTIO_BUCKETS_MS]
    cumulative = np.array([*cdf, 1.0]) if sigma > 0 else _step(mu)
    return np.diff(np.concatenate(([0.0], cumulative)))


def _step(mu: float) -> np.ndarray:
    return np.array([*(1.0 if math.log(b) >= mu else 0.0 for b in ISTIO_BUCKETS_MS), 1.0])


@dataclass
class Pod:
    """One pod's scrapes: times in seconds and, per scrape, the cumulative value of each column."""

    phase: int
    count: int = 0
    _times: np.ndarray = field(default_factory=lambda: np.zeros(64, dtype=np.float64))
    _rows: np.ndarray = field(default_factory=lambda: np.zeros((64, COLUMNS), dtype=np.int64))
    totals: np.ndarray = field(default_factory=lambda: np.zeros(COLUMNS, dtype=np.int64))
    births: np.ndarray = field(default_factory=lambda: np.full(COLUMNS, -1, dtype=np.int64))
    """Index of the scrape at which each column's series first exists (-1: not yet)."""

    @property
    def times(self) -> np.ndarray:
        return self._times[: self.count]

    @property
    def rows(self) -> np.ndarray:
        return self._rows[: self.count]

    def append(self, times: np.ndarray, rows: np.ndarray) -> None:
        """Records scrapes; a column's series is born at its first scrape with a count, every
        bucket series with the first request (Envoy exports the whole histogram at once)."""
        n = len(times)
        if n == 0:
            return
        if self.count + n > len(self._times):
            size = max(2 * len(self._times), self.count + n)
            self._times = np.resize(self._times, size)
            self._rows = np.resize(self._rows, (size, COLUMNS))
        self._times[self.count : self.count + n] = times
        self._rows[self.count : self.count + n] = rows
        unborn = self.births < 0
        if unborn.any():
            seen = rows[:, [OK, FAILED, *([COLUMNS - 1] * (COLUMNS - FIRST_BUCKET))]] > 0
            first = np.where(seen.any(axis=0), seen.argmax(axis=0) + self.count, -1)
            self.births = np.where(unborn, first, self.births)
        self.count += n


@dataclass
class SideSeries:
    """The scraped series of one side's pods; `extend` feeds it each simulated second's traffic."""

    pods: list[Pod]
    scrape_interval: int
    rng: np.random.Generator
    start: int = 0
    """The first second not yet generated (negative while warming up the primary)."""

    def extend(
        self,
        requests: np.ndarray,
        failures: np.ndarray,
        latency: Sequence[tuple[float, float]],
    ) -> None:
        """Adds seconds start, start+1, ... with these requests, 5xx and (mu, sigma) of latency.

        Requests go to the pods independently and uniformly (a multinomial split per second), as
        round-robin or least-request balancing does on average; each request's latency bucket is
        drawn from the side's log-normal of that second.
        """
        n = len(requests)
        if n == 0:
            return
        pods = len(self.pods)
        even = np.full(pods, 1.0 / pods)
        ok = self.rng.multinomial(np.asarray(requests) - np.asarray(failures), even)
        failed = self.rng.multinomial(np.asarray(failures), even)
        pvals = _probabilities(latency)
        buckets = self.rng.multinomial(ok + failed, pvals[:, None, :])
        per_second = np.concatenate(
            (ok[:, :, None], failed[:, :, None], np.cumsum(buckets, axis=2)), axis=2
        )
        running = np.cumsum(per_second, axis=0)
        first, end = self.start + 1, self.start + n
        for index, pod in enumerate(self.pods):
            # A scrape at second s sees every request of the seconds before s.
            offset = (pod.phase - first) % self.scrape_interval
            scrapes = np.arange(first + offset, end + 1, self.scrape_interval)
            pod.append(scrapes, pod.totals + running[scrapes - first, index])
            pod.totals = pod.totals + running[-1, index]
        self.start = end

    def increase(
        self, columns: Sequence[int], range_start: float, range_end: float, visible_until: float
    ) -> list[float | None]:
        """sum(increase(...)) over the pods of each column's series at `range_end`; None for a
        column none of whose series has two samples in [range_start, min(range_end, visible_until)]."""
        cols = np.asarray(columns)
        totals = np.zeros(len(cols))
        present = np.zeros(len(cols), dtype=bool)
        for pod in self.pods:
            times = pod.times
            low = int(np.searchsorted(times, range_start, "left"))
            high = int(np.searchsorted(times, min(range_end, visible_until), "right"))
            if high - low < 2:
                continue
            born = pod.births[cols]
            lows = np.where(born < 0, high, np.maximum(born, low))
            groups = (lows[0],) if (lows == lows[0]).all() else np.unique(lows)
            for start in groups:
                if high - start < 2:
                    continue
                which = lows == start
                rows = pod.rows[start:high][:, cols[which]]
                values = extrapolated_increase(times[start:high], rows, range_start, range_end)
                assert values is not None
                totals[which] += values
                present[which] = True
        return [float(t) if p else None for t, p in zip(totals, present, strict=True)]

    def counted_since(
        self, columns: Sequence[int], range_start: float, range_end: float, visible_until: float
    ) -> list[float | None]:
        """promql.REQUESTS_SINCE's sum at `range_end` for each column; None when no series of it
        has a sample in [range_start, min(range_end, visible_until)].

        Per series: the latest sample in that range minus the latest at or before `range_start`
        within LOOKBACK_SECONDS (inclusive at both ends, as Prometheus 2.x's instant selector);
        the whole latest value when there is none (a series born since) or when it dropped below
        it (a counter reset: the count since the restart).
        """
        cols = np.asarray(columns)
        totals = np.zeros(len(cols))
        present = np.zeros(len(cols), dtype=bool)
        for pod in self.pods:
            times = pod.times
            low = int(np.searchsorted(times, range_start, "left"))
            high = int(np.searchsorted(times, min(range_end, visible_until), "right"))
            if high <= low:
                continue
            born = pod.births[cols]
            # A series has a latest sample in the range once it is born before `high`.
            has_last = (born >= 0) & (born < high)
            last = pod.rows[high - 1][cols].astype(np.float64)
            before = int(np.searchsorted(times, min(range_start, visible_until), "right")) - 1
            looked_back = before >= 0 and times[before] >= range_start - LOOKBACK_SECONDS
            has_start = (born >= 0) & (born <= before) & looked_back
            first = pod.rows[max(before, 0)][cols].astype(np.float64)
            difference = last - first
            value = np.where(has_start & (difference >= 0), difference, last)
            totals += np.where(has_last, value, 0.0)
            present |= has_last
        return [float(t) if p else None for t, p in zip(totals, present, strict=True)]


def _probabilities(latency: Sequence[tuple[float, float]]) -> np.ndarray:
    cache: dict[tuple[float, float], np.ndarray] = {}
    rows = []
    for key in latency:
        if key not in cache:
            cache[key] = bucket_probabilities(*key)
        rows.append(cache[key])
    return np.vstack(rows)
