"""The scenario format of `canary simulate`: traffic, how each side behaves over time, and events."""

from __future__ import annotations

import math
from pathlib import Path

from pydantic import Field, ValidationError, field_validator, model_validator

from canary.api.canary import WebhookType
from canary.api.common import Duration, Model, parse_duration
from canary.api.loading import InvalidObject, describe
from canary.api.safeyaml import YamlInputError, read_yaml
from canary.engine.types import RequestKind

MAX_DURATION_SECONDS = 7 * 24 * 3600
"""Longest simulated time (7 days): a simulation runs in wall time proportional to it."""
MAX_RPS = 1_000_000.0
"""Most requests per second in a scenario."""

Z99 = 2.3263478740408408
"""The standard normal 99th percentile: turns a p50/p99 pair into a log-normal's sigma."""


class Latency(Model):
    """Response time as a log-normal distribution given by its median and 99th percentile."""

    p50: float = Field(gt=0, description="Median in milliseconds.")
    p99: float = Field(gt=0, description="99th percentile in milliseconds.")

    @model_validator(mode="after")
    def _ordered(self) -> Latency:
        if self.p99 < self.p50:
            raise ValueError(f"p99 ({self.p99}) is below p50 ({self.p50})")
        return self

    @property
    def mu(self) -> float:
        return math.log(self.p50)

    @property
    def sigma(self) -> float:
        return (math.log(self.p99) - math.log(self.p50)) / Z99


class Change(Model):
    """From `at` (after the new revision appears) on, the side behaves differently."""

    at: Duration
    error_rate: float | None = Field(None, ge=0, le=1)
    latency: Latency | None = None


class Overload(Model):
    """Errors that appear only under load: above `rps` requests per second, this error rate."""

    rps: float = Field(gt=0, le=MAX_RPS)
    error_rate: float = Field(ge=0, le=1)


class Side(Model):
    """How the primary or the canary behaves."""

    error_rate: float = Field(0.001, ge=0, le=1)
    latency: Latency = Field(default_factory=lambda: Latency(p50=40, p99=150))
    changes: list[Change] = Field(default_factory=list)
    overload: Overload | None = None
    ready_after: Duration = Field("10s", description="Time from scale-up or promotion to ready.")
    never_ready: bool = False
    flapping: Duration | None = Field(
        None, description="Once ready, alternate ready/not ready with this period."
    )

    def error_rate_at(self, seconds: float) -> float:
        rate = self.error_rate
        for change in self._changes_until(seconds):
            if change.error_rate is not None:
                rate = change.error_rate
        return rate

    def latency_at(self, seconds: float) -> Latency:
        latency = self.latency
        for change in self._changes_until(seconds):
            if change.latency is not None:
                latency = change.latency
        return latency

    def _changes_until(self, seconds: float) -> list[Change]:
        timed = sorted(self.changes, key=lambda c: parse_duration(c.at))
        return [c for c in timed if parse_duration(c.at) <= seconds]


class TrafficPoint(Model):
    """From `at` on, users send `rps` requests per second."""

    at: Duration = "0s"
    rps: float = Field(ge=0, le=MAX_RPS)


class GateOpening(Model):
    """A gate webhook that answers 2xx from `opensAt` on (never when unset)."""

    type: WebhookType
    opens_at: Duration | None = None


class RequestAt(Model):
    """An operator's manual request at a time."""

    at: Duration
    kind: RequestKind


class PrometheusModel(Model):
    """How the controller's Prometheus sees the traffic: scrapes, rate() windows, ingestion lag."""

    exact: bool = Field(
        False,
        description=(
            "Measure exact per-second counts instead (no scrapes, no rate() extrapolation, "
            "latency quantiles from exact samples): the simulator before the Prometheus model."
        ),
    )
    scrape_interval: Duration = Field(
        "15s",
        description=(
            "How often Prometheus scrapes each pod's sidecar; 15s is the global scrape_interval "
            "of Istio's sample Prometheus (samples/addons). Whole seconds."
        ),
    )
    phase: Duration | None = Field(
        None,
        description=(
            "When, within each scrape interval, every pod is scraped; unset draws one phase per "
            "pod from the seed, as Prometheus spreads its targets over the interval."
        ),
    )
    query_lag: Duration = Field(
        "1s",
        description=(
            "A query at time t sees only samples scraped at t minus this or earlier: a scrape "
            "is queryable once it has been ingested."
        ),
    )
    pods: int = Field(
        2,
        ge=1,
        le=100,
        description="Pods of each side, each its own series (the seed Deployment runs 2).",
    )

    @field_validator("scrape_interval")
    @classmethod
    def _whole_seconds(cls, value: str) -> str:
        seconds = parse_duration(value)
        if seconds < 1 or seconds != int(seconds) or seconds > 3600:
            raise ValueError("must be whole seconds, from 1s to 1h")
        return value

    @model_validator(mode="after")
    def _phase_within_interval(self) -> PrometheusModel:
        if self.phase is not None:
            phase = parse_duration(self.phase)
            if phase != int(phase) or phase >= parse_duration(self.scrape_interval):
                raise ValueError(
                    f"phase ({self.phase}) must be whole seconds below scrapeInterval "
                    f"({self.scrape_interval})"
                )
        if parse_duration(self.query_lag) > 3600:
            raise ValueError(f"queryLag ({self.query_lag}) must be at most 1h")
        return self

    @property
    def interval_seconds(self) -> int:
        return int(parse_duration(self.scrape_interval))

    @property
    def lag_seconds(self) -> float:
        return parse_duration(self.query_lag)


class Scenario(Model):
    """A synthetic world for one rollout. Times count from the moment the new revision appears."""

    name: str = "scenario"
    description: str = ""
    duration: Duration = Field("2h", description="Stop the simulation after this much time.")
    traffic: list[TrafficPoint] = Field(
        default_factory=lambda: [TrafficPoint(rps=50)], min_length=1
    )
    primary: Side = Field(default_factory=Side)
    canary: Side = Field(default_factory=Side)
    gates: list[GateOpening] = Field(default_factory=list)
    requests: list[RequestAt] = Field(default_factory=list)
    prometheus: PrometheusModel = Field(
        default_factory=PrometheusModel,
        description="How the metrics are observed; the Prometheus model unless `exact: true`.",
    )

    @field_validator("duration")
    @classmethod
    def _at_most_a_week(cls, value: str) -> str:
        if parse_duration(value) > MAX_DURATION_SECONDS:
            raise ValueError(f"must be at most {MAX_DURATION_SECONDS // 3600}h (7 days)")
        return value

    def rps_at(self, seconds: float) -> float:
        rate = 0.0
        for point in sorted(self.traffic, key=lambda p: parse_duration(p.at)):
            if parse_duration(point.at) <= seconds:
                rate = point.rps
        return rate


def load_scenario(path: Path) -> Scenario:
    """Reads a scenario file (one YAML document); InvalidObject names the field of any problem."""
    try:
        bodies = [body for body in read_yaml(path) if body is not None]
    except YamlInputError as error:
        raise InvalidObject(str(path), [f"(document): {error.reason}"]) from None
    if len(bodies) != 1:
        found = "no YAML document (the file is empty)" if not bodies else f"{len(bodies)} documents"
        raise InvalidObject(str(path), [f"(document): expected one scenario, found {found}"])
    try:
        return Scenario.model_validate(bodies[0])
    except ValidationError as error:
        raise InvalidObject(str(path), describe(error)) from error
