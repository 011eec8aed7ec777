"""Status bookkeeping shared by every decision: conditions, transition time and step history."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from canary.api.canary import HISTORY_LIMIT, CanaryStatus, HistoryEntry, Phase
from canary.api.common import Condition

PROMOTED = "Promoted"
ROLLING_OUT = "RollingOut"
"""True while a run is in progress; its reason is the phase and its message says why."""
METRICS_AVAILABLE = "MetricsAvailable"
"""False while a metric's template or query fails (reason MetricTemplateError/MetricQueryError)."""
ANALYSIS_STARTED = "AnalysisStarted"
"""True once this run's pre-rollout webhooks passed: they and the Started event are not repeated
while the run waits at weight 0 (for the canary's gate); absent outside a run."""

EVIDENCE_CONCLUSIVE = "EvidenceConclusive"
"""False (reason EvidenceTimeout) while a step holds because the sequential test did not conclude
within the evidence timeout (onEvidenceTimeout: hold); absent otherwise."""

_ACTIVE = {
    Phase.WAITING,
    Phase.PROGRESSING,
    Phase.PAUSED,
    Phase.WAITING_PROMOTION,
    Phase.PROMOTING,
    Phase.FINALISING,
}


def close_tick(previous: CanaryStatus, status: CanaryStatus, now: datetime, verdict: str) -> None:
    """Stamps the transition time, refreshes the conditions and appends a history entry."""
    if status.phase != previous.phase:
        status.last_transition_time = now
    if status.phase is None:
        return
    _set_condition(
        status, PROMOTED, _promoted(status.phase), status.phase.value, status.message, now
    )
    active: Literal["True", "False"] = "True" if status.phase in _ACTIVE else "False"
    if status.phase not in _ACTIVE:
        forget_analysis_started(status)
        forget_evidence_timeout(status)
    _set_condition(status, ROLLING_OUT, active, status.phase.value, status.message, now)
    _set_metrics_condition(status, now)
    if verdict:
        entry = HistoryEntry(
            time=now,
            phase=status.phase,
            canary_weight=status.canary_weight,
            mirror_weight=status.mirror_weight,
            verdict=verdict,
            reason=status.message,
        )
        status.history = [*status.history, entry][-HISTORY_LIMIT:]


def analysis_started(status: CanaryStatus) -> bool:
    """Whether this run's pre-rollout webhooks already passed."""
    return any(c.type == ANALYSIS_STARTED and c.status == "True" for c in status.conditions)


def mark_analysis_started(status: CanaryStatus, now: datetime) -> None:
    message = "the pre-rollout webhooks passed; the analysis started"
    _set_condition(status, ANALYSIS_STARTED, "True", "PreRolloutPassed", message, now)


def forget_analysis_started(status: CanaryStatus) -> None:
    """A new run (or the end of one) runs the pre-rollout webhooks again."""
    if any(c.type == ANALYSIS_STARTED for c in status.conditions):
        status.conditions = [c for c in status.conditions if c.type != ANALYSIS_STARTED]


def evidence_timeout_marked(status: CanaryStatus) -> bool:
    """Whether the current step already holds for want of evidence."""
    return any(c.type == EVIDENCE_CONCLUSIVE for c in status.conditions)


def mark_evidence_timeout(status: CanaryStatus, message: str, now: datetime) -> None:
    _set_condition(status, EVIDENCE_CONCLUSIVE, "False", "EvidenceTimeout", message, now)


def forget_evidence_timeout(status: CanaryStatus) -> None:
    """A new step (or the end of the run) ends the hold."""
    if evidence_timeout_marked(status):
        status.conditions = [c for c in status.conditions if c.type != EVIDENCE_CONCLUSIVE]


def _set_metrics_condition(status: CanaryStatus, now: datetime) -> None:
    if not status.metrics:
        return
    failing = [m for m in status.metrics if isinstance(m.evidence.get("error"), str)]
    if failing:
        message = "; ".join(f"{m.name}: {m.reason}" for m in failing)
        reason = str(failing[0].evidence["error"])
        _set_condition(status, METRICS_AVAILABLE, "False", reason, message, now)
    else:
        _set_condition(status, METRICS_AVAILABLE, "True", "Answered", "every metric answered", now)


def _promoted(phase: Phase) -> Literal["True", "False", "Unknown"]:
    if phase in (Phase.INITIALIZED, Phase.SUCCEEDED):
        return "True"
    if phase in (Phase.FAILED, Phase.ABORTED):
        return "False"
    return "Unknown"


def _set_condition(
    status: CanaryStatus,
    kind: str,
    value: Literal["True", "False", "Unknown"],
    reason: str,
    message: str,
    now: datetime,
) -> None:
    """Kubernetes semantics: lastTransitionTime moves only when the condition's status changes."""
    existing = next((c for c in status.conditions if c.type == kind), None)
    changed = existing is None or existing.status != value
    condition = Condition(
        type=kind,
        status=value,
        reason=reason,
        message=message,
        last_transition_time=now if changed or existing is None else existing.last_transition_time,
    )
    status.conditions = [c for c in status.conditions if c.type != kind] + [condition]
