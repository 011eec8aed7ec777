"""One small Protocol per kind of adapter; a new provider is one new module that satisfies one."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from canary.analysis.results import CheckResult
from canary.api.canary import Canary, Webhook
from canary.engine.types import GateResult, Notify, Routes, TrafficSample


@dataclass(frozen=True)
class Sample:
    """One point of a metric's series."""

    time: float
    value: float


class MetricProvider(Protocol):
    """A metric back end (Prometheus first). Failures are raised as MetricProviderError."""

    def query(self, query: str, at: datetime) -> float | None:
        """The query's single value at `at`; None when there is no data."""
        ...

    def query_range(self, query: str, start: datetime, end: datetime, step: float) -> list[Sample]:
        """The query's samples over [start, end]; empty when there is no data."""
        ...


class MetricProviderError(Exception):
    """The provider could not answer (down, slow, refused, malformed answer)."""


@dataclass(frozen=True)
class AnalysisOutcome:
    """Every metric's result for one interval, and the traffic seen by each side in the window."""

    results: Sequence[CheckResult]
    traffic: TrafficSample | None


class Analyzer(Protocol):
    """Runs a Canary's analysis at a point in time."""

    def analyze(
        self, canary: Canary, at: datetime, *, traffic_since: datetime | None = None
    ) -> AnalysisOutcome:
        """Every metric at `at`; the traffic as `traffic(canary, at, since=traffic_since)`."""
        ...

    def traffic(
        self, canary: Canary, at: datetime, *, since: datetime | None = None
    ) -> TrafficSample | None:
        """Each side's requests and 5xx over `traffic_window(since, at)` (the engine's
        Needs.traffic_since), or over the analysis interval ending at `at` without `since`;
        None when the metrics server cannot tell."""
        ...

    def check_metrics(
        self, canary: Canary, at: datetime, names: frozenset[str]
    ) -> Sequence[CheckResult]:
        """The analysis' metrics named in `names` (a guard tick's Needs.guard_metrics) at `at`,
        each checked as analyze() checks it; the other metrics are not queried."""
        ...


class TrafficRouter(Protocol):
    """A mesh's routing for one Canary (Istio VirtualService first)."""

    def reconcile(self, canary: Canary) -> None:
        """Create or update the routing objects, leaving the live weights and mirror alone."""
        ...

    def get_routes(self, canary: Canary) -> Routes | None:
        """The live weights, read back from the mesh; None when the routing does not exist."""
        ...

    def set_routes(self, canary: Canary, routes: Routes) -> None:
        """Change only the weights and the mirror."""
        ...


class WebhookRunner(Protocol):
    """Calls a Canary's webhooks of one type."""

    def run(
        self, canary: Canary, hooks: Sequence[Webhook], payload: Mapping[str, object]
    ) -> GateResult: ...


class Notifier(Protocol):
    """Sends the engine's notifications to the Canary's alert providers (canary.notify)."""

    def notify(self, canary: Canary, event: Notify, images: tuple[str, str]) -> None:
        """Queue one message; `canary.status` is the status just written; images = (old, new).

        Must not block the reconcile nor raise: delivery happens elsewhere.
        """
        ...
