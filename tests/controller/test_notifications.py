"""Notifications from the running controller (issue 14): one message per transition over whole
rollouts, the rollback's failing metric and blast radius, a hanging receiver that slows nothing,
and no Secret value in logs, Events, status or metrics.

The AlertProvider and its Secret are real objects in the API; messages go to a local CloudEvents
receiver (the generic webhook), parsed back with the cloudevents SDK.
"""

from __future__ import annotations

import base64
import json
import logging
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pytest
from cloudevents.core.bindings.http import HTTPMessage, from_http_event
from prometheus_client import CollectorRegistry, generate_latest

from canary.analysis.results import CheckResult, Verdict
from canary.api.canary import Canary
from canary.engine.types import TrafficSample
from canary.kube.sources import KubeSecrets
from canary.notify.delivery import Dispatcher
from canary.notify.sources import KubeAlertProviders
from canary.protocols import AnalysisOutcome
from tests.controller.kube_harness import Harness, raw
from tests.notify.receivers import Answer, Receiver, receiver

pytestmark = pytest.mark.timeout(120)
V1 = "ghcr.io/stefanprodan/podinfo:6.0.1"
TOKEN = "Zq7SECRETpath"
METRIC = {"name": "request-success-rate", "thresholdRange": {"min": 99}, "interval": "1m"}


@dataclass
class FailingAnalyzer:
    """Every metric fails (value 93.0); the canary serves 100 requests an interval, 7 failing."""

    def traffic(
        self, canary: Canary, at: datetime, *, since: datetime | None = None
    ) -> TrafficSample | None:
        return None  # the sequential test's guard sees no traffic here

    def analyze(
        self, canary: Canary, at: datetime, *, traffic_since: datetime | None = None
    ) -> AnalysisOutcome:
        results = [
            CheckResult(m.name, Verdict.FAIL, 93.0, 99.9, ">= 99", "93 < 99", {"samples": 12})
            for m in canary.spec.analysis.metrics
        ]
        return AnalysisOutcome(results, TrafficSample(100, 7, 900, 1))


def given_provider(harness: Harness, url: str, timeout: str = "10s") -> None:
    ns = harness.namespace
    secret = {
        "metadata": {"name": "hook", "namespace": ns},
        "data": {"address": base64.b64encode(url.encode()).decode()},
    }
    raw(harness.kube.core.create_namespaced_secret, ns, secret)
    provider = {
        "apiVersion": "canary.dev/v1alpha1",
        "kind": "AlertProvider",
        "metadata": {"name": "team", "namespace": ns},
        "spec": {
            "type": "webhook",
            "secretRef": {"name": "hook"},
            "timeout": timeout,
            "fields": {"environment": "production"},
        },
    }
    raw(
        harness.kube.custom.create_namespaced_custom_object,
        "canary.dev",
        "v1alpha1",
        ns,
        "alertproviders",
        provider,
    )


@pytest.fixture
def wired(harness: Harness) -> Iterator[tuple[Harness, Dispatcher, CollectorRegistry]]:
    harness.env.require_emulator()
    registry = CollectorRegistry()
    dispatcher = Dispatcher(
        KubeAlertProviders(harness.kube),
        KubeSecrets(harness.kube),
        cluster="prod-eu-1",
        registry=registry,
        clock=harness.clock,
        sleep=lambda _: None,
    )
    harness.reconciler.notifier = dispatcher
    yield harness, dispatcher, registry
    dispatcher.close()


def events_of(rx: Receiver) -> list[Any]:
    return [from_http_event(HTTPMessage(headers=r.headers, body=r.body)) for r in rx.requests]


def kinds(rx: Receiver) -> Counter[str]:
    return Counter(e.get_type().removeprefix("dev.canary.rollout.") for e in events_of(rx))


ALERTS = [{"name": "team", "providerRef": {"name": "team"}}]


def test_a_rollout_with_a_waiting_gate_sends_one_message_per_transition(
    wired: tuple[Harness, Dispatcher, CollectorRegistry],
) -> None:
    harness, dispatcher, registry = wired
    with receiver() as rx:
        given_provider(harness, rx.url())
        hooks = [{"name": "approve", "type": "confirm-rollout", "url": "http://127.0.0.1:1/x"}]
        harness.given_initialized(
            alerts=ALERTS, analysis={"interval": "1s", "threshold": 2, "webhooks": hooks}
        )
        harness.webhooks.open = False
        harness.update_target(V1)
        harness.run_until(lambda: harness.phase() == "Waiting")
        for _ in range(8):  # eight intervals of waiting for approval
            harness.tick()
        assert harness.phase() == "Waiting"
        harness.webhooks.open = True
        harness.run_until(lambda: harness.phase() == "Succeeded")
        for _ in range(5):  # at rest after the rollout: nothing more is said
            harness.tick()
        assert dispatcher.drain()
    assert kinds(rx) == {
        "initialized": 1,
        "waiting": 1,
        "started": 1,
        "step": 2,  # 25% and 50%
        "promoting": 1,
        "succeeded": 1,
    }
    started = next(e for e in events_of(rx) if e.get_type().endswith(".started"))
    data = started.get_data()
    assert data["cluster"] == "prod-eu-1"
    assert data["facts"]["New image"] == V1
    assert data["facts"]["Old image"] == "ghcr.io/stefanprodan/podinfo:6.0.0"
    assert data["fields"] == {"environment": "production"}
    sent = generate_latest(registry).decode()
    assert 'canary_notifications_total{provider="' in sent
    assert 'result="sent",type="step"} 2.0' in sent


