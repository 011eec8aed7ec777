"""`event` webhooks delivered off the reconcile: a bounded queue and one worker thread.

Flagger calls a Canary's `event` webhooks with every Kubernetes Event it records about it. A slow
or dead receiver must not slow the rollout, so `QueuedWebhooks.run()` only queues the call and
answers at once; the worker calls the wrapped runner (with the hooks' own timeouts and retries).
A full queue drops the call, counted and logged: an event hook is a report, never a gate.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import structlog

from canary.api.canary import Canary, Webhook
from canary.engine.types import GateResult
from canary.protocols import WebhookRunner

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class _Call:
    canary: Canary
    hooks: tuple[Webhook, ...]
    payload: Mapping[str, object]


@dataclass
class QueuedWebhooks:
    """A WebhookRunner that queues each call for a daemon worker; never blocks, never raises.

    `run()` answers GateResult(passed=True, "queued") or (passed=False, "dropped: queue full").
    `join(timeout)` waits until every queued call was made (tests, shutdown).
    """

    runner: WebhookRunner
    queue_size: int = 256
    dropped: int = 0
    failed: int = 0
    _queue: queue.Queue[_Call] = field(init=False)
    _worker: threading.Thread | None = field(default=None, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)

    def __post_init__(self) -> None:
        self._queue = queue.Queue(maxsize=self.queue_size)

    def run(
        self, canary: Canary, hooks: Sequence[Webhook], payload: Mapping[str, object]
    ) -> GateResult:
        self._start()
        try:
            self._queue.put_nowait(_Call(canary, tuple(hooks), dict(payload)))
        except queue.Full:
            with self._lock:
                self.dropped += 1
            log.warning("event webhook dropped: queue full", canary=canary.metadata.name)
            return GateResult(passed=False, message="dropped: queue full")
        return GateResult(passed=True, message="queued")

    def join(self, timeout: float) -> bool:
        """Whether every queued call was made within `timeout` seconds."""
        done = threading.Event()

        def wait() -> None:
            self._queue.join()
            done.set()

        threading.Thread(target=wait, daemon=True).start()
        return done.wait(timeout)

    def _start(self) -> None:
        with self._lock:
            if self._worker is None:
                self._worker = threading.Thread(target=self._work, name="event-hooks", daemon=True)
                self._worker.start()

    def _work(self) -> None:
        while True:
            call = self._queue.get()
            try:
                answer = self.runner.run(call.canary, call.hooks, call.payload)
            except (
                Exception
            ) as error:  # the runner's contract is never to raise; a bug must not stop the worker
                answer = GateResult(passed=False, message=type(error).__name__)
            finally:
                self._queue.task_done()
            if not answer.passed:
                with self._lock:
                    self.failed += 1
                log.warning(
                    "event webhook failed",
                    canary=call.canary.metadata.name,
                    namespace=call.canary.metadata.namespace,
                    message=answer.message,
                )
