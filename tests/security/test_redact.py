"""The redaction rules, one table; Secret values that cannot be decoded; the webhook runner never raising."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from canary import redact
from canary.api.canary import Canary, Webhook
from canary.metrics.secrets import SecretError, StaticSecrets, decode
from canary.webhooks import HttpWebhookRunner
from tests.controller.kube_fixtures import canary_body

R = redact.REDACTED


@pytest.fixture
def fresh() -> redact.Redactor:
    return redact.Redactor()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("https://user:pass@hooks.example/x", f"https://{R}@hooks.example/x"),
        ("cannot reach http://tok@10.0.0.1:80/a", f"cannot reach http://{R}@10.0.0.1:80/a"),
        ("http://hooks.example/x", "http://hooks.example/x"),
        ("Authorization: Bearer abc.def.ghi", f"Authorization: {R}"),
        ("{'Authorization': 'Basic dXNlcjpwYXNz'}", f"{{'Authorization': '{R}'}}"),
        ('{"proxy-authorization": "Bearer x1"}', f'{{"proxy-authorization": "{R}"}}'),
        ("X-Api-Token=abcdef; next", f"X-Api-Token={R}; next"),
        ("Cookie: session=abc", f"Cookie: {R}"),
        ("sent bearer eyJhbGciOi", f"sent bearer {R}"),
        ("basic credentials are read from a Secret", "basic credentials are read from a Secret"),
        ("GET /q?query=up&access_token=s3cr3t&x=1", f"GET /q?query=up&access_token={R}&x=1"),
        ("step 2 of 5: weight 25", "step 2 of 5: weight 25"),
        ("no data: rate(x[1m]) is empty", "no data: rate(x[1m]) is empty"),
    ],
)
def test_credentials_in_text_are_redacted(fresh: redact.Redactor, text: str, expected: str) -> None:
    assert fresh.text(text) == expected


def test_a_registered_value_and_its_base64_forms_are_redacted_anywhere(
    fresh: redact.Redactor,
) -> None:
    fresh.register("hunter2-secret")
    encoded = base64.b64encode(b"hunter2-secret").decode()
    urlsafe = base64.urlsafe_b64encode(b"hunter2-secret").decode().rstrip("=")
    text = f"echo hunter2-secret then {encoded} and {urlsafe}!"
    assert fresh.text(text) == f"echo {R} then {R} and {R}!"


def test_short_values_are_not_hunted_for_in_free_text(fresh: redact.Redactor) -> None:
    fresh.register("ab")
    assert fresh.text("a tab") == "a tab"


def test_dicts_are_redacted_by_header_name_and_value(fresh: redact.Redactor) -> None:
    fresh.register("token-value-1")
    event = {"headers": {"X-Auth-Token": "x", "Accept": "json"}, "error": "got token-value-1"}
    assert fresh.value(event) == {
        "headers": {"X-Auth-Token": R, "Accept": "json"},
        "error": f"got {R}",
    }


@given(st.text(min_size=4, max_size=40).filter(lambda s: s.strip() == s and R not in s))
def test_any_registered_value_never_survives_in_a_message(value: str) -> None:
    redactor = redact.Redactor()
    redactor.register(value)
    encoded = base64.b64encode(value.encode()).decode()
    out = redactor.text(f"before {value} middle {encoded} after")
    assert value not in out
    assert encoded not in out


def test_a_value_that_is_not_utf8_is_a_secret_error_naming_the_secret_and_key_only() -> None:
    data = base64.b64encode(b"\xff\xfeSECRETBYTES").decode()
    with pytest.raises(SecretError) as caught:
        decode("prod", "creds", "token", data, base64_encoded=True)
    message = str(caught.value)
    assert message == "secret prod/creds key 'token' is not UTF-8 text"
    assert (caught.value.namespace, caught.value.name, caught.value.key) == (
        "prod",
        "creds",
        "token",
    )


def test_a_value_that_is_not_base64_is_a_secret_error() -> None:
    with pytest.raises(SecretError, match="is not valid base64"):
        decode("prod", "creds", "token", "%%%", base64_encoded=True)


class Exploding:
    """A SecretSource that fails as no SecretSource should."""

    def read(self, namespace: str, name: str, key: str) -> str:
        raise UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte")


def test_the_webhook_runner_returns_a_failed_gate_instead_of_raising() -> None:
    canary = Canary.model_validate(canary_body(namespace="t"))
    hook = Webhook.model_validate(
        {"name": "signed", "url": "http://127.0.0.1:1/x", "signingSecretRef": {"name": "s"}}
    )
    gate = HttpWebhookRunner(Exploding()).run(canary, [hook], {})
    assert not gate.passed
    assert "0xff" not in gate.message
    assert "position" not in gate.message
    gate = HttpWebhookRunner(StaticSecrets()).run(canary, [hook], {})
    assert gate.message == "signed: cannot sign the payload: secret t/s has no key 'key'"
