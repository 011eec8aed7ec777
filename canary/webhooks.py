"""Webhooks: the payload, its HMAC-SHA256 signature, and an httpx runner with timeout and retries.

A gate that does not open is a GateResult(passed=False) with the reason, never an exception: the
engine decides what waiting means for each type (confirm gates wait without counting failures).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx

from canary import redact
from canary.analysis.results import CheckResult, json_safe
from canary.api.canary import Canary, Webhook, WebhookType
from canary.api.common import parse_duration
from canary.engine.types import GateResult
from canary.metrics.secrets import NO_SECRETS, SecretError, SecretSource

SIGNATURE_HEADER = "X-Canary-Signature"
DEFAULT_SIGNING_KEY = "key"
"""Key read from `signingSecretRef` when the reference names none."""
RETRY_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
FIRE_AND_FORGET = frozenset({WebhookType.POST_ROLLOUT, WebhookType.EVENT})
"""Types where every hook is called even after one fails; gates stop at the first that fails."""


def payload_context(
    *,
    canary_images: Sequence[str] = (),
    primary_images: Sequence[str] = (),
    results: Sequence[CheckResult] | None = None,
    event_message: str | None = None,
    event_type: str | None = None,
) -> dict[str, object]:
    """What the controller knows beyond the Canary object, in the form `run(..., payload)` takes."""
    context: dict[str, object] = {
        "canaryImages": list(canary_images),
        "primaryImages": list(primary_images),
    }
    if results is not None:
        context["analysis"] = [result.to_dict() for result in results]
    if event_message is not None:
        context["eventMessage"] = event_message
    if event_type is not None:
        context["eventType"] = event_type
    return context


def build_payload(
    canary: Canary, hook: Webhook, context: Mapping[str, object], now: datetime
) -> dict[str, object]:
    """Flagger's fields (name, namespace, phase, checksum, metadata) plus the rollout's state.

    `context` (see payload_context) adds the images and this interval's results; without
    results, the latest ones recorded in the Canary's status are sent.
    """
    status = canary.status
    metadata = dict(hook.metadata)
    for key in ("eventMessage", "eventType"):
        if key in context:
            metadata[key] = str(context[key])  # where Flagger's event hooks put them
    if "eventMessage" in context:
        metadata["timestamp"] = str(int(now.timestamp() * 1000))
    payload: dict[str, object] = {
        "name": canary.metadata.name,
        "namespace": canary.metadata.namespace,
        "phase": status.phase.value if status.phase else "",
        "checksum": status.last_applied_spec or "",
        "type": hook.type.value,
        "webhook": hook.name,
        "canaryWeight": status.canary_weight,
        "mirrorWeight": status.mirror_weight,
        "step": status.step,
        "iterations": status.iterations,
        "failedChecks": status.failed_checks,
        "canaryImages": list_of_str(context.get("canaryImages")),
        "primaryImages": list_of_str(context.get("primaryImages")),
        "analysis": context.get("analysis", [m.to_wire() for m in status.metrics]),
        "metadata": metadata,
        "timestamp": now.astimezone(UTC).isoformat().replace("+00:00", "Z"),
    }
    safe = json_safe(payload)  # NaN results become null: JSON has no NaN
    assert isinstance(safe, dict)
    return safe


def list_of_str(value: object) -> list[str]:
    return [str(item) for item in value] if isinstance(value, (list, tuple)) else []


def encode(payload: Mapping[str, object]) -> bytes:
    """The exact bytes sent (and signed): compact JSON with sorted keys."""
    return json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()


def sign(body: bytes, key: str) -> str:
    """`sha256=<hex>` of HMAC-SHA256(key, body), as GitHub-style receivers expect."""
    return "sha256=" + hmac.new(key.encode(), body, hashlib.sha256).hexdigest()


def verify(body: bytes, key: str, header: str) -> bool:
    """For receivers (and tests): does `header` sign `body` with `key`?"""
    return hmac.compare_digest(sign(body, key), header)


@dataclass(frozen=True)
class Delivery:
    """How one hook's call went."""

    passed: bool
    attempts: int
    message: str


