"""Every API call the controller makes has a timeout: a server that never answers cannot hang it."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
import urllib3
from kubernetes import client

from canary.kube import client as kube_client
from canary.kube.client import Kube, raw


@pytest.fixture
def silent_server() -> Iterator[str]:
    """Accepts connections and never answers."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"


def test_a_call_to_a_server_that_never_answers_times_out(
    silent_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(kube_client, "REQUEST_TIMEOUT", (0.2, 0.2))
    configuration = client.Configuration(host=silent_server)
    configuration.retries = 0
    with client.ApiClient(configuration) as api:
        kube = Kube.of(api)
        with pytest.raises(urllib3.exceptions.HTTPError):
            raw(kube.core.read_namespace, "default")
