"""Start-up loads only what the command needs: help, version and completion load neither scipy,
numpy nor the Kubernetes client (checked on sys.modules in a fresh interpreter, not on time)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("scipy", "numpy", "kubernetes", "pydantic", "canary.api", "canary.engine")
RUNNER = """
import json, sys
from canary import cli
try:
    code = cli.main(sys.argv[1:])
except SystemExit as exit:
    code = exit.code
heavy = sorted({name.split(".")[0] if not name.startswith("canary.") else ".".join(name.split(".")[:2])
                for name in sys.modules} & set(json.loads(HEAVY)))
print("\\nLOADED " + json.dumps({"code": code, "heavy": heavy}), file=sys.stderr)
"""


def loaded(*argv: str, env: dict[str, str] | None = None) -> dict[str, object]:
    environment = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    environment["HEAVY"] = json.dumps(HEAVY)
    script = RUNNER.replace("json.loads(HEAVY)", "json.loads(__import__('os').environ['HEAVY'])")
    done = subprocess.run(
        [sys.executable, "-c", script, *argv],
        capture_output=True, text=True, timeout=60, env=environment, cwd=ROOT,
    )  # fmt: skip
    line = [entry for entry in done.stderr.splitlines() if entry.startswith("LOADED ")][-1]
    result: dict[str, object] = json.loads(line.removeprefix("LOADED "))
    return result


@pytest.mark.parametrize(
    "argv",
    [
        pytest.param(["--version"], id="version"),
        pytest.param(["--help"], id="help"),
        pytest.param([], id="no-command"),
        pytest.param(["get", "--help"], id="get-help"),
        pytest.param(["promote", "--help"], id="promote-help"),
        pytest.param(["completion", "zsh"], id="completion-script"),
    ],
)
def test_help_version_and_completion_load_nothing_heavy(argv: list[str]) -> None:
    assert loaded(*argv)["heavy"] == []


def test_completing_a_command_line_loads_nothing_heavy(tmp_path: Path) -> None:
    answer = tmp_path / "completions"
    result = loaded(
        env={
            "_ARGCOMPLETE": "1",
            "_ARGCOMPLETE_STDOUT_FILENAME": str(answer),
            "COMP_LINE": "canary promote --f",
            "COMP_POINT": "18",
            "KUBECONFIG": str(tmp_path / "none"),
        }
    )
    assert result["heavy"] == []
    assert "--full" in answer.read_text()


def test_a_heavy_command_still_loads_what_it_needs() -> None:
    result = loaded("crds")
    assert result["code"] == 0
    assert "pydantic" in result["heavy"]
