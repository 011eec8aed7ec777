"""`canary validate` answers every input with one line per problem naming the file, exit 0 or 1."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from canary.api.canary import Analysis
from canary.api.safeyaml import MAX_INPUT_BYTES

from . import strategies
from .harness import CANARY, TIME_BOUND_SECONDS, assert_bounded, assert_clear, run, write

FUZZ = settings(max_examples=60, deadline=None)
CODES = {0, 1}  # 0 valid, 1 invalid (documented in `canary validate --help`)

NUMBER_FIELDS = ["threshold: 2", "{min: 99}", "port: 80,", "targetPort: 9898"]
DURATION_FIELDS = ["    interval: 1m", "        interval: 1m"]
NAME_FIELDS = [
    "{name: podinfo, namespace",
    "targetRef: {name: podinfo}",
    "name: request-success-rate",
]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("validate")


def replace_value(field: str, token: str) -> str:
    """CANARY with the value in `field` (a unique snippet of it) replaced by the YAML `token`."""
    before, _, rest = field.rpartition(" ")
    suffix = "," if rest.endswith(",") else "}" if rest.endswith("}") else ""
    replacement = f"{before} {token}{suffix}" if before else token
    assert CANARY.count(field) == 1 or field.startswith(" ")
    return CANARY.replace(field, replacement, 1)


def validate(workdir: Path, data: bytes | str) -> None:
    path = write(workdir, "canary.yaml", data)
    answer = run(["validate", str(path)])
    assert_clear(answer, CODES, [str(path)])
    assert_bounded(answer)


@FUZZ
@given(data=strategies.raw_bytes())
def test_bytes(workdir: Path, data: bytes) -> None:
    validate(workdir, data)


@FUZZ
@given(text=strategies.nesting())
def test_structure(workdir: Path, text: str) -> None:
    validate(workdir, text)


@FUZZ
@given(field=st.sampled_from(NUMBER_FIELDS), token=strategies.number_tokens())
def test_numbers(workdir: Path, field: str, token: str) -> None:
    validate(workdir, replace_value(field, token))


@FUZZ
@given(field=st.sampled_from(DURATION_FIELDS), token=strategies.duration_tokens())
def test_durations(workdir: Path, field: str, token: str) -> None:
    validate(workdir, CANARY.replace(field, field.replace("1m", token), 1))


@FUZZ
@given(field=st.sampled_from(NAME_FIELDS), token=strategies.unicode_strings())
def test_unicode(workdir: Path, field: str, token: str) -> None:
    old = "podinfo" if "podinfo" in field else "request-success-rate"
    validate(workdir, CANARY.replace(field, field.replace(old, token), 1))


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        pytest.param(b"name: caf\xe9\n", "not UTF-8 text: byte 0xe9 at line 1", id="latin-1"),
        pytest.param(b"a: " + b"[" * 1000 + b"]" * 1000, "nest", id="nested"),
        pytest.param(b"a: " + b"9" * 5000, "an integer with 5000 digits", id="long-integer"),
        pytest.param(b'a: "\\ud800"', "line 1", id="lone-surrogate"),
        pytest.param(b"a: 1\na: 2\n", "duplicate key 'a' (first at line 1)", id="duplicate-key"),
        pytest.param(b"", "no YAML document", id="empty"),
        pytest.param(
            CANARY.replace(
                "interval: 1m\n    threshold", "interval: " + "9" * 400 + "s\n    threshold"
            ).encode(),
            "spec.analysis.interval: invalid duration",
            id="long-duration",
        ),
        pytest.param(
            CANARY.replace("1m\n    threshold", "\u0661m\n    threshold").encode(),
            "spec.analysis.interval: invalid duration",
            id="arabic-indic-digit",
        ),
        pytest.param(
            CANARY.replace("{min: 99}", "{min: .nan}").encode(),
            "spec.analysis.metrics[0].thresholdRange.min: must be a finite number",
            id="nan-threshold",
        ),
        pytest.param(
            CANARY.replace("targetPort: 9898", "targetPort: 1.5").encode(),
            "spec.service.targetPort: must be a port number (1-65535) or a port name, got float",
            id="fractional-port",
        ),
        pytest.param(
            CANARY.replace("port: 80,", "port: '80',").encode(),
            "spec.service.port: Input should be a valid integer",
            id="port-as-string",
        ),
    ],
)
def test_each_kind_gets_one_line_naming_the_file_and_field(
    workdir: Path, text: bytes, reason: str
) -> None:
    path = write(workdir, "kind.yaml", text)
    answer = run(["validate", str(path)])
    assert_clear(answer, {1}, [str(path)])
    assert answer.err_lines == [answer.err_lines[0]]
    assert reason in answer.err_lines[0]


def many_metrics(count: int, duplicate: int) -> list[dict[str, Any]]:
    metric = {"templateRef": {"name": "t"}, "thresholdRange": {"min": 1}}
    return [{"name": f"m{i}", **metric} for i in [*range(count), duplicate]]


def test_the_duplicate_check_of_twenty_thousand_metrics_is_linear() -> None:
    """It was quadratic (14 s); PyYAML's own reading of such a file is what takes time now."""
    started = time.perf_counter()
    with pytest.raises(ValidationError, match="duplicate metric names: m7"):
        Analysis.model_validate({"metrics": many_metrics(20_000, 7)})
    assert time.perf_counter() - started < TIME_BOUND_SECONDS


def test_a_thousand_metrics_are_validated_in_bounded_time_and_memory(workdir: Path) -> None:
    document = yaml.safe_load(CANARY)
    document["spec"]["analysis"]["metrics"] = many_metrics(1_000, 7)
    path = write(workdir, "many.yaml", yaml.safe_dump(document))
    answer = run(["validate", str(path)], measure_memory=True)
    assert_clear(answer, {1}, [str(path)])
    assert "duplicate metric names: m7" in answer.err
    assert_bounded(answer)


def test_a_file_over_the_size_limit_is_refused_before_parsing(workdir: Path) -> None:
    path = write(workdir, "huge.yaml", b"a: [" + b"1," * (MAX_INPUT_BYTES // 2) + b"1]\n")
    answer = run(["validate", str(path)], measure_memory=True)
    assert_clear(answer, {1}, [str(path)])
    assert f"larger than the limit of {MAX_INPUT_BYTES} bytes" in answer.err
    assert_bounded(answer)


def test_a_file_name_that_is_not_utf8_is_escaped_not_a_crash(workdir: Path) -> None:
    name = b"caf\xe9.yaml".decode("utf-8", "surrogateescape")
    path = write(workdir, name, b"")
    answer = run(["validate", str(path)])
    assert_clear(answer, {1}, ["caf\\udce9.yaml"])
