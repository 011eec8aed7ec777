"""`canary judge` answers every input with lines naming the JSON path, exit 0 or 2."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from canary.commands.judge import MAX_INPUT_BYTES, MAX_POINTS, MAX_TOTAL_POINTS

from . import strategies
from .harness import assert_bounded, assert_clear, run

FUZZ = settings(max_examples=60, deadline=None)
CODES = {0, 2}  # 0 judged, 2 bad input (documented in `canary judge --help`)
NAMES = [": "]  # every problem line is `json.path: reason`, the path "(document)" for the whole
VALID = {"metrics": [{"name": "latency", "control": [1, 2, 3, 4], "experiment": [2, 3, 4, 5]}]}


def judge(stdin: bytes) -> None:
    answer = run(["judge"], stdin)
    assert_clear(answer, CODES, NAMES)
    assert_bounded(answer)
    if answer.code == 0:
        json.loads(answer.out)  # one JSON document, NaN-free


def with_value(path: tuple[str | int, ...], token: str) -> bytes:
    """VALID with the value at `path` replaced by the raw JSON `token`."""
    marker = "__MARK__"
    document = json.loads(json.dumps(VALID))
    target = document
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = marker
    return json.dumps(document).replace(f'"{marker}"', token).encode("utf-8", "surrogatepass")


@FUZZ
@given(data=strategies.raw_bytes())
def test_bytes(data: bytes) -> None:
    judge(data)


@FUZZ
@given(depth=st.integers(min_value=0, max_value=100_000), opener=st.sampled_from(["[", '{"a":']))
def test_structure(depth: int, opener: str) -> None:
    closer = "]" if opener == "[" else "}"
    judge((opener * depth + "1" + closer * depth).encode())


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=10),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                ["metrics", "name", "control", "experiment", "thresholds", "pass", "x"]
            ),
            children,
            max_size=4,
        )
    ),
    max_leaves=30,
)


@FUZZ
@given(document=JSON_VALUES)
def test_json_shapes(document: object) -> None:
    judge(json.dumps(document).encode())


JSON_NUMBERS = st.one_of(
    st.integers(min_value=1, max_value=6000).map(lambda n: "9" * n),
    st.integers(min_value=1, max_value=400).map(lambda n: "1e" + "9" * n),
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.sampled_from(["NaN", "Infinity", "-Infinity", '"NaN"', "1e400", "-1e400", "true", "null"]),
)
PATHS = [
    ("metrics", 0, "control", 0),
    ("metrics", 0, "tolerance"),
    ("metrics", 0, "confidence"),
    ("thresholds",),
    ("groupWeights",),
]


@FUZZ
@given(path=st.sampled_from(PATHS), token=JSON_NUMBERS)
def test_numbers(path: tuple[str | int, ...], token: str) -> None:
    if path in (("thresholds",), ("groupWeights",)):
        token = f'{{"{"pass" if path == ("thresholds",) else "g"}": {token}}}'
    judge(with_value(path, token))


@FUZZ
@given(name=strategies.unicode_strings())
def test_unicode(name: str) -> None:
    judge(with_value(("metrics", 0, "name"), name))


@pytest.mark.parametrize(
    ("stdin", "line"),
    [
        pytest.param(b"", "(document): empty input; expected a JSON object", id="empty"),
        pytest.param(
            b'{"metrics": [{"name": "caf\xe9"}]}', "(document): not UTF-8 text", id="latin-1"
        ),
        pytest.param(b"[" * 100_000, "(document): nested too deeply", id="nested"),
        pytest.param(b"9" * 5000, "(document): Exceeds the limit (4300 digits)", id="long-integer"),
        pytest.param(
            with_value(("metrics", 0, "name"), '"\\ud800"'),
            "(document): a string holds a lone surrogate",
            id="lone-surrogate",
        ),
        pytest.param(
            with_value(("metrics", 0, "tolerance"), "NaN"),
            '(document): NaN is not JSON; write a missing sample as "NaN"',
            id="nan-literal",
        ),
    ],
)
def test_each_kind_gets_one_line(stdin: bytes, line: str) -> None:
    answer = run(["judge"], stdin)
    assert_clear(answer, {2}, NAMES)
    assert answer.err_lines[1:] == [answer.err_lines[-1]]
    assert answer.err_lines[-1].startswith(line)


def test_a_million_points_a_side_are_refused_before_judging() -> None:
    points = ",".join(["1.5"] * 1_000_000)
    stdin = f'{{"metrics": [{{"name": "m", "control": [{points}], "experiment": [{points}]}}]}}'
    answer = run(["judge"], stdin.encode())
    assert_clear(answer, {2}, NAMES)
    assert f"metrics[0].control: 1000000 samples, more than {MAX_POINTS}" in answer.err
    assert_bounded(answer)


def test_more_than_the_total_is_refused() -> None:
    points = ",".join(["1"] * MAX_POINTS)
    metric = f'{{"name": "m{{}}", "control": [{points}], "experiment": [{points}]}}'
    count = MAX_TOTAL_POINTS // (2 * MAX_POINTS) + 1
    metrics = ",".join(metric.replace("{}", str(i)) for i in range(count))
    answer = run(["judge"], f'{{"metrics": [{metrics}]}}'.encode())
    assert_clear(answer, {2}, NAMES)
    assert f"more than {MAX_TOTAL_POINTS}" in answer.err


def test_input_over_the_size_limit_is_refused() -> None:
    answer = run(["judge"], b" " * (MAX_INPUT_BYTES + 1), measure_memory=True)
    assert_clear(answer, {2}, NAMES)
    assert f"larger than the limit of {MAX_INPUT_BYTES} bytes" in answer.err


def test_the_limits_are_stated_in_help() -> None:
    answer = run(["judge", "--help"])
    assert f"{MAX_POINTS:,} samples per side" in " ".join(answer.out.split())
