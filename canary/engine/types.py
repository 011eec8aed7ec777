"""What the engine is told (observations) and what it answers (a decision: status and actions)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Literal

from canary.analysis.results import CheckResult
from canary.api.canary import CanaryStatus, WebhookType


@dataclass(frozen=True)
class Routes:
    """Weights of the route: primary + canary = 100; mirror is the percent copied to the canary.

    With `ab_testing`, requests matching the A/B rules go to the canary and the rest follow the
    weights.
    """

    primary: int = 100
    canary: int = 0
    mirror: int = 0
    ab_testing: bool = False

    def __post_init__(self) -> None:
        if self.primary + self.canary != 100 or min(self.primary, self.canary, self.mirror) < 0:
            raise ValueError(f"invalid weights {self.primary}/{self.canary} mirror {self.mirror}")
        if self.mirror > 100:
            raise ValueError(f"invalid mirror percent {self.mirror}")


ALL_PRIMARY = Routes()


@dataclass(frozen=True)
class Readiness:
    """Whether a Deployment's current generation is rolled out and available."""

    ready: bool
    reason: str = ""
    deadline_exceeded: bool = False
    """Kubernetes itself reported ProgressDeadlineExceeded."""


@dataclass(frozen=True)
class TrafficSample:
    """User requests served (and failed) by each side in one window: [Needs.traffic_since, end]
    as `traffic_window` gives it, or the last analysis interval when the engine gave no start."""

    canary_requests: int
    canary_failures: int
    primary_requests: int
    primary_failures: int


class RequestKind(StrEnum):
    """Manual requests from an operator (the CLI writes them; the controller passes them on)."""

    PROMOTE = "promote"
    """Take the next step now, without waiting for analysis."""
    PROMOTE_FULL = "promote-full"
    """Skip the remaining steps and promote now."""
    ABORT = "abort"
    PAUSE = "pause"
    RESUME = "resume"
    RETRY = "retry"
    """Roll out a failed or aborted revision again, without changing the Deployment."""


@dataclass(frozen=True)
class ManualRequest:
    """An operator's request; `id` lets the engine act on each request once.

    `kind` is None when the annotation names no known kind: the engine refuses it, and says so.
    """

    id: str
    kind: RequestKind | None


@dataclass(frozen=True)
class GateResult:
    """The answer of the webhooks of one type: passed only when every hook answered 2xx."""

    passed: bool
    message: str = ""


@dataclass(frozen=True)
class Observations:
    """Everything the engine may know about the world at `now`."""

    now: datetime
    revision: str
    """Hash of the target's pod template and of the tracked ConfigMaps and Secrets."""
    primary: Readiness
    canary: Readiness
    routes: Routes | None = None
    """Weights read back from the router; None before the routing exists."""
    analysis: Sequence[CheckResult] | None = None
    """This interval's check results; None when the analysis did not run."""
    guard: Sequence[CheckResult] | None = None
    """A guard tick's results of the metrics in `Needs.guard_metrics` (each as the analysis
    evaluates it, at `now`); None when they were not asked for or could not be read."""
    traffic: TrafficSample | None = None
    gates: Mapping[WebhookType, GateResult] = field(default_factory=dict)
    """Results of the webhooks that `needs()` asked for; a missing type has not answered."""
    request: ManualRequest | None = None
    deleting: bool = False
    tracked_configs: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Needs:
    """What the adapter must gather before calling decide()."""

    analysis: bool = False
    gates: frozenset[WebhookType] = frozenset()
    traffic_since: datetime | None = None
    """When set, Observations.traffic must be each side's requests and 5xx over
    `traffic_window(traffic_since, now)` (also on ticks without analysis: the guard's). The start
    is the run's first step, so every read covers the run so far; the engine takes what is new."""
    guard_metrics: frozenset[str] = frozenset()
    """On a guard tick (never with `analysis`): the names of the metrics marked `guard`, whose
    results go in Observations.guard. Only these are queried; the others wait for the analysis."""


def traffic_window(since: datetime, now: datetime) -> tuple[datetime, datetime]:
    """The window the traffic is read over: (since, since + the whole seconds up to `now`).

    PromQL ranges are whole seconds here, so the end is `since` plus floor(now - since); the
    engine stores that end as the next window's start, so windows are contiguous and never
    overlap. An empty window (under a second) has no traffic: the adapter answers zeros.
    """
    seconds = max(0, math.floor((now - since).total_seconds()))
    return since, since + timedelta(seconds=seconds)


# Actions. Each carries the reason in words; the adapter carries them out in order, and they are
# idempotent so that a decision can be carried out again after a crash.


@dataclass(frozen=True)
class Initialize:
    """Create or update the primary Deployment, the Services and the routing (all to primary)."""

    reason: str


@dataclass(frozen=True)
class SetRoutes:
    """Set the route weights and mirror (and the A/B route) on the router."""

    routes: Routes
    reason: str


@dataclass(frozen=True)
class ScaleCanary:
    """Scale the target (canary) Deployment up for a run, or to zero between runs."""

    up: bool
    reason: str


@dataclass(frozen=True)
class PromotePrimary:
    """Copy the target's pod template (and tracked configs) to the primary."""

    reason: str


@dataclass(frozen=True)
class RunWebhooks:
    """Fire-and-forget webhooks (post-rollout); gates are asked for through Needs instead."""

    type: WebhookType
    reason: str


@dataclass(frozen=True)
class Notify:
    """Send an alert to the Canary's alert providers."""

    severity: Literal["info", "warn", "error"]
    message: str
    reason: str = ""
    transition: str = ""
    """What happened, one word per kind of change (canary.notify.message.Transition)."""


@dataclass(frozen=True)
class RecordEvent:
    """Record a Kubernetes Event on the Canary."""

    type: Literal["Normal", "Warning"]
    reason: str
    message: str


@dataclass(frozen=True)
class Revert:
    """Restore the target Deployment and any taken-over objects as they were (revertOnDeletion)."""

    reason: str


Action = (
    Initialize
    | SetRoutes
    | ScaleCanary
    | PromotePrimary
    | RunWebhooks
    | Notify
    | RecordEvent
    | Revert
)


@dataclass(frozen=True)
class Decision:
    """The engine's answer: the next status, what to do, and when to look again."""

    status: CanaryStatus
    actions: list[Action]
    requeue_after: float
    """Seconds until the engine wants to be called again."""
