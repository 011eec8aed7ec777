"""The neutral message: one pure function from a Canary's transition to what every provider shows."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum

from canary.api.canary import Canary, MetricStatus
from canary.engine.types import Notify


class Transition(StrEnum):
    """The kinds of change a message is sent for (the engine's Notify.transition)."""

    INITIALIZED = "initialized"
    STARTED = "started"
    WAITING = "waiting"
    STEP = "step"
    PROMOTING = "promoting"
    SUCCEEDED = "succeeded"
    ROLLED_BACK = "rolledback"
    FAILED = "failed"
    ABORTED = "aborted"
    DEADLINE = "deadline"
    TEST = "test"


TITLES = {
    Transition.INITIALIZED: "Initialized",
    Transition.STARTED: "Rollout started",
    Transition.WAITING: "Waiting for approval",
    Transition.STEP: "Weight step",
    Transition.PROMOTING: "Promotion started",
    Transition.SUCCEEDED: "Rollout succeeded",
    Transition.ROLLED_BACK: "Rolled back",
    Transition.FAILED: "Failed",
    Transition.ABORTED: "Aborted",
    Transition.DEADLINE: "Progress deadline exceeded",
    Transition.TEST: "Test message",
}

SEVERITIES = ("info", "warn", "error")


@dataclass(frozen=True)
class FailingMetric:
    """The metric that failed the analysis: its value against its threshold, and the evidence."""

    name: str
    value: str
    threshold: str
    reason: str
    evidence: str


@dataclass(frozen=True)
class Message:
    """What happened and why, before any service's formatting.

    `facts` are ordered (label, value) pairs shown as fields; `extra` are the provider's and
    the Canary's own fields (environment, region, runbook link).
    """

    transition: Transition
    severity: str
    title: str
    text: str
    canary: str
    namespace: str
    cluster: str
    phase: str
    time: datetime
    revision: str
    facts: tuple[tuple[str, str], ...]
    failing_metric: FailingMetric | None = None
    blast_radius: tuple[int, int] | None = None
    """(requests the canary served, how many failed) over the run; set on a rollback."""
    extra: tuple[tuple[str, str], ...] = field(default_factory=tuple)

    @property
    def source(self) -> str:
        """The Canary's API path: the CloudEvents `source`."""
        return f"/apis/canary.dev/v1alpha1/namespaces/{self.namespace}/canaries/{self.canary}"

    @property
    def subject(self) -> str:
        return f"{self.namespace}/{self.canary}"

    def with_extra(self, extra: Mapping[str, str]) -> Message:
        """This message with more fields (the provider's and the alert's) appended."""
        merged = dict(self.extra)
        merged.update(extra)
        return replace(self, extra=tuple(merged.items()))

    def all_facts(self) -> tuple[tuple[str, str], ...]:
        """Every field shown: the facts, the blast radius, the failing metric, then the extras."""
        facts = list(self.facts)
        if self.blast_radius is not None:
            served, failed = self.blast_radius
            facts.append(("Blast radius", f"{failed} of {served} canary requests failed"))
        metric = self.failing_metric
        if metric is not None:
            facts.append(("Failing metric", f"{metric.name} = {metric.value} ({metric.threshold})"))
            if metric.evidence:
                facts.append(("Evidence", metric.evidence))
        facts.extend(self.extra)
        return tuple(facts)


def build_message(
    canary: Canary,
    event: Notify,
    *,
    cluster: str,
    now: datetime,
    images: tuple[str, str] = ("", ""),
) -> Message:
    """The message for one Notify of the engine; `canary.status` is the status just decided.

    images: (old, new) = the primary's and the target's first container image ("" when unknown).
    An unknown `event.transition` (an older engine) counts as a step for info and a rollback for
    error, so a message is never lost for want of a kind.
    """
    transition = _transition(event)
    status = canary.status
    old, new = images
    phase = str(status.phase) if status.phase else "Unknown"
    facts: list[tuple[str, str]] = [
        ("Canary", f"{canary.metadata.namespace}/{canary.metadata.name}"),
        ("Cluster", cluster or "unknown"),
        ("Phase", phase),
        ("Weight", f"canary {status.canary_weight}%, primary {100 - status.canary_weight}%"),
    ]
    steps = _step_count(canary)
    if steps:
        facts.append(("Step", f"{status.step} of {steps}"))
    if new:
        facts.append(("New image", new))
    if old and old != new:
        facts.append(("Old image", old))
    ended = transition in (
        Transition.ROLLED_BACK,
        Transition.FAILED,
        Transition.ABORTED,
        Transition.DEADLINE,
    )
    radius = status.blast_radius
    blast = (radius.requests, radius.failures) if ended and radius is not None else None
    if ended and blast is None:
        blast = (0, 0)
    return Message(
        transition=transition,
        severity=event.severity,
        title=f"{TITLES[transition]}: {canary.metadata.name}.{canary.metadata.namespace}",
        text=event.message,
        canary=canary.metadata.name,
        namespace=canary.metadata.namespace,
        cluster=cluster or "unknown",
        phase=phase,
        time=now,
        revision=status.last_applied_spec or "",
        facts=tuple(facts),
        failing_metric=_failing(status.metrics) if ended else None,
        blast_radius=blast,
    )


def _transition(event: Notify) -> Transition:
    try:
        return Transition(event.transition)
    except ValueError:
        return Transition.ROLLED_BACK if event.severity == "error" else Transition.STEP


def _step_count(canary: Canary) -> int:
    """The number of weight steps (canary) or iterations (blue/green, A/B) of a run."""
    strategy = canary.spec.strategy
    if strategy.blue_green is not None:
        return strategy.blue_green.iterations
    if strategy.ab_testing is not None:
        return strategy.ab_testing.iterations
    if strategy.canary is not None:
        return len(strategy.canary.ladder())
    return 0


def _failing(metrics: list[MetricStatus]) -> FailingMetric | None:
    for metric in metrics:
        if metric.verdict == "Fail":
            value = "no value" if metric.value is None else f"{metric.value:g}"
            evidence = ", ".join(f"{k}={v}" for k, v in sorted(metric.evidence.items()))
            return FailingMetric(
                metric.name, value, metric.threshold, metric.reason, evidence[:500]
            )
    return None


def sample_message(namespace: str, cluster: str, now: datetime) -> Message:
    """The message `canary notify test` sends: every kind of fact a real rollback shows."""
    return Message(
        transition=Transition.TEST,
        severity="info",
        title=f"{TITLES[Transition.TEST]}: sample.{namespace}",
        text="A test message from `canary notify test`: no rollout happened.",
        canary="sample",
        namespace=namespace,
        cluster=cluster or "unknown",
        phase="Progressing",
        time=now,
        revision="test",
        facts=(
            ("Canary", f"{namespace}/sample"),
            ("Cluster", cluster or "unknown"),
            ("Phase", "Progressing"),
            ("Weight", "canary 20%, primary 80%"),
            ("Step", "2 of 5"),
            ("New image", "registry.example/sample:1.1.0"),
            ("Old image", "registry.example/sample:1.0.0"),
        ),
        failing_metric=FailingMetric(
            "request-success-rate", "97.1", ">= 99", "97.1 < 99", "canaryRequests=412"
        ),
        blast_radius=(412, 12),
    )
