"""Permanent errors: what the API server refuses for good becomes a Ready=False condition and one
Warning Event on the Canary, instead of a reconcile retried for ever in silence."""

from __future__ import annotations

import json
from dataclasses import dataclass

from kubernetes.client.exceptions import ApiException

from canary.kube.objects import TargetError
from canary.kube.workloads import ForeignObject

READY = "Ready"
"""True after a reconcile that carried out every write; False with the reason it could not."""
RECONCILED = "Reconciled"
INVALID_SPEC = "InvalidSpec"
FORBIDDEN = "Forbidden"
NOT_FOUND = "NotFound"
NOT_OWNED = "NotOwned"
TARGET_NOT_FOUND = "TargetNotFound"
NOT_FOUND_STREAK = 3
"""Reconciles in a row that meet the same 404 before it counts as permanent (an object being
replaced comes back; one that was deleted for good does not)."""
PERMANENT_RETRY = 300.0
"""Seconds between looks at a blocked Canary when no watch event brings it back sooner."""


@dataclass(frozen=True)
class Blocked:
    """Why a Canary cannot be reconciled until someone changes something."""

    reason: str
    message: str


def _status_message(error: ApiException) -> str:
    try:
        body = json.loads(error.body or "{}")
    except (ValueError, TypeError):
        body = {}
    message = body.get("message") if isinstance(body, dict) else None
    return str(message or error.reason or f"HTTP {error.status}")


def blocked_by(error: BaseException, not_found_streak: int = NOT_FOUND_STREAK) -> Blocked | None:
    """The permanent error in an API error, or None when retrying may help.

    400 and 422 are InvalidSpec (the object we built is refused), 403 is Forbidden (RBAC), and a
    404 is NotFound once `not_found_streak` (the reconciles in a row that met it, this one
    included) reaches NOT_FOUND_STREAK. A target that cannot be rolled out (no selector label
    we know) is InvalidSpec; an object in the way that another owner holds is NotOwned.
    """
    if isinstance(error, TargetError):
        return Blocked(INVALID_SPEC, str(error))
    if isinstance(error, ForeignObject):
        return Blocked(NOT_OWNED, f"{error}: delete it, and the controller creates its own")
    if not isinstance(error, ApiException):
        return None
    message = _status_message(error)
    if error.status in (400, 422):
        return Blocked(INVALID_SPEC, f"the API server refused a write: {message}")
    if error.status == 403:
        return Blocked(
            FORBIDDEN, f"the API server forbids a request: {message} (check the controller's RBAC)"
        )
    if error.status == 404 and not_found_streak >= NOT_FOUND_STREAK:
        return Blocked(NOT_FOUND, f"an object the Canary needs does not exist: {message}")
    return None
