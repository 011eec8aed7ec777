"""The supervisor: a crash stops the rest, SIGTERM stops everything, no orphan is left behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from canary.playground.supervisor import Supervisor, alive
from canary.sandbox.testing import eventually

SLEEPER = [sys.executable, "-c", "import time; time.sleep(60)"]
# A child that starts a grandchild of its own and ignores SIGTERM: only the group kill ends both.
STUBBORN = [
    sys.executable,
    "-c",
    textwrap.dedent("""
    import signal, subprocess, sys, time
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    p = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    print(p.pid, flush=True)
    time.sleep(60)
"""),
]


def test_a_crashed_child_is_reported_and_stop_ends_the_others() -> None:
    crashes = []
    with Supervisor(grace=2, on_crash=crashes.append) as supervisor:
        a = supervisor.spawn("a", SLEEPER)
        b = supervisor.spawn("b", SLEEPER)
        supervisor.spawn("crasher", [sys.executable, "-c", "import sys; sys.exit(3)"])
        crash = supervisor.wait(timeout=10)
        assert crash is not None
        assert (crash.name, crash.returncode) == ("crasher", 3)
        assert "crasher" in str(crash)
        assert "exited with code 3" in str(crash)
        assert crashes == [crash]
    assert not alive(a.pid)
    assert not alive(b.pid)


def test_stop_kills_a_child_that_ignores_sigterm_and_its_grandchild() -> None:
    supervisor = Supervisor(grace=0.5)
    child = supervisor.spawn("stubborn", STUBBORN, stdout=subprocess.PIPE)
    assert child.stdout is not None
    grandchild = int(child.stdout.readline())
    assert alive(grandchild)
    codes = supervisor.stop()
    assert codes == {"stubborn": -signal.SIGKILL}
    assert not alive(child.pid)
    eventually(lambda: not alive(grandchild), timeout=5)


def test_a_stopped_child_is_not_a_crash() -> None:
    with Supervisor(grace=2) as supervisor:
        keep = supervisor.spawn("keep", SLEEPER)
        other = supervisor.spawn("other", SLEEPER)
        assert supervisor.stop_child(other) == -signal.SIGTERM
        time.sleep(0.3)
        assert supervisor.crash is None
        assert alive(keep.pid)


def test_a_non_critical_child_that_exits_is_not_a_crash() -> None:
    with Supervisor(grace=2) as supervisor:
        supervisor.spawn("pod", [sys.executable, "-c", "raise SystemExit(1)"], critical=False)
        assert supervisor.wait(timeout=0.5) is None


def test_children_die_with_a_supervisor_killed_by_sigkill(tmp_path: Path) -> None:
    """PR_SET_PDEATHSIG: even a SIGKILLed supervisor, which cannot clean up, leaves no orphan."""
    if not sys.platform.startswith("linux"):
        pytest.skip("parent-death signal is Linux only")
    script = tmp_path / "parent.py"
    script.write_text(
        textwrap.dedent(f"""
        import sys, time
        from canary.playground.supervisor import Supervisor
        s = Supervisor()
        p = s.spawn("sleeper", {SLEEPER!r})
        print(p.pid, flush=True)
        time.sleep(60)
    """)
    )
    parent = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE,
                              env={**os.environ, "PYTHONPATH": os.getcwd()})  # fmt: skip
    assert parent.stdout is not None
    child = int(parent.stdout.readline())
    assert alive(child)
    parent.kill()
    parent.wait()
    eventually(lambda: not alive(child), timeout=5)


def test_spawn_is_refused_once_stopping() -> None:
    supervisor = Supervisor()
    supervisor.stop()
    with pytest.raises(RuntimeError, match="stopping"):
        supervisor.spawn("late", SLEEPER)
