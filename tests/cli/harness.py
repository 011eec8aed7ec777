"""Runs `canary` in-process with bytes on stdin and checks the answer to bad input.

Each answer must be: no traceback (and no last-resort "internal error": the guard is not the
fix), a documented exit code, and stderr lines that name the document or the flag. The time and
memory bounds are generous guards against hangs and blow-ups, not speed targets.
"""

from __future__ import annotations

import io
import sys
import time
import tracemalloc
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from canary.cli import build_parser, main

build_parser()  # imports every command once, so that no test's time bound counts the imports

TIME_BOUND_SECONDS = 10.0
TRACED_TIME_BOUND_SECONDS = 60.0
"""tracemalloc records every allocation and slows allocation-heavy parsing several times."""
MEMORY_BOUND_BYTES = 200 * 1024 * 1024

CANARY = """\
apiVersion: canary.dev/v1alpha1
kind: Canary
metadata: {name: podinfo, namespace: test}
spec:
  targetRef: {name: podinfo}
  service: {port: 80, targetPort: 9898}
  analysis:
    interval: 1m
    threshold: 2
    metrics:
      - name: request-success-rate
        interval: 1m
        thresholdRange: {min: 99}
"""
"""A valid Canary; the fuzz tests replace one value or one line of it."""

SCENARIO = """\
name: short
duration: 10m
traffic: [{rps: 20}]
canary: {errorRate: 0.001, readyAfter: 5s}
"""
"""A valid scenario that simulates quickly."""


@dataclass(frozen=True)
class Answer:
    code: int
    out: str
    err: str
    seconds: float
    peak_bytes: int

    @property
    def err_lines(self) -> list[str]:
        return [line for line in self.err.splitlines() if line.strip()]


class _Stdin(io.TextIOWrapper):
    """A text stdin over bytes, like the real one (`.buffer` holds the bytes)."""


def run(argv: Sequence[str], stdin: bytes = b"", measure_memory: bool = False) -> Answer:
    """`canary ARGV` with `stdin`, its exit code (argparse's SystemExit included) and output."""
    out = io.TextIOWrapper(io.BytesIO(), encoding="utf-8")
    err = io.TextIOWrapper(io.BytesIO(), encoding="utf-8")
    saved = sys.stdin, sys.stdout, sys.stderr
    sys.stdin = _Stdin(io.BytesIO(stdin), encoding="utf-8")
    sys.stdout, sys.stderr = out, err
    if measure_memory:
        tracemalloc.start()
    started = time.perf_counter()
    try:
        try:
            code = main(list(argv))
        except SystemExit as exit_:
            code = exit_.code if isinstance(exit_.code, int) else 2
    finally:
        seconds = time.perf_counter() - started
        peak = tracemalloc.get_traced_memory()[1] if measure_memory else 0
        if measure_memory:
            tracemalloc.stop()
        sys.stdin, sys.stdout, sys.stderr = saved
    return Answer(code, _text(out), _text(err), seconds, peak)


def _text(stream: io.TextIOWrapper) -> str:
    stream.flush()
    buffer = stream.buffer
    assert isinstance(buffer, io.BytesIO)
    return buffer.getvalue().decode("utf-8")


def assert_clear(answer: Answer, codes: set[int], names: Sequence[str]) -> None:
    """No traceback, an exit code in `codes`, and every error line naming one of `names`."""
    assert "Traceback" not in answer.err, answer.err
    assert "internal error" not in answer.err, answer.err
    assert answer.code in codes, (answer.code, answer.err)
    if answer.code != 0:
        assert answer.err_lines, "a failure must say why"
    for line in answer.err_lines:
        if line.startswith(("usage:", "  ", "note:")) or line.endswith("invalid input:"):
            continue  # argparse's usage lines; analyze's note; judge's header line
        assert any(name in line for name in names), (line, names)


def assert_bounded(answer: Answer) -> None:
    bound = TRACED_TIME_BOUND_SECONDS if answer.peak_bytes else TIME_BOUND_SECONDS
    assert answer.seconds < bound, answer.seconds
    assert answer.peak_bytes < MEMORY_BOUND_BYTES, answer.peak_bytes


def write(directory: Path, name: str, data: bytes | str) -> Path:
    path = directory / name
    path.write_bytes(data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data)
    return path
