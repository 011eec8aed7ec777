"""Queued `event` webhooks: delivered by a worker, never blocking the caller, dropped when full."""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping, Sequence

from canary.api.canary import Canary, Webhook
from canary.engine.types import GateResult
from canary.webhook_events import QueuedWebhooks
from canary.webhooks import payload_context
from tests.webhooks.test_webhooks import Receiver, receiving, runner, subject


def event_hook(url: str) -> Webhook:
    return Webhook.model_validate({"name": "audit", "type": "event", "url": url})


class Blocked:
    """A runner stuck until `release` is set (a receiver that does not answer)."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.started = threading.Event()
        self.calls = 0

    def run(
        self, canary: Canary, hooks: Sequence[Webhook], payload: Mapping[str, object]
    ) -> GateResult:
        self.calls += 1
        self.started.set()
        self.release.wait(30)
        return GateResult(passed=True)


class Raising:
    def __init__(self) -> None:
        self.calls = 0

    def run(
        self, canary: Canary, hooks: Sequence[Webhook], payload: Mapping[str, object]
    ) -> GateResult:
        self.calls += 1
        raise RuntimeError("a bug")


def test_queued_events_reach_the_receiver_with_flaggers_metadata() -> None:
    receiver = Receiver()
    with receiving(receiver) as url:
        queued = QueuedWebhooks(runner())
        for message in ("New revision detected", "Promotion completed"):
            context = payload_context(event_message=message, event_type="Normal")
            assert queued.run(subject(), [event_hook(url)], context).passed
        assert queued.join(timeout=30)
    metadata = [json.loads(body)["metadata"] for body in receiver.bodies]
    assert [m["eventMessage"] for m in metadata] == ["New revision detected", "Promotion completed"]
    assert {m["eventType"] for m in metadata} == {"Normal"}
    assert all(m["timestamp"].isdigit() for m in metadata)
    assert queued.failed == 0


def test_a_stuck_receiver_never_blocks_the_caller_and_a_full_queue_drops() -> None:
    stuck = Blocked()
    queued = QueuedWebhooks(stuck, queue_size=2)
    hook = event_hook("http://audit.example/")
    # The first call occupies the worker; two more fill the queue; the fourth is dropped.
    first = queued.run(subject(), [hook], {})
    assert stuck.started.wait(30)
    answers = [first, *(queued.run(subject(), [hook], {}) for _ in range(3))]
    assert [a.passed for a in answers] == [True, True, True, False]
    stuck.release.set()
    assert queued.join(timeout=30)
    assert (queued.dropped, stuck.calls) == (1, 3)


def test_a_runner_that_raises_is_counted_and_the_worker_goes_on() -> None:
    raising = Raising()
    queued = QueuedWebhooks(raising)
    hook = event_hook("http://audit.example/")
    for _ in range(3):
        queued.run(subject(), [hook], {})
    assert queued.join(timeout=30)
    assert (raising.calls, queued.failed) == (3, 3)
