"""Fixtures for the playground's tests: an emulator with the Istio and canary CRDs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from canary.sandbox import testing

CRDS = Path(__file__).parents[2] / "crds"


@pytest.fixture
def env() -> Iterator[testing.Environment]:
    """A fresh emulator per test (the runner's pods must not leak between tests)."""
    with testing.sandbox(crds=[testing.ISTIO_CRDS, CRDS]) as environment:
        yield environment