def test_a_rollback_message_carries_the_failing_metric_and_the_blast_radius(
    wired: tuple[Harness, Dispatcher, CollectorRegistry],
) -> None:
    harness, dispatcher, _ = wired
    with receiver() as rx:
        given_provider(harness, rx.url())
        harness.given_initialized(
            alerts=[{**ALERTS[0], "severity": "error"}],
            analysis={"interval": "1s", "threshold": 2, "metrics": [METRIC]},
        )
        harness.reconciler.analyzer = FailingAnalyzer()
        harness.update_target(V1)
        harness.run_until(lambda: harness.phase() == "Failed")
        assert dispatcher.drain()
    (event,) = events_of(rx)  # severity error: only the rollback
    assert event.get_type() == "dev.canary.rollout.rolledback"
    data = event.get_data()
    assert data["failingMetric"]["name"] == "request-success-rate"
    assert data["failingMetric"]["value"] == "93"
    assert data["failingMetric"]["threshold"] == ">= 99"
    served = harness.status()["blastRadius"]
    assert served["requests"] > 0
    assert served["failures"] == served["requests"] * 7 // 100
    assert data["blastRadius"] == served


def test_a_hanging_receiver_does_not_slow_the_rollout(
    wired: tuple[Harness, Dispatcher, CollectorRegistry],
) -> None:
    harness, dispatcher, _ = wired
    with receiver(default=Answer(200, b"", delay=4.0)) as rx:
        given_provider(harness, rx.url(), timeout="3s")
        harness.given_initialized(alerts=ALERTS)
        harness.update_target(V1)
        slowest = 0.0
        for _ in range(60):
            if harness.phase() == "Succeeded":
                break
            started = time.monotonic()
            harness.tick()
            slowest = max(slowest, time.monotonic() - started)
        assert harness.phase() == "Succeeded"
        # Each reconcile only queues; a send that hangs 4 s (cut at 3 s) is never waited for.
        assert slowest < 2.0
        history = harness.status()["history"]
        steps = [h for h in history if h.get("canaryWeight") in (25, 50)]
        assert len(steps) >= 2
        dispatcher.close()


def test_no_secret_value_in_logs_events_status_or_metrics(
    wired: tuple[Harness, Dispatcher, CollectorRegistry],
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    harness, dispatcher, registry = wired
    caplog.set_level(logging.DEBUG)
    with receiver(default=Answer(500, b"down")) as rx:
        url = rx.url(f"/hooks/{TOKEN}")
        given_provider(harness, url)
        harness.given_initialized(
            alerts=ALERTS, analysis={"interval": "1s", "threshold": 2, "metrics": [METRIC]}
        )
        harness.reconciler.analyzer = FailingAnalyzer()
        harness.update_target(V1)
        harness.run_until(lambda: harness.phase() == "Failed")
        assert dispatcher.drain()
    assert rx.requests  # the messages were really attempted, with the secret URL
    printed = capsys.readouterr()
    everything = "\n".join(
        [
            caplog.text,
            printed.out,
            printed.err,
            json.dumps(harness.events()),
            json.dumps(harness.status()),
            generate_latest(registry).decode(),
        ]
    )
    assert "notification failed after retries" in everything
    assert TOKEN not in everything


def test_notify_test_sends_a_sample_message_through_the_provider(
    harness: Harness, capsys: pytest.CaptureFixture[str]
) -> None:
    from canary.cli import main

    kubeconfig = str(harness.env.kubeconfig)
    with receiver() as rx:
        given_provider(harness, rx.url(f"/hooks/{TOKEN}"))
        code = main(["notify", "test", "team", "-n", harness.namespace, "--kubeconfig", kubeconfig,
                     "--cluster-name", "staging"])  # fmt: skip
    assert code == 0
    (event,) = events_of(rx)
    assert event.get_type() == "dev.canary.rollout.test"
    assert event.get_data()["cluster"] == "staging"
    assert event.get_data()["fields"] == {"environment": "production"}
    out = capsys.readouterr()
    assert "sent a test message through" in out.out
    assert TOKEN not in out.out + out.err


def test_notify_test_says_why_it_could_not_send(
    harness: Harness, capsys: pytest.CaptureFixture[str]
) -> None:
    from canary.cli import main

    kubeconfig = str(harness.env.kubeconfig)
    args = ["-n", harness.namespace, "--kubeconfig", kubeconfig]
    assert main(["notify", "test", "absent", *args]) == 1
    assert "alert provider" in capsys.readouterr().err
    with receiver(default=Answer(404, b"no_service")) as rx:
        given_provider(harness, rx.url(f"/hooks/{TOKEN}"))
        assert main(["notify", "test", "team", *args]) == 1
    err = capsys.readouterr().err
    assert "HTTP 404" in err
    assert TOKEN not in err


def test_an_operators_abort_is_sent_once_with_the_request_that_asked(
    wired: tuple[Harness, Dispatcher, CollectorRegistry],
) -> None:
    harness, dispatcher, _ = wired
    with receiver() as rx:
        given_provider(harness, rx.url())
        harness.given_initialized(alerts=[{**ALERTS[0], "severity": "warn"}])
        harness.update_target(V1)
        harness.run_until(lambda: harness.phase() == "Progressing")
        harness.tick()
        request = {"canary.dev/request": "abort/alice-2026-03-01"}
        harness.patch_canary({"metadata": {"annotations": request}})
        harness.run_until(lambda: harness.phase() == "Aborted")
        for _ in range(4):
            harness.tick()
        assert dispatcher.drain()
    assert kinds(rx) == {"aborted": 1}  # warn: no info messages (started, steps)
    (event,) = events_of(rx)
    assert "abort/alice-2026-03-01" in event.get_data()["message"]
