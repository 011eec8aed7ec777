"""`canary sandbox apiserver`: starts, prints one ready line, writes a usable kubeconfig."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client, config

from canary.cli import main
from tests.sandbox.conftest import WIDGETS


@pytest.fixture
def started(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    kubeconfig = tmp_path / "kubeconfig"
    process = subprocess.Popen(
        [sys.executable, "-m", "canary", "sandbox", "apiserver", "--port", "0", "--crd", str(WIDGETS),
         "--kubeconfig-out", str(kubeconfig)],
        stdout=subprocess.PIPE, text=True)  # fmt: skip
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        yield line, kubeconfig
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0


def test_apiserver_prints_a_ready_line_and_serves_through_the_kubeconfig(
    started: tuple[str, Path],
) -> None:
    line, kubeconfig = started
    assert line.startswith("canary sandbox apiserver ready url=http://127.0.0.1:")
    configuration = client.Configuration()
    config.load_kube_config(config_file=str(kubeconfig), client_configuration=configuration)
    with client.ApiClient(configuration) as api:
        groups = {g.name for g in client.ApisApi(api).get_api_versions().groups}
    assert {"networking.istio.io", "sandbox.canary.dev"} <= groups


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
def test_kubectl_applies_and_gets_objects(started: tuple[str, Path], tmp_path: Path) -> None:
    _, kubeconfig = started
    manifest = tmp_path / "objects.yaml"
    manifest.write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: from-kubectl}\ndata: {a: '1'}\n---\n"
        "apiVersion: sandbox.canary.dev/v1\nkind: Widget\nmetadata: {name: w}\nspec: {size: 2}\n"
    )
    # HOME in tmp_path: kubectl keeps its discovery cache under $HOME/.kube, not in the checkout.
    env = {
        "KUBECONFIG": str(kubeconfig),
        "PATH": "/usr/bin:/bin:/usr/local/bin",
        "HOME": str(tmp_path),
    }

    def kubectl(*args: str) -> str:
        done = subprocess.run(["kubectl", *args], env=env, capture_output=True, text=True,
                              timeout=60)  # fmt: skip
        assert done.returncode == 0, done.stderr
        return done.stdout

    assert "created" in kubectl("apply", "-f", str(manifest))
    assert "unchanged" in kubectl("apply", "--validate=false", "-f", str(manifest))
    assert kubectl("get", "widgets", "-o", "jsonpath={.items[0].spec.size}") == "2"
    assert kubectl("get", "widgets").split()[:3] == ["NAME", "SIZE", "AGE"]
    kubectl("apply", "--server-side", "--validate=false", "-f", str(manifest))
    deployment = tmp_path / "deployment.yaml"
    deployment.write_text(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n"
        "  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n"
        "    spec: {containers: [{name: web, image: 'nginx:1.25'}]}\n"
    )
    kubectl("apply", "--validate=false", "-f", str(deployment))
    assert "scaled" in kubectl("scale", "deployment/web", "--replicas=3")
    assert kubectl("get", "deployment", "web", "-o", "jsonpath={.spec.replicas}") == "3"
    typo = tmp_path / "typo.yaml"
    typo.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: typo}\ndatta: {a: '1'}\n")
    failed = subprocess.run(["kubectl", "apply", "-f", str(typo)], env=env, capture_output=True,
                            text=True, timeout=60)  # fmt: skip
    # kubectl validates through the server (fieldValidation=Strict), as with a real cluster.
    assert failed.returncode != 0
    assert 'unknown field "datta"' in failed.stderr
    assert "deleted" in kubectl("delete", "-f", str(manifest))


@pytest.mark.parametrize("content", [None, ": [", "kind: CustomResourceDefinition\nspec: {}\n"])
def test_apiserver_exits_with_1_on_unusable_crd_files(
    tmp_path: Path, content: str | None, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "crd.yaml"
    if content is not None:
        path.write_text(content)
    assert main(["sandbox", "apiserver", "--crd", str(path)]) == 1
    assert capsys.readouterr().err.startswith("canary sandbox apiserver: ")
