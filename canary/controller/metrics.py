"""The controller's own Prometheus metrics (names documented in the README)."""

from __future__ import annotations

import contextlib
from datetime import datetime

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from canary import __version__
from canary.api.canary import Canary, Phase
from canary.engine.types import Decision

RUN_PHASES = frozenset(
    {
        Phase.WAITING,
        Phase.PROGRESSING,
        Phase.PAUSED,
        Phase.WAITING_PROMOTION,
        Phase.PROMOTING,
        Phase.FINALISING,
    }
)
SUCCESS_FROM = frozenset({Phase.PROMOTING, Phase.FINALISING})
FAILED = frozenset({Phase.FAILED, Phase.ABORTED})
DURATION_BUCKETS = (30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 14400)


def status_code(phase: Phase | None) -> int:
    """Flagger's `canary_status` encoding: 0 while a run is active, 2 when failed, 1 otherwise."""
    if phase in RUN_PHASES:
        return 0
    return 2 if phase in FAILED else 1


class ControllerMetrics:
    """Gauges and counters about every Canary, fed by each reconcile's decision."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.info = Gauge("canary_info", "Controller version.", ["version"], registry=r)
        self.info.labels(__version__).set(1)
        self.leader = Gauge(
            "canary_leader", "1 while this replica holds the leader lease.", registry=r
        )
        self.phase = Gauge(
            "canary_phase",
            "1 for the Canary's current phase, 0 for the others.",
            ["name", "namespace", "phase"],
            registry=r,
        )
        self.status = Gauge(
            "canary_status",
            "0 while a rollout runs, 1 when idle, 2 when failed (Flagger's encoding).",
            ["name", "namespace"],
            registry=r,
        )
        self.weight = Gauge(
            "canary_weight",
            "Traffic weight of a workload (the primary and the canary).",
            ["workload", "namespace"],
            registry=r,
        )
        self.mirror = Gauge(
            "canary_mirror_weight",
            "Percent of live traffic mirrored to the canary.",
            ["name", "namespace"],
            registry=r,
        )
        self.metric = Gauge(
            "canary_metric_analysis",
            "Last value of each analysis metric.",
            ["name", "namespace", "metric"],
            registry=r,
        )
        self.duration = Histogram(
            "canary_duration_seconds",
            "Time from the start of a rollout to its end.",
            ["name", "namespace"],
            buckets=DURATION_BUCKETS,
            registry=r,
        )
        self.successes = Counter(
            "canary_successes_total",
            "Rollouts that ended promoted.",
            ["name", "namespace", "deployment_strategy"],
            registry=r,
        )
        self.failures = Counter(
            "canary_failures_total",
            "Rollouts that ended rolled back or aborted.",
            ["name", "namespace", "deployment_strategy"],
            registry=r,
        )
        self.errors = Counter(
            "canary_reconcile_errors_total",
            "Reconciles that raised an error.",
            ["name", "namespace"],
            registry=r,
        )
        self.reconciles = Histogram(
            "canary_reconcile_duration_seconds", "Wall time of one reconcile.", registry=r
        )
        self._started: dict[tuple[str, str], datetime] = {}

    def observe(self, canary: Canary, decision: Decision, now: datetime) -> None:
        name, namespace = canary.metadata.name, canary.metadata.namespace
        before, status = canary.status.phase, decision.status
        for phase in Phase:
            self.phase.labels(name, namespace, phase.value).set(1 if status.phase == phase else 0)
        self.status.labels(name, namespace).set(status_code(status.phase))
        self.weight.labels(f"{canary.spec.target_ref.name}-primary", namespace).set(
            100 - status.canary_weight
        )
        self.weight.labels(canary.spec.target_ref.name, namespace).set(status.canary_weight)
        self.mirror.labels(name, namespace).set(status.mirror_weight)
        for metric in status.metrics:
            if metric.value is not None:
                self.metric.labels(name, namespace, metric.name).set(metric.value)
        self._count_transition(canary, before, status.phase, now)

    def _count_transition(
        self, canary: Canary, before: Phase | None, after: Phase | None, now: datetime
    ) -> None:
        key = (canary.metadata.name, canary.metadata.namespace)
        strategy = canary.spec.strategy.kind
        if after == Phase.PROGRESSING and before not in RUN_PHASES:
            self._started[key] = now
        ended = before != after and (
            (after == Phase.SUCCEEDED and before in SUCCESS_FROM) or after in FAILED
        )
        if not ended:
            return
        counter = self.successes if after == Phase.SUCCEEDED else self.failures
        counter.labels(*key, strategy).inc()
        started = self._started.pop(key, None)
        if started is not None:
            self.duration.labels(*key).observe((now - started).total_seconds())

    def reconcile_failed(self, namespace: str, name: str) -> None:
        self.errors.labels(name, namespace).inc()

    def forget(self, namespace: str, name: str) -> None:
        """Drop the series of a deleted Canary."""
        for phase in Phase:
            _remove(self.phase, name, namespace, phase.value)
        for gauge in (self.status, self.mirror):
            _remove(gauge, name, namespace)
        self._started.pop((name, namespace), None)


def _remove(gauge: Gauge, *labels: str) -> None:
    with contextlib.suppress(KeyError):
        gauge.remove(*labels)
