"""No secret in logs, Events, status or /metrics: rollouts with every kind of credential, then a grep of every exit.

Given Secrets for a bearer token, basic auth, a webhook signing key, an AlertProvider's address
and token, a Secret value that is not UTF-8, webhook and Prometheus URLs with user-info, and
servers that echo the request (Authorization header included) in their error answers;
when a real reconciler (real analyzer, webhook runner, metrics) rolls a new revision out;
then no secret value, nor its base64, appears in any log line, Event, the status or /metrics,
while the redaction marker does (the secrets did reach those exits, and were caught there).
"""

from __future__ import annotations

import base64
import io
import json
import logging
import sys
import threading
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import structlog

from canary import redact
from canary.api.canary import Canary
from canary.controller import logs
from canary.controller.endpoints import Endpoints
from canary.controller.metrics import ControllerMetrics
from canary.controller.reconcile import Reconciler
from canary.engine.types import Notify
from canary.kube.client import raw
from canary.kube.istio import IstioRouter
from canary.kube.sources import KubeSecrets, KubeTemplates
from canary.metrics.analyzer import MetricAnalyzer, PrometheusProviders
from canary.metrics.prometheus import PrometheusProvider
from canary.webhooks import HttpWebhookRunner
from tests.controller.kube_harness import Harness

JSON = dict[str, Any]

# Each value is distinct and long enough to be found by a grep.
BEARER = "bearer-TOKEN-7f3a9c1d"
BASIC_USER = "basic-USER-51ce02"
BASIC_PASSWORD = "basic-PASSWORD-c0ffee42"
SIGNING_KEY = "hmac-SIGNING-KEY-9b8a7c"
ALERT_TOKEN = "alert-TOKEN-d15ea5e0"
ALERT_URL_PASSWORD = "alert-URL-PASS-4242aa"
HOOK_URL_USER, HOOK_URL_PASSWORD = "hook-URL-USER-1a2b", "hook-URL-PASS-3c4d5e"
PROM_URL_USER, PROM_URL_PASSWORD = "prom-URL-USER-6f7a", "prom-URL-PASS-8b9c0d"
NOT_UTF8 = b"\xff\xfeNOT-UTF8-SECRET-77aa\xc3"
SECRET_TEXTS = [
    BEARER,
    BASIC_USER,
    BASIC_PASSWORD,
    SIGNING_KEY,
    ALERT_TOKEN,
    ALERT_URL_PASSWORD,
    HOOK_URL_USER,
    HOOK_URL_PASSWORD,
    PROM_URL_USER,
    PROM_URL_PASSWORD,
    f"{BASIC_USER}:{BASIC_PASSWORD}",
    f"{HOOK_URL_USER}:{HOOK_URL_PASSWORD}",
    f"{PROM_URL_USER}:{PROM_URL_PASSWORD}",
]


def forbidden_strings() -> list[str]:
    """Every secret, its base64 forms, and what would betray the non-UTF-8 value."""
    found = []
    for text in SECRET_TEXTS:
        encoded = base64.b64encode(text.encode()).decode()
        found += [text, encoded, encoded.rstrip("=")]
    found += ["NOT-UTF8-SECRET", base64.b64encode(NOT_UTF8).decode(), "0xff", "in position"]
    return found


class Echo(BaseHTTPRequestHandler):
    """Answers like a server that repeats the request it refused, headers and all."""

    def do_GET(self) -> None:
        self._answer()

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self._answer()

    def _answer(self) -> None:
        if self.path.startswith("/ok"):
            self._send(200, b"{}")
            return
        # Credentials first, so that a message cut to its first 200 characters still holds them.
        echoed = dict(sorted(self.headers.items(), key=lambda kv: kv[0].lower() != "authorization"))
        if self.path.startswith("/api/v1/"):
            text = f"bad_data: refused {self.path} with headers {echoed}"
            body = json.dumps({"status": "error", "errorType": "bad_data", "error": text})
            self._send(400, body.encode())
        else:
            self._send(500, f"denied; you sent {json.dumps(echoed)}".encode())

    def _send(self, code: int, body: bytes) -> None:
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        return


@contextmanager
def echo_server() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Echo)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()


class EchoingNotifier:
    """An alert destination whose failures quote the URL and the headers it sent."""

    def __init__(self, secrets: KubeSecrets) -> None:
        self.secrets = secrets
        self.posts = 0

    def notify(self, canary: Canary, event: Notify, images: tuple[str, str]) -> None:
        where = canary.metadata.namespace
        address = self.secrets.read(where, "alerts", "address")
        token = self.secrets.read(where, "alerts", "token")
        self.posts += 1
        raise RuntimeError(
            f"POST {address} answered 401; sent Authorization: Bearer {token} and "
            f"X-Alert-Token={token}"
        )


def secret(name: str, **data: bytes) -> JSON:
    return {
        "metadata": {"name": name},
        "data": {k: base64.b64encode(v).decode() for k, v in data.items()},
    }


def template(name: str, port: int, **provider: Any) -> JSON:
    return {
        "apiVersion": "canary.dev/v1alpha1",
        "kind": "MetricTemplate",
        "metadata": {"name": name},
        "spec": {
            "provider": {"address": f"http://127.0.0.1:{port}", **provider},
            "query": 'sum(rate(requests_total{app="{{ target }}"}[{{ interval }}]))',
        },
    }


