"""The Prometheus MetricProvider, over prometheus-api-client, with a timeout on every query.

prometheus-api-client (0.7) accepts a per-request timeout, but mounts an HTTPAdapter that retries
three times with a 1 s backoff, so a dead Prometheus takes ~6 s, and a slow one up to four
timeouts, to fail. We mount our own adapter on the same URL prefix with no retries (the analysis
simply runs again next interval) and TLS settings the library cannot express (a CA given as PEM
text, an SNI/hostname override). Timeouts are requests' (connect, read) timeouts: each bounds one
socket operation, so a server that answers with one byte at a time could take longer in total.
"""

from __future__ import annotations

import json
import re
import ssl
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests
from prometheus_api_client import PrometheusConnect
from prometheus_api_client.exceptions import PrometheusApiClientException
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from canary import redact
from canary.api.common import parse_duration
from canary.api.metric_template import MetricProvider as ProviderSpec
from canary.metrics.results import MalformedResult, Reading, Series, instant_reading, range_series
from canary.metrics.secrets import SecretError, SecretSource
from canary.protocols import MetricProviderError, Sample

DEFAULT_TIMEOUT = 5.0
DEFAULT_TOKEN_KEY = "token"
DEFAULT_CA_KEY = "ca.crt"


@dataclass(frozen=True)
class Credentials:
    """How to authenticate; the values never appear in repr, logs or error messages."""

    bearer_token: str | None = field(default=None, repr=False)
    basic_auth: tuple[str, str] | None = field(default=None, repr=False)


@dataclass(frozen=True)
class TLSConfig:
    """TLS for an https:// address."""

    insecure_skip_verify: bool = False
    ca_pem: str | None = None
    """Certificate authorities (PEM text) to trust instead of the system's."""
    server_name: str | None = None
    """The name the server's certificate must carry, when it differs from the address's host."""


class _Adapter(HTTPAdapter):
    """No retries, plus a custom SSL context and expected server name."""

    def __init__(self, tls: TLSConfig) -> None:
        self._tls = tls
        # read=False re-raises a read timeout as itself, so requests reports a Timeout.
        super().__init__(max_retries=Retry(total=0, read=False, raise_on_status=False))

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        if self._tls.ca_pem is not None and not self._tls.insecure_skip_verify:
            kwargs["ssl_context"] = ssl.create_default_context(cadata=self._tls.ca_pem)
        if self._tls.server_name is not None and not self._tls.insecure_skip_verify:
            kwargs["server_hostname"] = self._tls.server_name
            kwargs["assert_hostname"] = self._tls.server_name
        super().init_poolmanager(*args, **kwargs)


class PrometheusProvider:
    """Instant and range queries against one Prometheus; implements canary.protocols.MetricProvider."""

    def __init__(
        self,
        address: str,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        headers: dict[str, str] | None = None,
        credentials: Credentials | None = None,
        tls: TLSConfig | None = None,
    ) -> None:
        if timeout <= 0:
            raise ValueError(f"timeout must be positive, got {timeout}")
        self.address = address.rstrip("/")
        self.timeout = timeout
        credentials = credentials or Credentials()
        tls = tls or TLSConfig()
        session = requests.Session()
        session.verify = not tls.insecure_skip_verify
        self._client = PrometheusConnect(
            url=self.address,
            headers=request_headers(headers or {}, credentials),
            auth=credentials.basic_auth,
            session=session,
            timeout=timeout,
            retry=Retry(total=0),
        )
        # Mounted after PrometheusConnect, which mounts its retrying adapter on the same prefix.
        session.mount(self.address, _Adapter(tls))

    @classmethod
    def from_spec(
        cls, spec: ProviderSpec, namespace: str, secrets: SecretSource
    ) -> PrometheusProvider:
        """A provider for a MetricTemplate's `spec.provider`, with Secrets read from `namespace`."""
        tls = spec.tls
        ca_pem = None
        if tls is not None and tls.ca_secret_ref is not None:
            ref = tls.ca_secret_ref
            ca_pem = read_secret(secrets, namespace, ref.name, ref.key or DEFAULT_CA_KEY)
        timeout = parse_duration(spec.timeout)
        if timeout <= 0:
            raise MetricProviderError(f"provider timeout must be positive, got {spec.timeout}")
        return cls(
            spec.address,
            timeout=timeout,
            headers=dict(spec.headers),
            credentials=credentials_from_spec(spec, namespace, secrets),
            tls=TLSConfig(
                insecure_skip_verify=tls.insecure_skip_verify if tls else False,
                ca_pem=ca_pem,
                server_name=tls.server_name if tls else None,
            ),
        )

    def __repr__(self) -> str:
        return f"PrometheusProvider({public_address(self.address)!r}, timeout={self.timeout})"

    def close(self) -> None:
        self._client.close()

    def read(self, query: str, at: datetime) -> Reading:
        """The query's value at `at`, or no value with the reason."""
        result = self._call(lambda: self._client.custom_query(query, params={"time": unix(at)}))
        with self._malformed_is_an_error():
            return instant_reading(result)

    def read_range(self, query: str, start: datetime, end: datetime, step: float) -> Series:
        """The query's samples over [start, end] every `step` seconds."""
        result = self._call(
            lambda: self._client.custom_query_range(
                query, start_time=aware(start), end_time=aware(end), step=f"{step:g}"
            )
        )
        with self._malformed_is_an_error():
            return range_series(result)

    def query(self, query: str, at: datetime) -> float | None:
        return self.read(query, at).value

    def query_range(self, query: str, start: datetime, end: datetime, step: float) -> list[Sample]:
        return list(self.read_range(query, start, end, step).samples)

    def _call(self, run: Callable[[], object]) -> object:
        where = public_address(self.address)
        try:
            return run()
        except requests.exceptions.Timeout:
            raise MetricProviderError(
                f"Prometheus at {where} did not answer within {self.timeout:g}s"
            ) from None
        except requests.exceptions.ConnectionError as error:
            raise MetricProviderError(
                f"cannot connect to Prometheus at {where}: {connection_reason(error)}"
            ) from None
        except requests.exceptions.JSONDecodeError:
            raise MetricProviderError(
                f"Prometheus at {where} sent a malformed answer (not JSON)"
            ) from None
        except requests.exceptions.RequestException as error:
            raise MetricProviderError(
                f"request to Prometheus at {where} failed: {type(error).__name__}"
            ) from None
        except PrometheusApiClientException as error:
            raise MetricProviderError(
                f"Prometheus at {where} refused the query: {error_text(error)}"
            ) from None
        except (ValueError, KeyError, TypeError) as error:
            # The library indexes response.json()["data"]["result"] itself.
            raise MetricProviderError(
                f"Prometheus at {where} sent a malformed answer ({type(error).__name__})"
            ) from None

    @contextmanager
    def _malformed_is_an_error(self) -> Iterator[None]:
        try:
            yield
        except MalformedResult as error:
            raise MetricProviderError(
                f"Prometheus at {public_address(self.address)} sent a malformed answer: {error}"
            ) from None


