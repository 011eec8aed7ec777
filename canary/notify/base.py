"""What every provider module implements, and the HTTP post they share (timeout, proxy, CA)."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Protocol

import httpx

from canary.notify.message import Message

# httpx logs each request's full URL at INFO; a webhook URL is a credential.
logging.getLogger("httpx").setLevel(logging.WARNING)


@dataclass(frozen=True)
class Destination:
    """An AlertProvider resolved with its Secret. Never logged: `address` and `token` are secret."""

    type: str
    address: str = field(repr=False)
    token: str = field(default="", repr=False)
    channel: str = ""
    username: str = "canary"
    format: str = "adaptive-card"
    proxy: str | None = None
    ca_bundle: str | None = None
    timeout: float = 10.0


@dataclass(frozen=True)
class Outgoing:
    """One HTTP request: the body as JSON-ready data (or bytes already encoded) and the headers."""

    body: dict[str, object]
    headers: dict[str, str] = field(default_factory=lambda: {"Content-Type": "application/json"})
    raw: bytes | None = None


@dataclass(frozen=True)
class Reply:
    """The service's answer: its HTTP status and, on 429/503, how long it asked us to wait (s)."""

    status: int
    retry_after: float | None = None
    detail: str = ""

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def transient(self) -> bool:
        """Worth retrying: rate limited or a server error (RFC 9110 §15.6)."""
        return self.status in (408, 429) or self.status >= 500


class Provider(Protocol):
    """A chat or webhook service: renders the neutral message, then sends it."""

    def render(self, message: Message, destination: Destination) -> Outgoing:
        """The request body for `message`; pure, no I/O."""
        ...

    def send(self, outgoing: Outgoing, destination: Destination) -> Reply:
        """Send once within `destination.timeout`; network errors and timeouts are raised."""
        ...


def retry_after(headers: httpx.Headers | dict[str, str], body: bytes = b"") -> float | None:
    """Seconds to wait from `Retry-After` (seconds or an HTTP date, RFC 9110 §10.2.3), else
    Discord's JSON `retry_after` (float seconds); None when neither is given."""
    value = headers.get("retry-after") or headers.get("Retry-After")
    if value:
        try:
            return max(0.0, float(value))
        except ValueError:
            try:
                from datetime import UTC, datetime

                return max(0.0, (parsedate_to_datetime(value) - datetime.now(UTC)).total_seconds())
            except (TypeError, ValueError):
                return None
    try:
        data = json.loads(body) if body else None
    except ValueError:
        return None
    if isinstance(data, dict) and isinstance(data.get("retry_after"), int | float):
        return max(0.0, float(data["retry_after"]))
    return None


def http_post(url: str, outgoing: Outgoing, destination: Destination) -> Reply:
    """POST the JSON body with the destination's timeout, proxy and CA bundle.

    Raises httpx.HTTPError on network errors and timeouts; the message never holds the URL's
    query or path (both can be credentials): httpx errors are re-raised with the host only.
    """
    verify: str | bool = destination.ca_bundle or True
    content = outgoing.raw or json.dumps(outgoing.body, separators=(",", ":")).encode()
    try:
        with httpx.Client(
            timeout=destination.timeout, proxy=destination.proxy, verify=verify
        ) as client:
            response = client.post(url, content=content, headers=outgoing.headers)
    except httpx.HTTPError as error:
        host = httpx.URL(url).host
        raise httpx.TransportError(f"{type(error).__name__} posting to {host}") from None
    return Reply(
        response.status_code,
        retry_after(response.headers, response.content),
        response.text[:200] if response.status_code >= 300 else "",
    )


class HttpProvider:
    """A provider that POSTs its rendered body to the Secret's `address`."""

    def render(self, message: Message, destination: Destination) -> Outgoing:
        raise NotImplementedError

    def send(self, outgoing: Outgoing, destination: Destination) -> Reply:
        return http_post(destination.address, outgoing, destination)
