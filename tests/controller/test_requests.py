"""The canary.dev/request annotation becomes a ManualRequest (an unknown kind has kind None)."""

from __future__ import annotations

import pytest

from canary.controller.requests import manual_request
from canary.engine.types import ManualRequest, RequestKind


@pytest.mark.parametrize(
    ("annotations", "expected"),
    [
        pytest.param({}, None, id="none"),
        pytest.param({"canary.dev/request": ""}, None, id="empty"),
        pytest.param(
            {"canary.dev/request": "explode/1"},
            ManualRequest("explode/1", None),
            id="unknown-kind",
        ),
        pytest.param(
            {"canary.dev/request": "abort"},
            ManualRequest("abort", RequestKind.ABORT),
            id="kind-only",
        ),
        pytest.param(
            {"canary.dev/request": "promote/1764131000"},
            ManualRequest("promote/1764131000", RequestKind.PROMOTE),
            id="kind-and-id",
        ),
        pytest.param(
            {"canary.dev/request": " retry/2 "},
            ManualRequest("retry/2", RequestKind.RETRY),
            id="spaces",
        ),
    ],
)
def test_the_request_annotation_is_read(
    annotations: dict[str, str], expected: ManualRequest | None
) -> None:
    assert manual_request(annotations) == expected
