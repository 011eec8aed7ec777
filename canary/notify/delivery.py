"""Delivery outside the reconcile: a bounded queue, one worker, retries with backoff, counted.

A message never blocks or fails a rollout: `notify()` only builds the message and puts it on
the queue (dropping it, counted, when the queue is full); the worker resolves the providers and
their Secrets, renders and sends, retrying on 429 (honouring Retry-After), 5xx and timeouts.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

import structlog
from prometheus_client import CollectorRegistry, Counter
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt
from tenacity.wait import wait_exponential_jitter

from canary.api.alert_provider import AlertProvider
from canary.api.canary import Canary
from canary.api.common import parse_duration
from canary.engine.types import Notify
from canary.metrics.secrets import SecretError, SecretSource
from canary.notify.base import Destination, Provider, Reply
from canary.notify.cloudevent import CloudEventsProvider
from canary.notify.discord import DiscordProvider
from canary.notify.googlechat import GoogleChatProvider
from canary.notify.message import Message, build_message
from canary.notify.msteams import TeamsProvider
from canary.notify.routing import Route, routes
from canary.notify.slack import SlackProvider

log = structlog.get_logger("canary.notify")

PROVIDERS: dict[str, Provider] = {
    "slack": SlackProvider(),
    "msteams": TeamsProvider(),
    "discord": DiscordProvider(),
    "googlechat": GoogleChatProvider(),
    "webhook": CloudEventsProvider(),
}
"""A new service is one module with a Provider and one line here."""


class ProviderSource(Protocol):
    """Reads AlertProviders (the controller backs it with the API)."""

    def get(self, namespace: str, name: str) -> AlertProvider | None: ...


class NotifyError(Exception):
    """A provider cannot be used (missing, bad Secret); the message never holds a secret value."""


class Transient(Exception):
    """A send worth retrying: 429, 5xx, a timeout or a network error."""

    def __init__(self, reason: str, wait: float | None = None) -> None:
        super().__init__(reason)
        self.wait = wait


def resolve(
    route: Route, providers: ProviderSource, secrets: SecretSource
) -> tuple[Destination, dict[str, str]]:
    """The provider's destination (its Secret read now, never cached) and its extra fields.

    Raises NotifyError when the AlertProvider or a needed Secret key is missing.
    """
    provider = providers.get(route.namespace, route.name)
    if provider is None:
        raise NotifyError(
            f"alert provider {route.key} not found (list them with "
            f"`kubectl get alertproviders -n {route.namespace}`)"
        )
    spec = provider.spec
    ref = spec.secret_ref.name

    def read(key: str, *, required: bool) -> str:
        try:
            return secrets.read(route.namespace, ref, key)
        except SecretError as error:
            if required:
                raise NotifyError(f"alert provider {route.key}: {error}") from None
            return ""

    token = read("token", required=False) if spec.type == "slack" else ""
    address = read("address", required=not token)
    destination = Destination(
        type=str(spec.type),
        address=address,
        token=token,
        channel=spec.channel or "",
        username=spec.username,
        format=spec.format,
        proxy=spec.proxy,
        ca_bundle=spec.ca_bundle,
        timeout=parse_duration(spec.timeout),
    )
    if token and not destination.channel:
        raise NotifyError(f"alert provider {route.key}: a Slack bot token needs spec.channel")
    return destination, dict(spec.fields)


def send_with_retries(
    provider: Provider,
    message: Message,
    destination: Destination,
    *,
    attempts: int = 4,
    max_wait: float = 60.0,
    sleep: Callable[[float], None] = time.sleep,
) -> Reply:
    """Render once (so a CloudEvent keeps its id across retries), then send up to `attempts` times.

    Waits: the service's Retry-After (capped at `max_wait`), else exponential backoff with jitter
    from 1 s (tenacity's wait_exponential_jitter, capped at `max_wait`). Returns the last reply;
    raises Transient when the last attempt still failed transiently.
    """
    outgoing = provider.render(message, destination)
    backoff = wait_exponential_jitter(initial=1, max=max_wait, jitter=1)

    def wait(state: RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        if isinstance(error, Transient) and error.wait is not None:
            return min(error.wait, max_wait)
        return float(backoff(state))

    def once() -> Reply:
        try:
            reply = provider.send(outgoing, destination)
        except Exception as error:
            # Network errors and timeouts (their text is made without the URL by the providers).
            raise Transient(str(error) or type(error).__name__) from None
        if reply.transient:
            raise Transient(f"HTTP {reply.status} {reply.detail}".strip(), reply.retry_after)
        return reply

    retrying = Retrying(
        stop=stop_after_attempt(attempts),
        wait=wait,
        retry=retry_if_exception_type(Transient),
        sleep=sleep,
        reraise=True,
    )
    return retrying(once)


@dataclass(frozen=True)
class Job:
    """One message for one Canary, and the providers chosen for it."""

    message: Message
    routes: tuple[Route, ...]


class Dispatcher:
    """The controller's Notifier: `notify()` enqueues, a daemon thread delivers."""

    def __init__(
        self,
        providers: ProviderSource,
        secrets: SecretSource,
        *,
        cluster: str = "",
        default: Route | None = None,
        allow_cross_namespace: bool = False,
        registry: CollectorRegistry | None = None,
        queue_size: int = 256,
        attempts: int = 4,
        max_wait: float = 60.0,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.providers = providers
        self.secrets = secrets
        self.cluster = cluster
        self.default = default
        self.allow_cross_namespace = allow_cross_namespace
        self.attempts = attempts
        self.max_wait = max_wait
        self.sleep = sleep
        self.clock = clock
        self.queue: queue.Queue[Job | None] = queue.Queue(maxsize=queue_size)
        self.counter = Counter(
            "canary_notifications",
            "Notifications by AlertProvider, message type and result "
            "(sent, failed, dropped: queue full or provider unusable).",
            ["provider", "type", "result"],
            registry=registry or CollectorRegistry(),
        )
        self._worker: threading.Thread | None = None
        self._lock = threading.Lock()

    # The Notifier protocol

    def notify(self, canary: Canary, event: Notify, images: tuple[str, str] = ("", "")) -> None:
        """Queue the message for `event`; never blocks and never raises."""
        message = build_message(
            canary, event, cluster=self.cluster, now=self.clock(), images=images
        )
        chosen, problems = routes(
            canary,
            event.severity,
            default=self.default,
            allow_cross_namespace=self.allow_cross_namespace,
        )
        for problem in problems:
            log.warning("alert skipped", canary=message.subject, reason=problem)
        if not chosen:
            return
        self._start()
        try:
            self.queue.put_nowait(Job(message, tuple(chosen)))
        except queue.Full:
            for route in chosen:
                self._count(route, message, "dropped")
            log.warning("notification dropped: queue full", canary=message.subject)

    # The worker

    def deliver(self, job: Job) -> None:
        """Send one job to each of its providers; every outcome is counted, none raised."""
        for route in job.routes:
            message = job.message
            try:
                destination, provider_fields = resolve(route, self.providers, self.secrets)
                provider = PROVIDERS[destination.type]
                message = message.with_extra({**provider_fields, **route.fields})
                reply = send_with_retries(
                    provider,
                    message,
                    destination,
                    attempts=self.attempts,
                    max_wait=self.max_wait,
                    sleep=self.sleep,
                )
            except NotifyError as error:
                self._count(route, message, "dropped")
                log.warning("notification dropped", provider=route.key, reason=str(error))
                continue
            except Transient as error:
                self._count(route, message, "failed")
                log.warning(
                    "notification failed after retries",
                    provider=route.key,
                    type=str(message.transition),
                    reason=str(error),
                    attempts=self.attempts,
                )
                continue
            except Exception as error:  # a bug in a renderer must not stop the worker
                self._count(route, message, "failed")
                log.warning("notification failed", provider=route.key, error=type(error).__name__)
                continue
            if reply.ok:
                self._count(route, message, "sent")
            else:
                self._count(route, message, "failed")
                log.warning(
                    "notification refused",
                    provider=route.key,
                    type=str(message.transition),
                    status=reply.status,
                    reason=reply.detail,
                )

    def drain(self, timeout: float = 10.0) -> bool:
        """Wait until every queued message was handled; False on timeout (tests and shutdown)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.queue.unfinished_tasks == 0:
                return True
            time.sleep(0.01)
        return False

    def close(self) -> None:
        """Stop the worker after the messages already queued."""
        with self._lock:
            worker, self._worker = self._worker, None
        if worker is not None:
            self.queue.put(None)
            worker.join(timeout=5)

    def _start(self) -> None:
        with self._lock:
            if self._worker is None:
                self._worker = threading.Thread(target=self._run, name="canary-notify", daemon=True)
                self._worker.start()

    def _run(self) -> None:
        while True:
            job = self.queue.get()
            try:
                if job is None:
                    return
                self.deliver(job)
            finally:
                self.queue.task_done()

    def _count(self, route: Route, message: Message, result: str) -> None:
        self.counter.labels(route.key, str(message.transition), result).inc()
