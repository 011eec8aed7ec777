"""Delivery: retries on 429 (Retry-After) and 5xx, drops counted, a full queue never blocks."""

from __future__ import annotations

import logging
import time
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from canary.api.alert_provider import AlertProvider
from canary.engine.types import Notify
from canary.metrics.secrets import StaticSecrets
from canary.notify.delivery import Dispatcher, Transient, send_with_retries
from canary.notify.slack import SlackProvider
from tests.notify.conftest import canary, destination, rollback_message
from tests.notify.receivers import Answer, receiver

ALERTS = [{"name": "team", "providerRef": {"name": "team"}}]
ROLLBACK = Notify("error", "Rolled back: threshold reached", transition="rolledback")


class Providers:
    def __init__(self, **specs: dict[str, Any]) -> None:
        self.items = {
            name: AlertProvider.model_validate(
                {"metadata": {"name": name, "namespace": "shop"}, "spec": spec}
            )
            for name, spec in specs.items()
        }

    def get(self, namespace: str, name: str) -> AlertProvider | None:
        return self.items.get(name) if namespace == "shop" else None


def dispatcher(url: str, kind: str = "slack", **options: Any) -> tuple[Dispatcher, list[float]]:
    waits: list[float] = []
    secrets = StaticSecrets({("shop", "team-secret", "address"): url})
    providers = Providers(
        team={"type": kind, "secretRef": {"name": "team-secret"}, "timeout": "1s"}
    )
    options.setdefault("sleep", waits.append)
    options.setdefault("registry", CollectorRegistry())
    return Dispatcher(providers, secrets, cluster="prod", **options), waits


def count(d: Dispatcher, result: str) -> float:
    value = d.counter.labels("shop/team", "rolledback", result)._value.get()
    return float(value)


def test_a_429_is_retried_after_the_seconds_retry_after_asks() -> None:
    limited = Answer(429, b'{"ok":false}', {"Retry-After": "7"})
    with receiver(limited, Answer(200, b"ok")) as rx:
        d, waits = dispatcher(rx.url())
        d.notify(canary(ALERTS), ROLLBACK)
        assert d.drain()
    assert len(rx.requests) == 2
    assert waits == [7.0]
    assert rx.requests[0].body == rx.requests[1].body
    assert count(d, "sent") == 1


def test_discords_json_retry_after_is_honoured_and_capped() -> None:
    limited = Answer(429, b'{"message":"slow","retry_after":1200.5,"global":false}')
    with receiver(limited, Answer(204, b"")) as rx:
        d, waits = dispatcher(rx.url(), kind="discord", max_wait=30)
        d.notify(canary(ALERTS), ROLLBACK)
        assert d.drain()
    assert waits == [30]
    assert count(d, "sent") == 1


def test_server_errors_are_retried_with_growing_backoff_then_dropped_and_counted() -> None:
    with receiver(default=Answer(503, b"unavailable")) as rx:
        d, waits = dispatcher(rx.url(), kind="webhook", attempts=4)
        d.notify(canary(ALERTS), ROLLBACK)
        assert d.drain()
    assert len(rx.requests) == 4
    assert len(waits) == 3
    assert waits[0] < waits[2]
    assert count(d, "failed") == 1
    assert count(d, "sent") == 0


def test_a_500_then_success_is_sent_once() -> None:
    with receiver(Answer(500, b"oops"), Answer(202, b"")) as rx:
        d, _ = dispatcher(rx.url(), kind="msteams")
        d.notify(canary(ALERTS), ROLLBACK)
        assert d.drain()
    assert len(rx.requests) == 2
    assert count(d, "sent") == 1


def test_a_refusal_is_not_retried() -> None:
    with receiver(default=Answer(404, b"channel_not_found")) as rx:
        d, waits = dispatcher(rx.url())
        d.notify(canary(ALERTS), ROLLBACK)
        assert d.drain()
    assert len(rx.requests) == 1
    assert waits == []
    assert count(d, "failed") == 1