@pytest.fixture
def captured_logs(monkeypatch: pytest.MonkeyPatch) -> Iterator[io.StringIO]:
    """Every structlog line the controller writes, as JSON, at debug level."""
    stream = io.StringIO()
    saved = structlog.get_config()
    monkeypatch.setattr(sys, "stderr", stream)
    logs.configure("json", "debug")
    yield stream
    structlog.configure(**saved)


def test_no_secret_reaches_a_log_line_an_event_the_status_or_metrics(
    harness: Harness, captured_logs: io.StringIO, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    kube, ns = harness.kube, harness.namespace
    with echo_server() as port:
        alert_address = f"https://alerts:{ALERT_URL_PASSWORD}@127.0.0.1:{port}/hook"
        for body in (
            secret("prom-bearer", token=BEARER.encode()),
            secret("prom-basic", username=BASIC_USER.encode(), password=BASIC_PASSWORD.encode()),
            secret("hook-key", key=SIGNING_KEY.encode()),
            secret("bad-key", key=NOT_UTF8),
            secret("alerts", address=alert_address.encode(), token=ALERT_TOKEN.encode()),
        ):
            raw(kube.core.create_namespaced_secret, ns, body)
        for body in (
            template("bearer", port, bearerTokenSecretRef={"name": "prom-bearer"}),
            template("basic", port, basicAuth={"secretRef": {"name": "prom-basic"}}),
        ):
            raw(
                kube.custom.create_namespaced_custom_object,
                "canary.dev",
                "v1alpha1",
                ns,
                "metrictemplates",
                body,
            )

        hook_base = f"http://{HOOK_URL_USER}:{HOOK_URL_PASSWORD}@127.0.0.1:{port}"
        signed = {"signingSecretRef": {"name": "hook-key"}}
        webhooks = [
            {"name": "pre", "type": "pre-rollout", "url": f"{hook_base}/ok", **signed},
            {"name": "load", "type": "rollout", "url": f"{hook_base}/echo", **signed},
            {"name": "gone", "type": "post-rollout", "url": f"http://{HOOK_URL_USER}:"
             f"{HOOK_URL_PASSWORD}@127.0.0.1:1/after?token={HOOK_URL_PASSWORD}"},
            {"name": "badly-signed", "type": "post-rollout", "url": f"{hook_base}/ok",
             "signingSecretRef": {"name": "bad-key"}},
            {"name": "undo", "type": "rollback", "url": f"{hook_base}/echo", **signed},
        ]  # fmt: skip
        metrics = [
            {
                "name": "with-bearer",
                "templateRef": {"name": "bearer"},
                "thresholdRange": {"max": 1},
            },
            {"name": "with-basic", "templateRef": {"name": "basic"}, "thresholdRange": {"max": 1}},
            {"name": "request-success-rate", "thresholdRange": {"min": 99}},
        ]

        secrets = KubeSecrets(kube)
        observer = ControllerMetrics()
        notifier = EchoingNotifier(secrets)
        harness.reconciler = Reconciler(
            kube,
            IstioRouter(kube),
            MetricAnalyzer(
                PrometheusProvider(f"http://{PROM_URL_USER}:{PROM_URL_PASSWORD}@127.0.0.1:{port}"),
                templates=KubeTemplates(kube),
                providers=PrometheusProviders(secrets),
            ),
            HttpWebhookRunner(secrets, backoff=0.0),
            notifier,
            clock=harness.clock,
            observer=observer,
        )
        harness.given_target()
        harness.given_canary(
            analysis={"interval": "1s", "threshold": 3, "webhooks": webhooks, "metrics": metrics}
        )
        harness.run_until(lambda: harness.phase() == "Initialized")
        harness.update_target("ghcr.io/stefanprodan/podinfo:6.0.1")
        for _ in range(25):
            harness.tick()
            if harness.phase() in ("Failed", "Succeeded"):
                break

        endpoints = Endpoints("127.0.0.1:0", observer.registry, lambda: True, lambda: True)
        endpoints.start()
        try:
            url = f"http://127.0.0.1:{endpoints.port}/metrics"
            with urllib.request.urlopen(url, timeout=10) as answer:
                exposition = answer.read().decode()
        finally:
            endpoints.stop()

    events = raw(kube.core.list_namespaced_event, ns)["items"]
    exits = {
        "log lines": captured_logs.getvalue(),
        "stdlib log records": caplog.text,
        "Events": json.dumps(events),
        "status": json.dumps(harness.status()),
        "/metrics": exposition,
    }
    for where, text in exits.items():
        leaked = [s for s in forbidden_strings() if s in text]
        assert not leaked, f"{where} hold {leaked}"

    # Liveness: the credentials did reach these exits and were caught there, not missed.
    assert notifier.posts > 0
    assert redact.REDACTED in exits["status"]
    assert redact.REDACTED in exits["Events"]
    assert redact.REDACTED in exits["log lines"]
    assert "cannot reach http://[REDACTED]@127.0.0.1:1/after?token=[REDACTED]" in exits["log lines"]
    assert "secret " + ns + "/bad-key key 'key' is not UTF-8 text" in exits["log lines"]
    assert "canary_status" in exposition
