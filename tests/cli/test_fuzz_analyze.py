"""`canary analyze` answers every input with one line naming the file or the flag.

Exit codes (documented in `canary analyze --help`): 0 ran, 1 invalid input, 2 a bad flag
(argparse), 3 Prometheus did not answer. No test here reaches a Prometheus: the address is a
closed local port, or the Canary file is invalid so nothing is queried.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from canary.commands.analyze import MAX_EVALUATIONS

from . import strategies
from .harness import CANARY, assert_bounded, assert_clear, run, write

FUZZ = settings(max_examples=60, deadline=None)
CLOSED = "http://127.0.0.1:9"  # the discard port: nothing listens, so a query fails at once


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("analyze")


@pytest.fixture(scope="module")
def empty(workdir: Path) -> Path:
    """An invalid Canary file: with valid flags the command stops at it, before any query."""
    return write(workdir, "empty.yaml", "")


def analyze_document(workdir: Path, data: bytes | str) -> None:
    path = write(workdir, "canary.yaml", data)
    answer = run(["analyze", str(path), "--prometheus", CLOSED, "--at", "0", "--timeout", "1s"])
    assert_clear(answer, {0, 1, 3}, [str(path), "canary analyze"])
    assert_bounded(answer)


@FUZZ
@given(data=strategies.raw_bytes())
def test_bytes(workdir: Path, data: bytes) -> None:
    analyze_document(workdir, data)


@FUZZ
@given(text=strategies.nesting())
def test_structure(workdir: Path, text: str) -> None:
    analyze_document(workdir, text)


@FUZZ
@given(token=strategies.number_tokens())
def test_numbers(workdir: Path, token: str) -> None:
    analyze_document(workdir, CANARY.replace("{min: 99}", f"{{min: {token}}}"))


@FUZZ
@given(token=strategies.duration_tokens())
def test_durations(workdir: Path, token: str) -> None:
    analyze_document(workdir, CANARY.replace("        interval: 1m", f"        interval: {token}"))


@FUZZ
@given(token=strategies.unicode_strings())
def test_unicode(workdir: Path, token: str) -> None:
    analyze_document(
        workdir, CANARY.replace("{name: podinfo, namespace", f"{{name: {token}, namespace")
    )


def flag_values() -> st.SearchStrategy[str]:
    return st.one_of(
        st.text(max_size=60),
        st.sampled_from(
            [
                "http://127.0.0.1:99999",
                "http://127.0.0.1:0",
                "not-a-url",
                "ftp://host/",
                "http://",
                "http://user:pw@host",
                "http://h:port",
                "http://[::1",
                "https://h/#x",
                "X-A=b\r\nX-Evil: 1",
                "X-A=b\n",
                "=v",
                "X A=b",
                "X-A=caf\u00e9",
                "inf",
                "-inf",
                "nan",
                "1e400",
                "-62135596801",
                "253402300800",
                "99999999999h",
                "0s",
                "-1s",
                "1ms",
                "2026-01-01T00:00:00Z",
                "2026-13-01",
            ]
        ),
    )


FLAGS = ["--prometheus", "--header", "--at", "--timeout", "--step", "--to"]


@FUZZ
@given(flag=st.sampled_from(FLAGS), value=flag_values())
def test_flags(empty: Path, flag: str, value: str) -> None:
    argv = {"--prometheus": CLOSED, "--at": "0"}
    if flag in ("--step", "--to"):
        argv = {"--prometheus": CLOSED, "--from": "0", "--to": "60", "--step": "1m"}
    argv[flag] = value
    args = [item for pair in argv.items() for item in pair]
    answer = run(["analyze", str(empty), *args], measure_memory=True)
    # A valid value reaches the (invalid) file; a bad one is named by argparse, before any work.
    assert_clear(answer, {1, 2}, [f"argument {flag}", str(empty), "canary analyze: --"])
    assert_bounded(answer)
    if answer.code == 2:
        assert answer.err_lines[-1].startswith(f"canary analyze: error: argument {flag}")


@pytest.mark.parametrize(
    ("flag", "value", "reason"),
    [
        ("--prometheus", "http://127.0.0.1:99999", "the port must be a number from 1 to 65535"),
        ("--prometheus", "not-a-url", "use an http:// or https:// URL, got no scheme"),
        ("--prometheus", "ftp://host/", "got ftp://"),
        ("--prometheus", "http://u:secret@host", "do not put credentials in the URL"),
        ("--header", "X-A=b\r\nX-Evil: 1", "header X-A: the value must be printable ASCII"),
        ("--at", "inf", "not a finite time"),
        ("--at", "1e400", "not a finite time"),
        ("--at", "99999999999999", "out of range"),
        ("--timeout", "99999999999h", "invalid duration"),
        ("--timeout", "11m", "must be at most 10m"),
        ("--timeout", "0s", "must be longer than 0ms"),
    ],
)
def test_each_bad_flag_gets_one_line_naming_it(
    empty: Path, flag: str, value: str, reason: str
) -> None:
    argv = {"--prometheus": CLOSED, "--at": "0", flag: value}
    answer = run(["analyze", str(empty), *[i for pair in argv.items() for i in pair]])
    assert answer.code == 2
    assert answer.err_lines[-1] == f"canary analyze: error: argument {flag}: {reason}" or (
        answer.err_lines[-1].startswith(f"canary analyze: error: argument {flag}: ")
        and reason in answer.err_lines[-1]
    )


def test_the_evaluation_limit_is_checked_before_any_is_built(workdir: Path) -> None:
    path = write(workdir, "valid.yaml", CANARY)
    argv = ["--prometheus", CLOSED, "--from", "0", "--to", "86400", "--step", "1ms"]
    answer = run(["analyze", str(path), *argv], measure_memory=True)
    assert answer.code == 1
    assert answer.err_lines == [
        f"canary analyze: --step: 86400001 evaluations from --from to --to; use a larger step "
        f"(at most {MAX_EVALUATIONS})"
    ]
    assert answer.peak_bytes < 10 * 1024 * 1024  # nothing the size of 86 million times
    assert_bounded(answer)


def test_the_limit_is_stated_in_help() -> None:
    answer = run(["analyze", "--help"])
    assert f"at most {MAX_EVALUATIONS:,} evaluations" in answer.out
