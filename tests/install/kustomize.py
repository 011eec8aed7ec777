"""`kubectl kustomize` of deploy/ and its overlays, offline: the objects each install applies."""

from __future__ import annotations

import copy
import functools
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
CLUSTER_WIDE = DEPLOY
NAMESPACED = DEPLOY / "namespaced"
COMPONENTS = (DEPLOY / "servicemonitor", DEPLOY / "grafana")
KUBECTL = shutil.which("kubectl")

needs_kubectl = pytest.mark.skipif(
    KUBECTL is None,
    reason="kubectl (with its built-in kustomize) is not installed: .ci/run installs it where an "
    "apt source offers it",
)


@functools.cache
def _build(directory: Path) -> tuple[dict[str, Any], ...]:
    assert KUBECTL is not None
    done = subprocess.run(
        [KUBECTL, "kustomize", str(directory)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return tuple(d for d in yaml.safe_load_all(done.stdout) if d)


def render(directory: Path) -> list[dict[str, Any]]:
    """The objects `kubectl kustomize directory` prints (a fresh copy each call)."""
    return copy.deepcopy(list(_build(directory)))


def render_with_components() -> list[dict[str, Any]]:
    """deploy/ with every optional component, as a user's own kustomization includes them."""
    return copy.deepcopy(list(_with_components()))


@functools.cache
def _with_components() -> tuple[dict[str, Any], ...]:
    # kustomize accepts only relative paths: the kustomization names deploy/ relative to itself.
    with tempfile.TemporaryDirectory() as directory:
        relative = os.path.relpath(DEPLOY, directory)
        kustomization = {
            "resources": [relative],
            "components": [os.path.relpath(c, directory) for c in COMPONENTS],
        }
        (Path(directory) / "kustomization.yaml").write_text(yaml.safe_dump(kustomization))
        return _build(Path(directory))
