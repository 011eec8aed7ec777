"""Stopping the demo: a failure while shutting down never hides why it stopped (fast, no processes)."""

from __future__ import annotations

import argparse
import signal
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from canary.commands import demo as demo_command
from canary.playground import demo_run
from canary.playground.demo import Recorder
from canary.playground.demo_stack import PlaygroundError


class Part:
    def __init__(self, error: Exception | None = None) -> None:
        self.error = error
        self.stopped = False

    def stop(self) -> None:
        self.stopped = True
        if self.error is not None:
            raise self.error


def test_every_part_stops_even_when_one_before_it_fails() -> None:
    load, recorder, stack = Part(TimeoutError("load")), Part(OSError("recorder")), Part()
    first = demo_run.stop_all(load, recorder, stack)  # type: ignore[arg-type]
    assert (load.stopped, recorder.stopped, stack.stopped) == (True, True, True)
    assert isinstance(first, TimeoutError)


def test_nothing_to_stop_but_the_stack() -> None:
    stack = Part()
    assert demo_run.stop_all(None, None, stack) is None  # type: ignore[arg-type]
    assert stack.stopped


def test_the_recorder_stops_when_the_api_no_longer_answers() -> None:
    # Port 9 (discard) on 127.0.0.1: nothing listens, the connection is refused.
    api = client.ApiClient(client.Configuration(host="http://127.0.0.1:9"))
    recorder = Recorder(api)
    recorder.stop()
    assert recorder.samples == []


def arguments(tmp_path: Path) -> argparse.Namespace:
    return argparse.Namespace(quick=True, json=True, report=None, workdir=tmp_path,
                              metrics="embedded", api_port=0, mesh_port=0, rate=0.0)  # fmt: skip


@pytest.mark.parametrize(
    ("raised", "signalled", "code", "said"),
    [
        (KeyboardInterrupt(), False, 130, "interrupted; every process stopped"),
        (
            PlaygroundError("a crash while stopping"),
            True,
            130,
            "interrupted; every process stopped",
        ),
        (TimeoutError("the API timed out while stopping"), True, 130, "interrupted"),
        (PlaygroundError("port 80 (API server) is taken"), False, 2, "port 80"),
        (None, False, 0, ""),
    ],
)
def test_exit_code_says_what_stopped_the_demo(
    raised: BaseException | None, signalled: bool, code: int, said: str,
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    def run_demo(options: Any) -> dict[str, Any]:
        if signalled:
            # As a SIGTERM during the story would: the handler records it and interrupts.
            demo_command._signalled.set()
        if raised is not None:
            raise raised
        return {}

    monkeypatch.setattr(demo_run, "run_demo", run_demo)
    previous = signal.getsignal(signal.SIGTERM)
    try:
        assert demo_command.run(arguments(tmp_path)) == code
    finally:
        signal.signal(signal.SIGTERM, previous)
        demo_command._signalled.clear()
    assert said in capsys.readouterr().err
