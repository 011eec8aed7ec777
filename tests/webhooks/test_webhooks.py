"""Webhooks against local HTTP receivers: payload, signature, retries, timeout, status, gates."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from canary.analysis.results import CheckResult, Verdict
from canary.api.canary import Canary, Webhook
from canary.metrics.secrets import StaticSecrets
from canary.webhooks import SIGNATURE_HEADER, HttpWebhookRunner, payload_context, verify

NOW = datetime(2026, 1, 1, 0, 5, tzinfo=UTC)


@dataclass
class Receiver:
    """Answers each POST with `answer(n)` -> (status, delay); records bodies and headers."""

    answer: Callable[[int], tuple[int, float]] = lambda n: (200, 0.0)
    bodies: list[bytes] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)


@contextmanager
def receiving(receiver: Receiver) -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            receiver.bodies.append(body)
            receiver.headers.append(dict(self.headers.items()))
            status, delay = receiver.answer(len(receiver.bodies))
            time.sleep(delay)
            try:
                self.send_response(status)
                self.send_header("Content-Length", "6")
                self.end_headers()
                self.wfile.write(b"closed")
            except OSError:
                pass

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook"
    finally:
        server.shutdown()
        server.server_close()


def subject() -> Canary:
    return Canary.model_validate(
        {
            "metadata": {"name": "podinfo", "namespace": "test"},
            "spec": {"targetRef": {"name": "podinfo"}, "service": {"port": 80}},
            "status": {
                "phase": "Progressing",
                "canaryWeight": 20,
                "step": 1,
                "lastAppliedSpec": "abc123",
            },
        }
    )


def hook(url: str, **fields: Any) -> Webhook:
    return Webhook.model_validate(
        {"name": "gate", "type": "confirm-promotion", "url": url, **fields}
    )


class Sleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def runner(secrets: StaticSecrets | None = None, sleeps: Sleeps | None = None) -> HttpWebhookRunner:
    return HttpWebhookRunner(
        secrets or StaticSecrets(),
        sleep=sleeps if sleeps is not None else Sleeps(),
        clock=lambda: NOW,
    )


def test_the_payload_carries_the_rollout_state_and_is_signed() -> None:
    receiver = Receiver()
    secrets = StaticSecrets({("test", "hook-key", "key"): "shh"})
    result = CheckResult("request-success-rate", Verdict.PASS, 99.5, 99.9, ">= 99", "ok")
    context = payload_context(canary_images=["app:2"], primary_images=["app:1"], results=[result])
    with receiving(receiver) as url:
        gate = runner(secrets).run(
            subject(),
            [hook(url, signingSecretRef={"name": "hook-key"}, metadata={"cmd": "hey"})],
            context,
        )
    assert gate.passed
    body = receiver.bodies[0]
    assert verify(body, "shh", receiver.headers[0][SIGNATURE_HEADER])
    assert receiver.headers[0][SIGNATURE_HEADER].startswith("sha256=")
    payload = json.loads(body)
    assert payload == {
        "name": "podinfo",
        "namespace": "test",
        "phase": "Progressing",
        "checksum": "abc123",
        "type": "confirm-promotion",
        "webhook": "gate",
        "canaryWeight": 20,
        "mirrorWeight": 0,
        "step": 1,
        "iterations": 0,
        "failedChecks": 0,
        "canaryImages": ["app:2"],
        "primaryImages": ["app:1"],
        "analysis": [result.to_dict()],
        "metadata": {"cmd": "hey"},
        "timestamp": "2026-01-01T00:05:00Z",
    }


@pytest.mark.parametrize("status", [200, 201, 202, 204])
def test_any_2xx_is_success(status: int) -> None:
    with receiving(Receiver(answer=lambda n: (status, 0.0))) as url:
        assert runner().run(subject(), [hook(url)], {}).passed


@pytest.mark.parametrize(
    ("statuses", "retries", "passed", "calls", "sleeps"),
    [
        pytest.param([503, 503, 200], 2, True, 3, [0.5, 1.0], id="recovers-on-third-attempt"),
        pytest.param([500, 502, 503, 504], 3, False, 4, [0.5, 1.0, 2.0], id="retries-exhausted"),
        pytest.param([403], 5, False, 1, [], id="4xx-is-an-answer-not-retried"),
        pytest.param([429, 200], 1, True, 2, [0.5], id="429-is-retried"),
    ],
)
def test_retries_back_off_exponentially_on_transient_failures(
    statuses: list[int], retries: int, passed: bool, calls: int, sleeps: list[float]
) -> None:
    receiver = Receiver(answer=lambda n: (statuses[min(n, len(statuses)) - 1], 0.0))
    slept = Sleeps()
    with receiving(receiver) as url:
        gate = runner(sleeps=slept).run(subject(), [hook(url, retries=retries)], {})
    assert (gate.passed, len(receiver.bodies), list(slept)) == (passed, calls, sleeps)


def test_a_non_2xx_answer_is_reported_with_its_status_and_body() -> None:
    with receiving(Receiver(answer=lambda n: (403, 0.0))) as url:
        gate = runner().run(subject(), [hook(url)], {})
    assert gate == type(gate)(passed=False, message="gate: HTTP 403 (closed) after 1 attempt")


def test_a_slow_receiver_is_cut_off_at_the_hooks_timeout() -> None:
    with receiving(Receiver(answer=lambda n: (200, 1.5))) as url:
        started = time.monotonic()
        gate = runner().run(subject(), [hook(url, timeout="200ms")], {})
        elapsed = time.monotonic() - started
    assert not gate.passed
    assert "no answer within 200ms" in gate.message
    assert elapsed < 1.0


def test_an_unreachable_receiver_is_a_closed_gate_not_an_exception() -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    gate = runner().run(subject(), [hook(f"http://127.0.0.1:{port}/hook", retries=1)], {})
    assert not gate.passed
    assert "cannot reach" in gate.message


def test_a_confirm_gate_opens_after_a_while_and_never_raises_meanwhile() -> None:
    opened_at = 3
    receiver = Receiver(answer=lambda n: (200 if n >= opened_at else 403, 0.0))
    with receiving(receiver) as url:
        gates = [runner().run(subject(), [hook(url, type="confirm-rollout")], {}) for _ in range(4)]
    assert [g.passed for g in gates] == [False, False, True, True]


def test_a_missing_signing_secret_sends_nothing_and_names_the_secret_not_a_value() -> None:
    receiver = Receiver()
    with receiving(receiver) as url:
        gate = runner().run(
            subject(), [hook(url, signingSecretRef={"name": "nope", "key": "k"})], {}
        )
    assert (gate.passed, receiver.bodies) == (False, [])
    assert "secret test/nope has no key 'k'" in gate.message


@pytest.mark.parametrize(
    ("hook_type", "calls"),
    [("confirm-rollout", 1), ("pre-rollout", 1), ("event", 2), ("post-rollout", 2)],
)
def test_gates_stop_at_the_first_failure_and_notifications_reach_every_hook(
    hook_type: str, calls: int
) -> None:
    receiver = Receiver(answer=lambda n: (500, 0.0))
    with receiving(receiver) as url:
        hooks = [hook(url, name=f"h{i}", type=hook_type) for i in range(2)]
        gate = runner().run(
            subject(), hooks, payload_context(event_message="Advance", event_type="Normal")
        )
    assert (gate.passed, len(receiver.bodies)) == (False, calls)


def test_event_hooks_carry_the_event_in_metadata_as_flagger_does() -> None:
    receiver = Receiver()
    with receiving(receiver) as url:
        runner().run(
            subject(),
            [hook(url, type="event")],
            payload_context(event_message="Advance podinfo", event_type="Normal"),
        )
    metadata = json.loads(receiver.bodies[0])["metadata"]
    assert metadata == {
        "eventMessage": "Advance podinfo",
        "eventType": "Normal",
        "timestamp": "1767225900000",
    }
