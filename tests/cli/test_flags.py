"""Flag types: each bad value gets one line naming the flag; good values come back parsed."""

from __future__ import annotations

import argparse
import math
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from canary import flagtypes

from .harness import assert_clear, run


@pytest.mark.parametrize(
    ("argv", "flag"),
    [
        (["--port", "99999"], "--port"),
        (["--port", "-1"], "--port"),
        (["--history", "0"], "--history"),
        (["--ready-delay", "nan"], "--ready-delay"),
        (["--ready-delay", "inf"], "--ready-delay"),
    ],
)
def test_bad_sandbox_flags_are_named_before_anything_starts(argv: list[str], flag: str) -> None:
    answer = run(["sandbox", "apiserver", *argv])
    assert_clear(answer, {2}, [f"argument {flag}"])
    assert answer.err_lines[-1].startswith(f"canary sandbox apiserver: error: argument {flag}: ")


@given(value=st.text(max_size=40))
def test_a_header_value_is_never_echoed(value: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError) as refusal:
        flagtypes.header(f"X-Token={value}secret\n")
    assert "secret" not in str(refusal.value)


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("http://127.0.0.1:9090", "http://127.0.0.1:9090"),
        ("https://prometheus.example/prefix", "https://prometheus.example/prefix"),
    ],
)
def test_good_urls_are_kept(text: str, parsed: str) -> None:
    assert flagtypes.http_url(text) == parsed


@given(seconds=st.floats(allow_nan=True, allow_infinity=True))
def test_a_time_flag_is_a_datetime_or_a_named_refusal(seconds: float) -> None:
    try:
        parsed = flagtypes.time(repr(seconds))
    except argparse.ArgumentTypeError:
        return
    assert math.isfinite(seconds)
    assert parsed == datetime.fromtimestamp(seconds, UTC)


def test_header_parses_name_and_value() -> None:
    assert flagtypes.header("X-Scope-OrgID=team a") == ("X-Scope-OrgID", "team a")
