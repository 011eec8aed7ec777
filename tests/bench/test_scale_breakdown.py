"""bench/scale's breakdown names the cause of each read: a conflict's refresh, an uncached kind, a miss."""

from __future__ import annotations

import pytest

from bench.scale import _detail
from canary.sandbox.audit import attributes

DEPLOYMENT = "/apis/apps/v1/namespaces/scale/deployments/app-00001"
EVENT = "/api/v1/namespaces/scale/events/app-00001.0123456789abcdef"


@pytest.mark.parametrize(
    ("history", "expected"),
    [
        # A GET right after a 409 on the same object is the conflict's one refresh.
        ([("PATCH", DEPLOYMENT, 409), ("GET", DEPLOYMENT, 200)], "get deployments conflict 200"),
        # ... and only the first one: a second GET is a cache miss again.
        ([("PATCH", DEPLOYMENT, 409), ("GET", DEPLOYMENT, 200), ("GET", DEPLOYMENT, 200)],
         "get deployments cached kind 200"),
        # A write that succeeded clears the conflict.
        ([("PATCH", DEPLOYMENT, 409), ("PATCH", DEPLOYMENT, 200), ("GET", DEPLOYMENT, 200)],
         "get deployments cached kind 200"),
        ([("POST", "/api/v1/namespaces/scale/events", 409), ("GET", EVENT, 200)],
         "get events uncached 200"),
        ([("GET", "/api/v1/namespaces/scale/secrets/token", 200)], "get secrets metadata only 200"),
        ([("PATCH", DEPLOYMENT, 409)], "patch deployments - 409"),
    ],
)  # fmt: skip
def test_each_request_is_named_by_verb_resource_cause_and_code(
    history: list[tuple[str, str, int]], expected: str
) -> None:
    conflicted: set[tuple[str, str, str]] = set()
    details = [_detail(attributes(m, p), code, conflicted) for m, p, code in history]
    assert details[-1] == expected
