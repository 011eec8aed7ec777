"""Owns the playground's child processes: starts them, reports a crash, and stops them all.

Every child runs in its own session (process group), so a stop reaches its own children too, and on
Linux it gets `PR_SET_PDEATHSIG(SIGKILL)`, so it dies with the supervisor even when the supervisor is
killed with SIGKILL and cannot clean up. `stop()` sends SIGTERM to every group, waits `grace`
seconds, then sends SIGKILL to what is left.

    supervisor = Supervisor()
    supervisor.spawn("envoy", ["envoy", "-c", "envoy.yaml"])
    crashed = supervisor.wait()   # blocks until a child exits unexpectedly or stop() is called
    supervisor.stop()
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def _die_with_parent() -> None:
    """preexec_fn: ask the kernel to SIGKILL this child when its parent thread dies (Linux only).

    The signal follows the *thread* that spawned the child, so spawn from long-lived threads.
    """
    if not sys.platform.startswith("linux"):
        return
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


@dataclass
class Child:
    """One supervised process; `expected_exit` is set once we asked it to stop."""

    name: str
    process: subprocess.Popen[bytes]
    critical: bool = True
    expected_exit: bool = False
    started: float = field(default_factory=time.monotonic)

    @property
    def pid(self) -> int:
        return self.process.pid


@dataclass(frozen=True)
class Crash:
    """A child that exited while it should have kept running."""

    name: str
    pid: int
    returncode: int

    def __str__(self) -> str:
        if self.returncode < 0:
            how = f"killed by {signal.Signals(-self.returncode).name}"
        else:
            how = f"exited with code {self.returncode}"
        return f"{self.name} (pid {self.pid}) {how}"


class Supervisor:
    """Starts, watches and stops child processes; thread-safe.

    A *critical* child (the default) that exits on its own is a crash: `wait()` returns it and
    `on_crash` (if given) is called from the watcher thread. Non-critical children (workload pods,
    which the runner restarts itself) are only tracked so that `stop()` ends them too.
    """

    def __init__(self, *, grace: float = 5.0, poll: float = 0.1,
                 on_crash: Callable[[Crash], None] | None = None) -> None:  # fmt: skip
        self.grace = grace
        self.poll = poll
        self.on_crash = on_crash
        self._children: list[Child] = []
        self._lock = threading.Lock()
        self._done = threading.Event()
        self.crash: Crash | None = None
        self._watcher: threading.Thread | None = None

    # -- starting -----------------------------------------------------------------------------

    def spawn(self, name: str, argv: list[str], *, critical: bool = True,
              **popen_kwargs: Any) -> subprocess.Popen[bytes]:  # fmt: skip
        """Start `argv` as a supervised child named `name`; the `Popen` (OSError if it cannot start).

        `popen_kwargs` go to `subprocess.Popen` (stdout, stderr, env, cwd, ...); the session and the
        parent-death signal are always set. Refused (RuntimeError) once stopping has begun.
        """
        if self._done.is_set():
            raise RuntimeError("supervisor is stopping; not starting " + name)
        popen_kwargs.setdefault("stdin", subprocess.DEVNULL)
        process: subprocess.Popen[bytes] = subprocess.Popen(
            argv, start_new_session=True, preexec_fn=_die_with_parent, **popen_kwargs
        )
        with self._lock:
            self._children.append(Child(name, process, critical))
        self._ensure_watcher()
        return process

    def __call__(self, name: str, argv: list[str], **popen_kwargs: Any) -> subprocess.Popen[bytes]:
        """The `spawn(name, argv, **popen_kwargs)` callable the mesh's launchers accept."""
        return self.spawn(name, argv, **popen_kwargs)

    # -- watching -----------------------------------------------------------------------------

    def _ensure_watcher(self) -> None:
        with self._lock:
            if self._watcher is None:
                self._watcher = threading.Thread(target=self._watch, name="supervisor", daemon=True)
                self._watcher.start()

    def _watch(self) -> None:
        while not self._done.wait(self.poll):
            with self._lock:
                children = list(self._children)
            for child in children:
                code = child.process.poll()
                if code is None or child.expected_exit:
                    continue
                if not child.critical:
                    with self._lock:
                        self._children.remove(child)
                    continue
                crash = Crash(child.name, child.pid, code)
                with self._lock:
                    if self.crash is None:
                        self.crash = crash
                if self.on_crash is not None:
                    self.on_crash(crash)
                self._done.set()
                return

    def wait(self, timeout: float | None = None) -> Crash | None:
        """Block until a critical child crashes (returned) or `stop()`/`request_stop()` is called."""
        self._done.wait(timeout)
        return self.crash

    def request_stop(self) -> None:
        """Wake `wait()`; safe to call from a signal handler."""
        self._done.set()

    def children(self) -> list[Child]:
        with self._lock:
            return list(self._children)

    # -- stopping -----------------------------------------------------------------------------

    def stop_child(self, process: subprocess.Popen[bytes], grace: float | None = None) -> int:
        """Stop one child (SIGTERM to its group, SIGKILL after `grace`); its return code."""
        with self._lock:
            child = next((c for c in self._children if c.process is process), None)
            if child is not None:
                child.expected_exit = True
        code = _terminate([process], self.grace if grace is None else grace)[0]
        with self._lock:
            if child is not None and child in self._children:
                self._children.remove(child)
        return code

    def stop(self) -> dict[str, int]:
        """Stop every child, newest first (SIGTERM, then SIGKILL after `grace`); name -> code."""
        self._done.set()
        with self._lock:
            children = list(reversed(self._children))
            for child in children:
                child.expected_exit = True
        codes = _terminate([c.process for c in children], self.grace)
        with self._lock:
            self._children.clear()
        return {c.name: code for c, code in zip(children, codes, strict=True)}

    def __enter__(self) -> Supervisor:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:  # fmt: skip
        self.stop()


def _signal_group(process: subprocess.Popen[bytes], signum: int) -> None:
    # The child leads its own session, so its pgid is its pid; the group reaches its children.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signum)


def _terminate(processes: list[subprocess.Popen[bytes]], grace: float) -> list[int]:
    """SIGTERM each process group, wait up to `grace` s in all, SIGKILL the rest; return codes."""
    for process in processes:
        if process.poll() is None:
            _signal_group(process, signal.SIGTERM)
    deadline = time.monotonic() + grace
    for process in processes:
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(max(0.0, deadline - time.monotonic()))
    for process in processes:
        if process.poll() is None:
            _signal_group(process, signal.SIGKILL)
            process.wait()
        # A group member that ignored SIGTERM outlives its leader: make sure it goes too.
        _signal_group(process, signal.SIGKILL)
    return [p.returncode for p in processes]


def alive(pid: int) -> bool:
    """Whether `pid` runs and is not a zombie (Linux: /proc/<pid>/stat; else kill(pid, 0))."""
    stat = f"/proc/{pid}/stat"
    if os.path.exists("/proc"):
        try:
            with open(stat) as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError, IndexError):
            return False
        return state not in ("Z", "X")
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
