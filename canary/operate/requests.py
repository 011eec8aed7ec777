"""Writing a manual request on a Canary, safely against a second operator, and reading the answer.

The rule (a queue of one): a request is written only when no other request is waiting for the
controller, and the write carries the resourceVersion just read (a merge patch with
`metadata.resourceVersion` is a precondition: the API server answers 409 Conflict when the
Canary changed in between). On a conflict the Canary is read again: if another operator's
request is now waiting, this one is refused and says whose; if only the status moved (the
controller writes it), the write is tried again. So two requests close together never silently
overwrite each other. `--force` replaces a waiting request on purpose.

The write is an ordinary patch of the Canary, so Kubernetes RBAC (verb `patch` on
`canaries.canary.dev`) decides who may make requests, and the audit log records who did.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Any

from canary.operate.api import MERGE_PATCH, Api, canaries_path
from canary.operate.errors import ApiStatusError, CliError
from canary.operate.view import pending_request

ANNOTATION = "canary.dev/request"
ATTEMPTS = 5
POLL_SECONDS = 0.25


@dataclass(frozen=True)
class Answer:
    """The controller's answer to one request: Accepted, Refused, or None when not seen yet."""

    id: str
    outcome: str | None
    reason: str = ""


def new_id(kind: str, now: float | None = None) -> str:
    """`<kind>/<unix milliseconds>-<4 hex>`: unique, and sortable by time."""
    millis = int((time.time() if now is None else now) * 1000)
    return f"{kind}/{millis}-{os.urandom(2).hex()}"


def send(api: Api, name: str, kind: str, *, force: bool = False) -> str:
    """Writes the request and returns its id.

    Raises CliError (exit 1) when another request is waiting and `force` is not set, or when the
    Canary keeps changing under the write; ApiStatusError for RBAC and the like.
    """
    path = canaries_path(api.namespace, name)
    for _ in range(ATTEMPTS):
        canary = api.get_canary(name)
        waiting = pending_request(canary)
        if waiting and not force:
            raise CliError(
                f"{kind}: another request ({waiting}) is waiting for the controller. Wait for "
                f"its answer (`kubectl canary get {name}`), or pass --force to replace it.",
                exit_code=1,
            )
        request_id = new_id(kind)
        patch = {
            "metadata": {
                "resourceVersion": canary["metadata"]["resourceVersion"],
                "annotations": {ANNOTATION: request_id},
            }
        }
        try:
            api.request("PATCH", path, body=patch, content_type=MERGE_PATCH)
        except ApiStatusError as exc:
            if exc.code == 409:
                continue  # the Canary changed since it was read: look again
            raise
        return request_id
    raise CliError(
        f"{kind}: the Canary {name} kept changing while the request was written; try again",
        exit_code=1,
    )


def answer_of(canary: dict[str, Any], request_id: str) -> Answer:
    status = canary.get("status") or {}
    last = status.get("lastRequest") or {}
    if last.get("id") == request_id:
        return Answer(request_id, str(last.get("outcome")), str(last.get("reason", "")))
    if status.get("handledRequest") == request_id:
        return Answer(request_id, "Accepted")
    return Answer(request_id, None)


def wait_for_answer(api: Api, name: str, request_id: str, timeout: float) -> Answer:
    """Polls the Canary until the controller answers `request_id`, or `timeout` seconds pass."""
    deadline = time.monotonic() + timeout
    while True:
        answer = answer_of(api.get_canary(name), request_id)
        if answer.outcome is not None or time.monotonic() >= deadline:
            return answer
        time.sleep(POLL_SECONDS)
