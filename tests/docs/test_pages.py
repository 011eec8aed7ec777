"""The examples in the docs and the README are true: YAML validates, snippets run, outputs match."""

from __future__ import annotations

import ast
import contextlib
import functools
import json
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from canary.api.common import API_VERSION
from canary.api.loading import Document, InvalidObject, parse
from canary.sim.scenario import Scenario
from tests.docs.blocks import DOCS, ROOT, Block, all_blocks, blocks

BLOCKS = all_blocks()
_HEREDOC = re.compile(r"<<\s*'?(?P<word>YAML|EOF)'?\n(?P<body>.*?)\n(?P=word)$", re.S | re.M)


def _heredocs(block: Block) -> list[Block]:
    """YAML fed to a command inside a shell snippet (`kubectl apply -f - <<'YAML'`)."""
    return [
        Block(block.page, block.line, "yaml", m["body"] + "\n", None, None)
        for m in _HEREDOC.finditer(block.text)
    ]


YAML = [b for b in BLOCKS if b.language == "yaml"] + [
    h for b in BLOCKS if b.language in ("sh", "bash") for h in _heredocs(b)
]
JSON = [b for b in BLOCKS if b.language == "json"]
RUNNABLE = [b for b in BLOCKS if b.marker == "runnable"]
OUTPUTS = [b for b in BLOCKS if b.marker == "output-of"]
KUBERNETES_VERSION = "1.30"
BUILT_IN_GROUPS = ("v1", "apps/v1", "autoscaling/v2", "coordination.k8s.io/v1")


def _ids(blocks: list[Block]) -> list[str]:
    return [b.where for b in blocks]


@pytest.mark.parametrize("block", YAML, ids=_ids(YAML))
def test_yaml_examples_are_valid(block: Block) -> None:
    documents = [d for d in yaml.safe_load_all(block.text) if d is not None]
    assert documents, f"{block.where}: empty YAML block"
    for body in documents:
        check_document(block, body)


def check_document(block: Block, body: Any) -> None:
    """A canary.dev object satisfies the API, a built-in satisfies Kubernetes, a scenario loads."""
    if not isinstance(body, dict):
        return
    if body.get("apiVersion") == API_VERSION:
        try:
            parse(Document(block.where, body))
        except InvalidObject as error:
            pytest.fail(f"{block.where}: " + "; ".join(error.problems))
    elif body.get("apiVersion") in BUILT_IN_GROUPS and "kind" in body:
        kubernetes_validate.validate(body, KUBERNETES_VERSION, strict=True)
    elif "name" in body and ("traffic" in body or "canary" in body):
        Scenario.model_validate(body)


def test_yaml_examples_include_every_kind() -> None:
    """The check above is not vacuous: the pages hold Canaries, templates, providers and scenarios."""
    kinds = set()
    for block in YAML:
        for body in yaml.safe_load_all(block.text):
            if isinstance(body, dict):
                kinds.add(body.get("kind") or ("Scenario" if "traffic" in body else None))
    assert {"Canary", "MetricTemplate", "AlertProvider", "Deployment", "Scenario"} <= kinds


@pytest.mark.parametrize("block", JSON, ids=_ids(JSON))
def test_json_examples_parse(block: Block) -> None:
    json.loads(block.text)


def test_a_bad_example_is_caught() -> None:
    """The YAML check fails on a field the API rejects, naming it."""
    bad = Block(DOCS / "x.md", 1, "yaml", "", None, None)
    body = {
        "apiVersion": API_VERSION,
        "kind": "Canary",
        "metadata": {"name": "x"},
        "spec": {"targetRef": {"name": "x"}, "service": {"port": 80}, "analysis": {"threshold": 0}},
    }
    with pytest.raises(pytest.fail.Exception, match=r"spec\.analysis\.threshold"):
        check_document(bad, body)


