"""Liveness against the controller: real local HTTP gates that count their calls (issue 9, part 1).

The same table as tests/engine/test_liveness.py, on the emulator with a fake clock (1 s
intervals): every gate approving ends the run Succeeded in the same time as without webhooks; a
gate that never approves holds the run where docs/concepts/liveness.md says, with no Event
repeated and no gate asked more than once per interval, until a request ends it.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from canary.api.canary import WebhookType
from canary.webhooks import HttpWebhookRunner
from tests.controller.kube_harness import Harness

pytestmark = pytest.mark.timeout(120)
TYPES = [t for t in WebhookType if t != WebhookType.EVENT]
"""The controller calls no `event` webhooks (Events go to alert providers)."""
V0 = "ghcr.io/stefanprodan/podinfo:6.0.0"
V1, V2 = "ghcr.io/stefanprodan/podinfo:6.0.1", "ghcr.io/stefanprodan/podinfo:6.0.2"


@dataclass
class Gates:
    """An HTTP server on 127.0.0.1 with one path per webhook type; records when each is called."""

    clock: Callable[[], datetime]
    closed: set[str] = field(default_factory=set)
    """Types that answer 403 (never approve)."""
    calls: dict[str, list[datetime]] = field(default_factory=dict)
    port: int = 0

    def url(self, hook_type: WebhookType) -> str:
        return f"http://127.0.0.1:{self.port}/{hook_type}"

    def hooks(self, types: list[WebhookType]) -> list[dict[str, Any]]:
        return [
            {"name": f"gate-{t}", "type": str(t), "url": self.url(t), "timeout": "2s"}
            for t in types
        ]

    def count(self, hook_type: WebhookType) -> int:
        return len(self.calls.get(str(hook_type), []))


@contextmanager
def gate_server(clock: Callable[[], datetime]) -> Iterator[Gates]:
    gates = Gates(clock)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            hook_type = self.path.strip("/")
            gates.calls.setdefault(hook_type, []).append(gates.clock())
            # The rollback gate rolls back when it passes: "approving" means it stays closed.
            refuse = hook_type in gates.closed or hook_type == WebhookType.ROLLBACK
            self.send_response(403 if refuse else 200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *_: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    gates.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield gates
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def gates(harness: Harness) -> Iterator[Gates]:
    harness.env.require_emulator()  # the fake clock counts intervals exactly
    with gate_server(harness.clock) as server:
        runner = HttpWebhookRunner(clock=harness.clock)
        harness.reconciler.webhooks = runner
        yield server
        runner.close()


def roll_out(harness: Harness, image: str, done: str, limit: int = 60) -> float:
    """Seconds of (fake) time from the new image to phase `done`."""
    start = harness.clock()
    harness.update_target(image)
    harness.run_until(lambda: harness.phase() == "Progressing", limit=limit)
    harness.run_until(lambda: harness.phase() == done, limit=limit)
    return (harness.clock() - start).total_seconds()


def with_hooks(harness: Harness, hooks: list[dict[str, Any]], **spec: Any) -> None:
    analysis = {"interval": "1s", "threshold": 2, "webhooks": hooks}
    harness.patch_canary({"spec": {"analysis": analysis, **spec}})


def assert_at_most_once_per_interval(gates: Gates, interval: float = 1.0) -> None:
    for hook_type, times in gates.calls.items():
        gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(times)]
        assert all(gap >= interval for gap in gaps), (hook_type, gaps)


def event_counts(harness: Harness) -> dict[tuple[str, str], int]:
    return {(e["reason"], e["message"]): e.get("count", 1) for e in harness.events()}


STRATEGIES = {
    "canary": {"canary": {"stepWeight": 25, "maxWeight": 50}},
    "canary-mirror": {
        "canary": {"stepWeights": [30, 60], "mirror": {"percent": 50, "iterations": 1}}
    },
    "blue-green": {"blueGreen": {"iterations": 2}},
    "ab-testing": {"abTesting": {"iterations": 2, "match": [{"headers": {"x": {"exact": "1"}}}]}},
}


ROWS = [
    *(pytest.param(strategy, False, id=name) for name, strategy in STRATEGIES.items()),
    pytest.param(STRATEGIES["canary"], True, id="canary-skipAnalysis"),
]


@pytest.mark.parametrize(("strategy", "skip"), ROWS)
def test_approving_gates_end_the_run_succeeded_in_the_time_it_takes_without_them(
    harness: Harness, gates: Gates, strategy: dict[str, Any], skip: bool
) -> None:
    """Given a run without webhooks, when the same Canary with every kind of gate approving
    rolls out the next image, then it ends Succeeded in the same time; each gate was asked at
    most once per interval, pre-rollout and post-rollout once, and no Event was counted twice."""
    harness.given_initialized(strategy=strategy, skipAnalysis=skip)
    without = roll_out(harness, V1, "Succeeded")
    with_hooks(harness, gates.hooks(TYPES))
    harness.run_until(lambda: True)
    before = event_counts(harness)

    with_gates = roll_out(harness, V2, "Succeeded")

    assert with_gates == without
    assert harness.image("podinfo-primary") == V2
    assert_at_most_once_per_interval(gates)
    assert gates.count(WebhookType.PRE_ROLLOUT) == (0 if skip else 1)
    assert gates.count(WebhookType.POST_ROLLOUT) == 1
    assert gates.count(WebhookType.CONFIRM_ROLLOUT) == 1
    grown = {k: n - before.get(k, 0) for k, n in event_counts(harness).items()}
    assert all(n <= 1 for n in grown.values()), grown


HOLDS = [
    pytest.param(WebhookType.CONFIRM_ROLLOUT, "Waiting", 0, id="confirm-rollout"),
    pytest.param(WebhookType.CONFIRM_TRAFFIC_INCREASE, "Progressing", 0, id="traffic-increase"),
    pytest.param(WebhookType.CONFIRM_PROMOTION, "WaitingPromotion", 50, id="confirm-promotion"),
]


@pytest.mark.parametrize(("closed", "phase", "weight"), HOLDS)
def test_a_gate_that_never_approves_holds_the_run_until_an_abort_ends_it(
    harness: Harness, gates: Gates, closed: WebhookType, phase: str, weight: int
) -> None:
    """Given every gate but one approving, then the run holds where the docs say; while it
    holds, no Event's count grows and each gate is asked at most once per interval; an abort
    request ends it with all traffic on the primary."""
    harness.given_initialized(analysis={"interval": "1s", "webhooks": gates.hooks(TYPES)})
    gates.closed.add(str(closed))
    harness.update_target(V1)
    harness.run_until(lambda: gates.count(closed) > 0 and harness.phase() == phase)
    harness.run_until(lambda: harness.routes().canary == weight, limit=10)
    held = event_counts(harness)
    asked = gates.count(closed)

    for _ in range(6):
        harness.tick()
        assert (harness.phase(), harness.routes().canary) == (phase, weight)

    assert event_counts(harness) == held
    assert gates.count(closed) > asked  # still asking, once per interval
    assert gates.count(WebhookType.PRE_ROLLOUT) <= 1
    assert_at_most_once_per_interval(gates)
    harness.patch_canary({"metadata": {"annotations": {"canary.dev/request": "abort/1"}}})
    harness.run_until(lambda: harness.phase() == "Aborted", limit=5)
    assert harness.routes().primary == 100
    assert harness.image("podinfo-primary") == V0