def request_headers(extra: dict[str, str], credentials: Credentials) -> dict[str, str]:
    """Extra headers plus the bearer token, which replaces any Authorization header given."""
    headers = {
        k: v
        for k, v in extra.items()
        if k.lower() != "authorization" or not credentials.bearer_token
    }
    if credentials.bearer_token:
        headers["Authorization"] = f"Bearer {credentials.bearer_token}"
    return headers


def credentials_from_spec(spec: ProviderSpec, namespace: str, secrets: SecretSource) -> Credentials:
    """Bearer token (key `token` by default) or basic auth (keys `username` and `password`)."""
    token = None
    if spec.bearer_token_secret_ref is not None:
        ref = spec.bearer_token_secret_ref
        token = read_secret(secrets, namespace, ref.name, ref.key or DEFAULT_TOKEN_KEY).strip()
    basic = None
    if spec.basic_auth is not None:
        name = spec.basic_auth.secret_ref.name
        basic = (
            read_secret(secrets, namespace, name, "username"),
            read_secret(secrets, namespace, name, "password"),
        )
        redact.secret_value(f"{basic[0]}:{basic[1]}")  # what the Authorization header encodes
    return Credentials(bearer_token=token, basic_auth=basic)


def read_secret(secrets: SecretSource, namespace: str, name: str, key: str) -> str:
    try:
        return secrets.read(namespace, name, key)
    except SecretError as error:
        raise MetricProviderError(f"cannot read credentials: {error}") from None


def unix(at: datetime) -> float:
    """Seconds since the epoch; a naive datetime is taken as UTC."""
    return aware(at).timestamp()


def aware(at: datetime) -> datetime:
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def public_address(address: str) -> str:
    """The address without any user:password@ part or query, for messages."""
    parts = urlsplit(address)
    host = parts.hostname or ""
    try:
        netloc = f"{host}:{parts.port}" if parts.port else host
    except ValueError:  # a port that is not a number: keep the host only
        netloc = host
    return redact.url(urlunsplit((parts.scheme, netloc, parts.path, "", "")))


def connection_reason(error: requests.exceptions.ConnectionError) -> str:
    """A short cause (refused, name not resolved, TLS) without the URL and query urllib3 adds."""
    text = str(error)
    for needle, reason in (
        ("Connection refused", "connection refused"),
        ("Name or service not known", "host name not resolved"),
        ("CERTIFICATE_VERIFY_FAILED", "TLS certificate not trusted"),
        ("SSLError", "TLS error"),
    ):
        if needle in text:
            return reason
    return type(error).__name__


_STATUS = re.compile(r"HTTP Status Code (\d+)")


def error_text(error: PrometheusApiClientException) -> str:
    """`HTTP 400: parse error ...` from the library's "HTTP Status Code 400 (b'{json}')" message."""
    text = str(error)
    status = _STATUS.search(text)
    prefix = f"HTTP {status.group(1)}" if status else "error"
    start, end = text.find("{"), text.rfind("}")
    if start >= 0 and end > start:
        body = text[start : end + 1].encode().decode("unicode_escape", errors="replace")
        try:
            parsed = json.loads(body)
        except ValueError:
            parsed = None
        if isinstance(parsed, dict) and "error" in parsed:
            # A server (or proxy) may echo the request, Authorization header included.
            return redact.text(f"{prefix}: {parsed.get('errorType', 'error')}: {parsed['error']}")
    return prefix
