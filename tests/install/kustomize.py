"""`kubectl kustomize` of deploy/ and its overlays, offline: the objects each install applies."""

from __future__ import annotations

import copy
import functools
import json
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


def _kubectl() -> tuple[str | None, str]:
    """kubectl with kustomize v5 or later built in (components, `labels:`), or why there is none."""
    found = shutil.which("kubectl")
    if found is None:
        return None, "kubectl is not installed (.ci/run installs it where an apt source offers it)"
    try:
        done = subprocess.run(
            [found, "version", "--client", "-o", "json"], capture_output=True, text=True, timeout=30
        )
        kustomize = json.loads(done.stdout).get("kustomizeVersion", "")
    except (OSError, ValueError, subprocess.TimeoutExpired) as error:
        return None, f"{found} version --client failed: {error}"
    major = kustomize.lstrip("v").split(".")[0]
    if not major.isdigit() or int(major) < 5:
        return (
            None,
            f"{found} has kustomize {kustomize or 'unknown'}; deploy/ needs v5 (kubectl 1.27+)",
        )
    return found, ""


KUBECTL, _WHY_NOT = _kubectl()
needs_kubectl = pytest.mark.skipif(KUBECTL is None, reason=_WHY_NOT)


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