def run_snippet(text: str, timeout: float, home: Path) -> subprocess.CompletedProcess[str]:
    """Runs a shell snippet from the repository root in its own process group, then kills the group."""
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "PYTHONPATH": str(ROOT),
        "HOME": str(home),  # kubectl keeps its discovery cache under $HOME/.kube
    }
    env.pop("KUBECONFIG", None)
    process = subprocess.Popen(
        ["bash", "-euo", "pipefail", "-c", text],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        output, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        output, _ = process.communicate()
        pytest.fail(f"timed out after {timeout} s:\n{output[-3000:]}")
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
    return subprocess.CompletedProcess(process.args, process.returncode, output)


@pytest.mark.timeout(300)
@pytest.mark.parametrize("block", RUNNABLE, ids=_ids(RUNNABLE))
def test_runnable_snippets_run(block: Block, tmp_path: Path) -> None:
    assert block.language in ("sh", "bash", "console"), f"{block.where}: runnable but not shell"
    if "kubectl" in block.text and shutil.which("kubectl") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("kubectl is not installed")
        pytest.skip("kubectl is not installed")
    result = run_snippet(block.text, timeout=240, home=tmp_path)
    assert result.returncode == 0, (
        f"{block.where} exited {result.returncode}:\n{result.stdout[-3000:]}"
    )


def test_a_failing_snippet_fails(tmp_path: Path) -> None:
    assert run_snippet("true\nfalse\ntrue\n", timeout=10, home=tmp_path).returncode != 0


@functools.cache
def _printed(command: str, home: Path) -> list[str]:
    """What a command prints (run once per command: the README and a page may show the same)."""
    result = run_snippet(command, timeout=120, home=home)
    assert result.returncode == 0, result.stdout
    return [line.rstrip() for line in result.stdout.rstrip("\n").splitlines()]


@pytest.mark.parametrize("block", OUTPUTS, ids=_ids(OUTPUTS))
def test_captured_outputs_are_what_the_command_prints(
    block: Block, tmp_path_factory: pytest.TempPathFactory
) -> None:
    assert block.argument, f"{block.where}: output-of needs a command"
    printed = _printed(block.argument, tmp_path_factory.getbasetemp())
    shown = [line.rstrip() for line in block.text.rstrip("\n").splitlines()]
    assert shown == printed, f"{block.where}: paste the new output of `{block.argument}`"


def _main_job(page: Path) -> str:
    text = page.read_text()
    found = re.search(r"<!-- main-job:.*?<!-- /main-job -->", text, re.S)
    assert found, f"{page}: no main-job block"
    return found.group(0)


def test_the_main_job_is_described_once_in_two_places() -> None:
    """README.md and the playground page say the same about `make demo`, and the Makefile agrees."""
    readme = _main_job(ROOT / "README.md")
    assert readme == _main_job(DOCS / "getting-started" / "playground.md")
    demo = re.search(r"^demo:.*\n\t(?P<command>.+)$", (ROOT / "Makefile").read_text(), re.M)
    assert demo, "the Makefile has no demo target"
    command = demo["command"].replace("$(BIN)/", "")
    assert command in readme, f"the main-job block does not name `{command}`"


def _recorded_reasons() -> set[str]:
    """Event reasons written as string literals where the engine and the controller record Events."""
    reasons = set()
    for path in (ROOT / "canary").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Call):
                continue
            name = getattr(node.func, "attr", None) or getattr(node.func, "id", None)
            if name not in ("event", "_event", "record_event"):
                continue
            for arg in node.args:
                value = getattr(arg, "value", None)
                reason = isinstance(value, str) and re.fullmatch(r"[A-Z][A-Za-z]+", value)
                if reason and value not in ("Normal", "Warning"):
                    reasons.add(str(value))
                    break
    return reasons


def test_every_event_reason_is_documented() -> None:
    page = (DOCS / "reference" / "events-and-conditions.md").read_text()
    reasons = _recorded_reasons()
    assert {"NewRevision", "RolledBack", "InvalidSpec"} <= reasons  # the scan finds them
    assert sorted(r for r in reasons if f"`{r}`" not in page) == []


def test_marked_blocks_are_found() -> None:
    """The markers are read: the docs have runnable snippets and a captured output."""
    assert len(RUNNABLE) >= 4
    assert OUTPUTS
    assert any(b.marker == "runnable" for b in blocks(DOCS / "getting-started" / "emulator.md"))


def test_the_readme_links_to_files_that_exist() -> None:
    """The README is read on the forge, not on the site: its relative links must name real files."""
    text = (ROOT / "README.md").read_text()
    targets = re.findall(r"\]\((?!https?://|#)([^)#\s]+)(?:#[^)]*)?\)", text)
    assert len(targets) > 10
    assert sorted({t for t in targets if not (ROOT / t).exists()}) == []


FROM = [b for b in BLOCKS if b.marker == "from"]


@pytest.mark.parametrize("block", FROM, ids=_ids(FROM))
def test_copied_examples_match_their_files(block: Block) -> None:
    """A block marked `<!-- from: PATH -->` holds documents of that file, unchanged (comments aside)."""
    assert block.argument, f"{block.where}: from needs a path"
    in_file = [d for d in yaml.safe_load_all((ROOT / block.argument).read_text()) if d]
    shown = [d for d in yaml.safe_load_all(block.text) if d]
    assert shown
    assert [d for d in shown if d not in in_file] == [], (
        f"{block.where}: copy {block.argument} again"
    )


def test_copies_are_marked() -> None:
    assert len(FROM) >= 4