class HttpWebhookRunner:
    """Implements canary.protocols.WebhookRunner: POSTs JSON, any 2xx passes.

    Each attempt has the hook's timeout; transport errors, timeouts, 408/425/429 and 5xx are
    retried `hook.retries` times after backoff * 2**n seconds (capped at max_backoff).
    """

    def __init__(
        self,
        secrets: SecretSource = NO_SECRETS,
        *,
        client: httpx.Client | None = None,
        backoff: float = 0.5,
        max_backoff: float = 8.0,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._secrets = secrets
        self._client = client or httpx.Client(follow_redirects=False)
        self._backoff = backoff
        self._max_backoff = max_backoff
        self._sleep = sleep
        self._clock = clock

    def close(self) -> None:
        self._client.close()

    def run(
        self, canary: Canary, hooks: Sequence[Webhook], payload: Mapping[str, object]
    ) -> GateResult:
        failures: list[str] = []
        for hook in hooks:
            delivery = self.deliver(canary, hook, payload)
            if not delivery.passed:
                failures.append(delivery.message)
                if hook.type not in FIRE_AND_FORGET:
                    break
        if failures:
            return GateResult(passed=False, message="; ".join(failures))
        return GateResult(passed=True, message=f"{len(hooks)} webhook(s) answered 2xx")

    def deliver(self, canary: Canary, hook: Webhook, context: Mapping[str, object]) -> Delivery:
        """One hook, with its retries; never raises."""
        try:
            body = encode(build_payload(canary, hook, context, self._clock()))
            headers = self.headers(canary, hook, body)
        except SecretError as error:
            return Delivery(False, 0, f"{hook.name}: cannot sign the payload: {error}")
        except Exception as error:  # the contract: a failed delivery, never an exception
            return Delivery(
                False, 0, f"{hook.name}: cannot build the request: {type(error).__name__}"
            )
        attempts = hook.retries + 1
        outcome = ""
        for attempt in range(1, attempts + 1):
            outcome, retryable = self.attempt(hook, body, headers)
            if not outcome:
                return Delivery(True, attempt, f"{hook.name}: answered 2xx")
            if not retryable or attempt == attempts:
                return Delivery(False, attempt, f"{hook.name}: {outcome} after {plural(attempt)}")
            self._sleep(min(self._backoff * 2 ** (attempt - 1), self._max_backoff))
        return Delivery(False, attempts, f"{hook.name}: {outcome}")

    def headers(self, canary: Canary, hook: Webhook, body: bytes) -> dict[str, str]:
        headers = {"Content-Type": "application/json", "X-Canary-Webhook-Type": hook.type.value}
        ref = hook.signing_secret_ref
        if ref is not None:
            key = self._secrets.read(
                canary.metadata.namespace, ref.name, ref.key or DEFAULT_SIGNING_KEY
            )
            headers[SIGNATURE_HEADER] = sign(body, key)
        return headers

    def attempt(self, hook: Webhook, body: bytes, headers: dict[str, str]) -> tuple[str, bool]:
        """("", _) on 2xx, else (what went wrong, whether another attempt may help)."""
        timeout = parse_duration(hook.timeout)
        try:
            response = self._client.post(hook.url, content=body, headers=headers, timeout=timeout)
        except httpx.TimeoutException:
            return f"no answer within {hook.timeout}", True
        except httpx.TransportError as error:
            return f"cannot reach {redact.url(hook.url)}: {type(error).__name__}", True
        except Exception as error:  # a runner must never raise: report whatever went wrong
            return f"request failed: {type(error).__name__}: {redact.text(str(error))}", False
        if response.is_success:
            return "", False
        # The receiver's words may echo our request (URL, headers): redacted before the cut,
        # so that a credential cut in half cannot slip through.
        snippet = redact.text(response.text[:2000])[:200].strip()
        answer = f"HTTP {response.status_code}" + (f" ({snippet})" if snippet else "")
        return answer, response.status_code in RETRY_STATUSES


def plural(attempts: int) -> str:
    return f"{attempts} attempt" + ("s" if attempts != 1 else "")