def test_a_hanging_receiver_is_cut_off_by_the_send_timeout() -> None:
    with receiver(Answer(200, b"ok", delay=3.0), Answer(200, b"ok")) as rx:
        started = time.monotonic()
        with pytest.raises(Transient):
            send_with_retries(
                SlackProvider(),
                rollback_message(),
                destination("slack", rx.url(), timeout=0.3),  # slack_sdk: whole seconds, so 1 s
                attempts=1,
                sleep=lambda _: None,
            )
        assert time.monotonic() - started < 2.5  # the timeout, not the receiver, ended it


def test_notify_never_blocks_a_full_queue_drops_and_counts() -> None:
    with receiver(default=Answer(200, b"ok", delay=0.5)) as rx:
        d, _ = dispatcher(rx.url(), queue_size=1)
        started = time.monotonic()
        for _ in range(5):
            d.notify(canary(ALERTS), ROLLBACK)
        elapsed = time.monotonic() - started
        assert d.drain(timeout=10)
    assert elapsed < 0.4
    assert count(d, "dropped") >= 3
    assert count(d, "sent") + count(d, "dropped") == 5


def test_a_missing_secret_drops_the_message_with_a_reason() -> None:
    d = Dispatcher(
        Providers(team={"type": "slack", "secretRef": {"name": "absent"}}),
        StaticSecrets(),
        registry=CollectorRegistry(),
    )
    d.notify(canary(ALERTS), ROLLBACK)
    assert d.drain()
    assert count(d, "dropped") == 1


def test_a_canary_without_alerts_and_no_default_queues_nothing() -> None:
    d, _ = dispatcher("http://127.0.0.1:9/x")
    d.notify(canary(), ROLLBACK)
    assert d.queue.unfinished_tasks == 0


def test_no_secret_value_reaches_logs_or_metrics(
    caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    token = "T0SECRET/B0SECRET/xyzSECRETxyz"
    with receiver(default=Answer(500, b"err")) as rx:
        url = rx.url(f"/services/{token}")
        registry = CollectorRegistry()
        d, _ = dispatcher(url, attempts=2, registry=registry)
        caplog.set_level(logging.DEBUG)
        d.notify(canary(ALERTS), ROLLBACK)
        assert d.drain()
    # A hook that cannot be reached at all: the network error must not carry the URL either.
    d2, _ = dispatcher(f"http://127.0.0.1:9/services/{token}", attempts=1)
    d2.notify(canary(ALERTS), ROLLBACK)
    assert d2.drain()
    printed = capsys.readouterr()
    text = caplog.text + printed.out + printed.err + generate_latest(registry).decode()
    assert "notification failed after retries" in text  # the logs were captured
    assert "canary_notifications_total" in text
    assert "SECRET" not in text


def test_a_slack_bot_tokens_429_is_retried_after_retry_after() -> None:
    limited = Answer(429, b'{"ok":false,"error":"ratelimited"}', {"Retry-After": "3"})
    accepted = Answer(200, b'{"ok":true,"channel":"C1","ts":"1.1"}')
    with receiver(limited, accepted) as rx:
        waits: list[float] = []
        reply = send_with_retries(
            SlackProvider(),
            rollback_message(),
            destination("slack", rx.url("/api/"), token="xoxb-1", channel="C1"),
            sleep=waits.append,
        )
    assert reply.ok
    assert waits == [3.0]
    assert len(rx.requests) == 2


def test_a_slack_refusal_with_ok_false_is_not_retried() -> None:
    refused = Answer(200, b'{"ok":false,"error":"channel_not_found"}')
    with receiver(default=refused) as rx:
        reply = send_with_retries(
            SlackProvider(),
            rollback_message(),
            destination("slack", rx.url("/api/"), token="xoxb-1", channel="C1"),
            sleep=lambda _: None,
        )
    assert not reply.ok
    assert reply.detail == "channel_not_found"
    assert len(rx.requests) == 1
