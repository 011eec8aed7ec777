"""The provider's transport: timeouts, a closed port, refusals, authentication and headers."""

from __future__ import annotations

import base64
import time
from datetime import UTC, datetime

import pytest

from canary.api.metric_template import MetricProvider as ProviderSpec
from canary.metrics.prometheus import Credentials, PrometheusProvider
from canary.metrics.secrets import StaticSecrets
from canary.protocols import MetricProviderError

from .conftest import free_port
from .fakes import Canned, fake_prometheus

AT = datetime(2026, 1, 1, 0, 5, tzinfo=UTC)


def test_a_closed_port_fails_fast_with_a_clear_error() -> None:
    provider = PrometheusProvider(f"http://127.0.0.1:{free_port()}", timeout=2)
    started = time.monotonic()
    with pytest.raises(MetricProviderError, match=r"cannot connect .* connection refused"):
        provider.query("up", AT)
    # The library's default retries would take about 6 s here.
    assert time.monotonic() - started < 1.0


def test_a_slow_prometheus_is_cut_off_at_the_timeout() -> None:
    with fake_prometheus(Canned(delay=2.0)) as url:
        provider = PrometheusProvider(url, timeout=0.3)
        started = time.monotonic()
        with pytest.raises(MetricProviderError, match=r"did not answer within 0\.3s"):
            provider.query("up", AT)
        assert time.monotonic() - started < 1.0


@pytest.mark.parametrize(
    ("status", "body", "message"),
    [
        pytest.param(
            400,
            {"status": "error", "errorType": "bad_data", "error": "parse error at char 3"},
            "HTTP 400: bad_data: parse error at char 3",
            id="bad-query",
        ),
        pytest.param(
            503,
            {"status": "error", "errorType": "timeout", "error": "query timed out"},
            "HTTP 503",
            id="server-timeout",
        ),
        pytest.param(401, b"Unauthorized", "HTTP 401", id="unauthorized"),
        pytest.param(200, b"<html>not json</html>", "malformed", id="not-json"),
        pytest.param(
            200, {"status": "success", "data": {"result": "zzz"}}, "malformed", id="odd-shape"
        ),
    ],
)
def test_refusals_and_garbage_become_provider_errors(
    status: int, body: object, message: str
) -> None:
    with (
        fake_prometheus(Canned(status=status, body=body)) as url,
        pytest.raises(MetricProviderError, match=message),
    ):
        PrometheusProvider(url).query("up", AT)


def test_bearer_token_and_extra_headers_are_sent_but_never_shown() -> None:
    spec = ProviderSpec.model_validate(
        {
            "address": "http://placeholder",
            "bearerTokenSecretRef": {"name": "prom"},
            "headers": {"X-Scope-OrgID": "team-a"},
        }
    )
    secrets = StaticSecrets({("test", "prom", "token"): "s3cret-token\n"})
    canned = Canned()
    with fake_prometheus(canned) as url:
        provider = PrometheusProvider.from_spec(
            spec.model_copy(update={"address": url}), "test", secrets
        )
        assert provider.query("up", AT) is None
    assert canned.requests[0]["Authorization"] == "Bearer s3cret-token"
    assert canned.requests[0]["X-Scope-OrgID"] == "team-a"
    assert "s3cret" not in repr(provider)


def test_basic_auth_comes_from_the_secret_keys_username_and_password() -> None:
    spec = ProviderSpec.model_validate(
        {"address": "http://placeholder", "basicAuth": {"secretRef": {"name": "prom-basic"}}}
    )
    secrets = StaticSecrets(
        {("test", "prom-basic", "username"): "ann", ("test", "prom-basic", "password"): "pw"}
    )
    canned = Canned()
    with fake_prometheus(canned) as url:
        provider = PrometheusProvider.from_spec(
            spec.model_copy(update={"address": url}), "test", secrets
        )
        provider.query("up", AT)
    assert canned.requests[0]["Authorization"] == "Basic " + base64.b64encode(b"ann:pw").decode()


def test_a_missing_secret_is_a_provider_error_naming_the_secret_not_its_value() -> None:
    spec = ProviderSpec.model_validate(
        {"address": "http://localhost:1", "bearerTokenSecretRef": {"name": "prom", "key": "tok"}}
    )
    with pytest.raises(MetricProviderError, match="secret test/prom has no key 'tok'"):
        PrometheusProvider.from_spec(spec, "test", StaticSecrets())


def test_the_query_time_is_sent_as_unix_seconds() -> None:
    canned = Canned()
    with fake_prometheus(canned) as url:
        PrometheusProvider(url, credentials=Credentials()).query("up", AT)
    assert "time=1767225900" in canned.paths[0]
