"""`get --watch` notices changes through a watch (the emulator, or a cluster), and polls when it cannot."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from canary.operate.api import Api
from canary.operate.changes import CanaryChanges
from canary.operate.errors import ApiStatusError, CliError
from canary.operate.kubeconfig import connect
from canary.sandbox.testing import eventually
from tests.controller.kube_harness import ON_A_CLUSTER, Harness

pytestmark = ON_A_CLUSTER


def annotate(harness: Harness, value: str) -> None:
    harness.kube.custom.patch_namespaced_custom_object(
        "canary.dev", "v1alpha1", harness.namespace, "canaries", "podinfo",
        {"metadata": {"annotations": {"test.canary.dev/touch": value}}},
    )  # fmt: skip


def test_a_change_of_the_canary_is_seen_through_the_watch(harness: Harness) -> None:
    # Given a watch from the Canary's current version
    harness.given_initialized()
    api = Api(connect(str(harness.env.kubeconfig), None, harness.namespace))
    version = api.get_canary("podinfo")["metadata"]["resourceVersion"]
    changes = CanaryChanges(api, "podinfo", version).start()
    try:
        # When nothing changes, then nothing is reported
        assert not changes.wait(0.5)
        # When the Canary changes, then the change is reported, once
        annotate(harness, "1")
        assert changes.wait(30)
        assert not changes.wait(0.5)
        assert not changes.polling
        assert changes.version != version
    finally:
        changes.stop()
        api.close()


class Refused:
    """An Api whose watches are refused (`code`) and whose Canary changes at each `bump()`."""

    def __init__(self, code: int | None) -> None:
        self.code = code
        self.version = 1
        self.watches = 0

    def bump(self) -> None:
        self.version += 1

    def watch_canary(self, name: str, resource_version: str, timeout: int) -> Iterator[Any]:
        self.watches += 1
        if self.code is None:
            raise CliError("cannot reach the Kubernetes API")
        raise ApiStatusError("refused", self.code)
        yield  # a generator, as the real one

    def get_canary(self, name: str) -> Any:
        return {"metadata": {"resourceVersion": str(self.version)}}


@pytest.mark.parametrize("code", [403, 405, None], ids=["forbidden", "not-allowed", "unreachable"])
def test_a_watch_that_keeps_failing_gives_way_to_polling(
    code: int | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("canary.operate.changes.RETRY_SECONDS", 0.01)
    api = Refused(code)
    changes = CanaryChanges(api, "podinfo", "1").start()  # type: ignore[arg-type]
    assert changes.wait(30), "the switch to polling wakes the reader"
    assert changes.polling
    assert api.watches == 3
    assert not changes.wait(0.01)
    api.bump()
    assert changes.wait(0.01)
    assert not changes.wait(0.01)


class GoneOnce:
    """The first watch answers 410 Gone (the version is too old); the next streams the Canary as
    it is now; later ones end quietly, as a server's timeout would."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    def watch_canary(self, name: str, resource_version: str, timeout: int) -> Iterator[Any]:
        self.asked.append(resource_version)
        if len(self.asked) == 1:
            raise ApiStatusError("too old", 410)
        if len(self.asked) == 2:
            yield {"type": "ADDED", "object": {"metadata": {"resourceVersion": "99"}}}
        time.sleep(0.05)

    def get_canary(self, name: str) -> Any:
        raise AssertionError("no polling after a 410")


def test_a_410_restarts_the_watch_from_the_newest_version() -> None:
    api = GoneOnce()
    changes = CanaryChanges(api, "podinfo", "1").start()  # type: ignore[arg-type]
    try:
        eventually(lambda: len(api.asked) >= 3, timeout=30)
        # The restart asks for no version (the Canary as it is now comes first), then goes on
        # from the version that came.
        assert api.asked[:3] == ["1", "", "99"]
        assert changes.wait(0)
        assert not changes.polling
    finally:
        changes.stop()
