"""KubeSecrets: one `get` per value, errors that name the Secret and key but never a value or the server's answer."""

from __future__ import annotations

import base64

import pytest

from canary import redact
from canary.kube.client import Kube, raw
from canary.kube.sources import KubeSecrets
from canary.metrics.secrets import SecretError
from canary.sandbox import testing
from canary.sandbox.api import Fault


def _given(env: testing.Environment, namespace: str, **data: bytes) -> KubeSecrets:
    kube = Kube.of(env.api_client)
    body = {"metadata": {"name": "creds"},
            "data": {k: base64.b64encode(v).decode() for k, v in data.items()}}  # fmt: skip
    raw(kube.core.create_namespaced_secret, namespace, body)
    return KubeSecrets(kube)


def test_a_value_is_read_and_registered_for_redaction(
    env: testing.Environment, namespace: str
) -> None:
    secrets = _given(env, namespace, token=b"registered-value-123")
    assert secrets.read(namespace, "creds", "token") == "registered-value-123"
    assert redact.text("echo registered-value-123") == f"echo {redact.REDACTED}"


@pytest.mark.parametrize(
    ("data", "key", "why"),
    [
        ({"token": b"\xff\xfeNOT-UTF8\xc3"}, "token", "key 'token' is not UTF-8 text"),
        ({"token": b"x"}, "other", "has no key 'other'"),
    ],
)
def test_an_unusable_value_is_a_secret_error_without_the_value(
    env: testing.Environment, namespace: str, data: dict[str, bytes], key: str, why: str
) -> None:
    secrets = _given(env, namespace, **data)
    with pytest.raises(SecretError) as caught:
        secrets.read(namespace, "creds", key)
    assert str(caught.value) == f"secret {namespace}/creds {why}"


@pytest.mark.parametrize(("code", "why"), [(403, "access denied"), (500, "HTTP 500")])
def test_a_refused_read_names_the_kind_of_failure_not_the_servers_answer(
    env: testing.Environment, namespace: str, code: int, why: str
) -> None:
    server = env.require_emulator()
    secrets = _given(env, namespace, token=b"v4lue-never-shown")
    # Every attempt the client's retry budget allows fails (a 500 is retried, a 403 is not).
    server.api.inject(Fault("GET", f"/namespaces/{namespace}/secrets/creds", code, times=6))
    with pytest.raises(SecretError) as caught:
        secrets.read(namespace, "creds", "token")
    assert str(caught.value) == f"secret {namespace}/creds cannot be read ({why})"


def test_a_missing_secret_is_named(env: testing.Environment, namespace: str) -> None:
    with pytest.raises(SecretError, match=f"secret {namespace}/nope does not exist"):
        KubeSecrets(Kube.of(env.api_client)).read(namespace, "nope", "token")
