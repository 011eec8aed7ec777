"""Which manual requests the engine accepts in which phase, and the reason it gives when it refuses.

One table, so that the operator always gets an answer: every request the engine takes is either
acted on or refused with a reason (recorded in `status.lastRequest` and as an Event).
"""

from __future__ import annotations

from dataclasses import dataclass

from canary.api.canary import Phase
from canary.engine.types import ManualRequest, RequestKind

IDLE = frozenset({Phase.INITIALIZED, Phase.SUCCEEDED, Phase.FAILED, Phase.ABORTED, Phase.WAITING})
RUNNING = frozenset({Phase.PROGRESSING, Phase.PAUSED, Phase.WAITING_PROMOTION})
KNOWN_KINDS = ", ".join(kind.value for kind in RequestKind)


@dataclass(frozen=True)
class Situation:
    """What decides whether a request can be carried out now."""

    phase: Phase | None
    suspended: bool = False
    deleting: bool = False


def raw_kind(request: ManualRequest) -> str:
    """The kind as written in the annotation (`<kind>` or `<kind>/<id>`)."""
    return request.kind.value if request.kind is not None else request.id.partition("/")[0]


def refusal(request: ManualRequest, situation: Situation) -> str | None:
    """Why the request cannot be carried out now; None when the engine acts on it.

    Errors: none; every input has an answer.
    """
    kind, phase = request.kind, situation.phase
    if kind is None:
        return f"unknown request kind {raw_kind(request)!r}; use one of {KNOWN_KINDS}"
    if situation.deleting or phase in (Phase.TERMINATING, Phase.TERMINATED):
        return "the Canary is being deleted"
    if situation.suspended:
        return "the Canary is suspended (spec.suspend is set)"
    if phase in (None, Phase.INITIALIZING):
        return "the Canary is initializing: there is no rollout yet"
    if phase in (Phase.PROMOTING, Phase.FINALISING):
        return f"the Canary is {phase}: the primary is taking the new revision"
    if phase in IDLE:
        return _idle_refusal(kind, phase)
    return _running_refusal(kind, phase)


def _idle_refusal(kind: RequestKind, phase: Phase) -> str | None:
    if kind == RequestKind.RETRY and phase in (Phase.FAILED, Phase.ABORTED):
        return None
    if kind in (RequestKind.ABORT, RequestKind.PROMOTE) and phase == Phase.WAITING:
        return None  # abort the waiting revision, or pass the confirm-rollout gate
    verb = "promote" if kind == RequestKind.PROMOTE_FULL else kind.value
    return f"nothing to {verb}, the Canary is {phase}"


def _running_refusal(kind: RequestKind, phase: Phase) -> str | None:
    if kind == RequestKind.ABORT:
        return None
    if kind == RequestKind.RETRY:
        return f"nothing to retry, the Canary is {phase}: abort first"
    if kind == RequestKind.RESUME and phase != Phase.PAUSED:
        return f"nothing to resume, the Canary is {phase}"
    if kind == RequestKind.PAUSE and phase == Phase.PAUSED:
        return "the Canary is already Paused"
    return None


def acceptance(request: ManualRequest) -> str:
    """The reason recorded for an accepted request."""
    return {
        RequestKind.PROMOTE: "passing the current gate or step now",
        RequestKind.PROMOTE_FULL: "promoting now, skipping the remaining steps",
        RequestKind.ABORT: "rolling back now",
        RequestKind.PAUSE: "pausing the rollout",
        RequestKind.RESUME: "resuming the rollout",
        RequestKind.RETRY: "running the revision again",
        None: "",
    }[request.kind]
