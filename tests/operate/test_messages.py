"""Error Statuses become sentences that say what is wrong and how to fix it; durations parse."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from canary.operate.api import Api, canaries_path
from canary.operate.errors import CliError
from canary.operate.kubeconfig import Connection
from canary.operate.progress import parse_timeout

API = Api(Connection(server="https://k8s.example", namespace="shop", context="prod"))
NAMED = canaries_path("shop", "my-app")


@pytest.mark.parametrize(
    ("method", "path", "code", "status", "expected"),
    [
        ("PATCH", NAMED, 403, {"message": "denied"},
         "forbidden: you may not patch canaries.canary.dev in namespace shop (denied)"),
        ("GET", canaries_path(None), 403, {},
         "kubectl auth can-i list canaries.canary.dev -A"),
        ("GET", NAMED, 404, {"details": {"name": "my-app"}},
         "no Canary 'my-app' in namespace shop. List them with `kubectl canary list -n shop`"),
        ("GET", canaries_path("shop"), 404, {"message": "the server could not find"},
         "the Canary CRDs are not installed in this cluster (context 'prod')"),
        ("GET", NAMED, 401, {}, "unauthorized: the API server refused the credentials of context"),
        ("GET", NAMED, 500, {"message": "etcd down"}, "GET " + NAMED + ": etcd down (HTTP 500)"),
    ],
)  # fmt: skip
def test_error_statuses_read_as_sentences(
    method: str, path: str, code: int, status: dict[str, object], expected: str
) -> None:
    error = API._error(method, path, code, status)
    assert expected in str(error)
    assert error.code == code


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90s", 90), ("15m", 900), ("1h30m", 5400), ("2.5m", 150), ("1500ms", 1.5)],
)
def test_durations_parse(text: str, seconds: float) -> None:
    assert parse_timeout(text) == pytest.approx(seconds)


@given(st.text(max_size=12))
def test_a_bad_duration_is_a_clear_error_never_a_crash(text: str) -> None:
    valid = re.fullmatch(r"(\d+(\.\d+)?(ms|s|m|h))+", text) is not None
    if valid:
        assert parse_timeout(text) >= 0
        return
    with pytest.raises(CliError, match="not a duration"):
        parse_timeout(text)
