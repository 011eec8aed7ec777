"""`canary demo` and `canary sandbox up` pieces that need no Envoy: manifests, summary, report, errors."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

from canary.cli import main
from canary.playground import demo_summary
from canary.playground.report import write_report

EXAMPLES = Path(__file__).parents[2] / "examples" / "demo"


@pytest.mark.parametrize("name", ["my-app.yaml", "my-app-quick.yaml"])
def test_the_demo_manifests_are_valid(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(EXAMPLES / name)]) == 0
    assert "Canary is valid" in capsys.readouterr().out


LIFECYCLE = [
    {"time": 10.0, "event": "started", "pod": "a-1", "port": 1001, "deployment": "my-app-primary", "version": "1.0.0"},
    {"time": 10.5, "event": "ready", "pod": "a-1", "port": 1001, "deployment": "my-app-primary", "version": "1.0.0"},
    {"time": 20.0, "event": "terminating", "pod": "a-1", "port": 1001, "deployment": "my-app-primary", "version": "1.0.0"},
    {"time": 21.5, "event": "stopped", "pod": "a-1", "port": 1001, "deployment": "my-app-primary", "version": "1.0.0"},
    {"time": 30.0, "event": "started", "pod": "b-1", "port": 1001, "deployment": "my-app", "version": "2.0.0"},
    {"time": 30.4, "event": "ready", "pod": "b-1", "port": 1001, "deployment": "my-app", "version": "2.0.0"},
]  # fmt: skip


def test_a_reused_port_is_attributed_to_the_pod_that_ran_on_it_then() -> None:
    book = demo_summary.PortBook(LIFECYCLE)
    first, second = book.at(1001, 15.0), book.at(1001, 31.0)
    assert first is not None
    assert (first.pod, first.version, first.ready_spans) == ("a-1", "1.0.0", ((10.5, 20.0),))
    assert second is not None
    assert (second.pod, second.deployment) == ("b-1", "my-app")
    assert book.at(1001, 5.0) is None
    assert book.at(9, 15.0) is None


def test_counts_per_version_and_totals() -> None:
    book = demo_summary.PortBook(LIFECYCLE)
    user = [{"status": 200, "version": "1.0.0"}, {"status": 500, "version": "2.0.0"},
            {"status": 0, "version": ""}, {"status": 200, "version": "2.0.0"}]  # fmt: skip
    served = [{"time": 31.0, "port": 1001, "mirror": True, "code": 200, "duration_ms": 3},
              {"time": 15.0, "port": 1001, "mirror": False, "code": 200, "duration_ms": 3}]  # fmt: skip
    assert demo_summary.version_counts(user, served, book) == {
        "1.0.0": {"user_requests": 1, "failed": 0, "mirrored_received": 0},
        "2.0.0": {"user_requests": 2, "failed": 1, "mirrored_received": 1},
    }
    assert demo_summary.request_totals(user, "2.0.0") == {
        "sent": 4, "answered": 3, "failed": 2, "failed_by_faulty_version": 1, "unanswered": 1}  # fmt: skip


def test_per_second_success_rate_and_p99_by_workload() -> None:
    book = demo_summary.PortBook(LIFECYCLE)
    served = [{"time": 11.0 + i / 100, "port": 1001, "code": 500 if i % 10 == 0 else 200,
               "duration_ms": float(i)} for i in range(100)]  # fmt: skip
    series = demo_summary.per_second(served, book, start=10.0)
    (point,) = [p for p in series["my-app-primary"] if p["t"] == 2.0]
    assert point["requests"] == 100
    assert point["success_rate"] == 90.0
    assert point["p99_ms"] == 99.0


def test_the_report_is_one_self_contained_html_file(tmp_path: Path) -> None:
    path = write_report(
        tmp_path / "r.html", title="t", start=0.0,
        weights=[{"t": 0, "primary": 100, "canary": 0, "mirror": 0},
                 {"t": 5, "primary": 80, "canary": 20, "mirror": 0}],
        series={"my-app": [{"t": 1, "success_rate": 90.0, "p99_ms": 12.0, "requests": 10}]},
        decisions=[{"t": 5, "phase": "Progressing", "canary_weight": 20,
                    "reason": "request-success-rate <b>ok</b>"}],
        primary="my-app-primary", canary="my-app")  # fmt: skip
    page = path.read_text()
    assert "<script src=" not in page  # plotly.js is inline: it opens offline
    assert "Plotly.newPlot" in page
    assert "request-success-rate &lt;b&gt;ok&lt;/b&gt;" in page


@pytest.mark.parametrize("command", [["demo", "--quick"], ["sandbox", "up"]])
def test_a_taken_port_is_one_clear_line_and_exit_code_2(command: list[str], tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-m", "canary", *command, "--mesh-port", str(port),
             "--workdir", str(tmp_path)], capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert f"port {port} (mesh listener) is taken" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_an_envoy_that_cannot_start_is_one_clear_error_and_nothing_is_left(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from canary.playground import envoy_process
    from canary.playground.demo_stack import PlaygroundError, Stack, StackOptions
    from canary.playground.supervisor import alive

    monkeypatch.setattr(envoy_process, "envoy_binary", lambda: "/bin/false")
    stack = Stack(StackOptions(workdir=tmp_path, metrics="embedded"))
    with pytest.raises(PlaygroundError, match=r"^Envoy cannot start: ") as caught:
        stack.start()
    assert "\n" not in str(caught.value)
    assert stack.server is None  # everything that had started was stopped
    assert not [c for c in stack.supervisor.children() if alive(c.pid)]
