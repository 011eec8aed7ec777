"""The cluster, user and namespace are chosen as kubectl chooses them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from canary.operate.errors import CliError
from canary.operate.kubeconfig import connect


def write(path: Path, current: str, contexts: dict[str, dict[str, Any]], **users: Any) -> Path:
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "current-context": current,
        "clusters": [
            {"name": name, "cluster": {"server": f"http://{name}.example:6443"}}
            for name in contexts
        ],
        "contexts": [
            {"name": name, "context": {"cluster": name, "user": "me", **extra}}
            for name, extra in contexts.items()
        ],
        "users": [{"name": "me", "user": users or {"token": "t0k"}}],
    }
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    (tmp_path / ".kube").mkdir()
    return tmp_path


def test_the_current_context_and_its_namespace_are_the_default(home: Path) -> None:
    write(home / ".kube" / "config", "dev", {"dev": {"namespace": "shop"}, "prod": {}})
    connection = connect(None, None, None)
    assert (connection.server, connection.namespace, connection.context) == (
        "http://dev.example:6443",
        "shop",
        "dev",
    )
    assert connection.headers == {"Authorization": "Bearer t0k"}


def test_flags_override_context_and_namespace(home: Path) -> None:
    write(home / ".kube" / "config", "dev", {"dev": {"namespace": "shop"}, "prod": {}})
    connection = connect(None, "prod", "payments")
    assert (connection.server, connection.namespace) == ("http://prod.example:6443", "payments")
    assert connect(None, "prod", None).namespace == "default"


def test_kubeconfig_files_are_merged_and_the_first_wins(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = write(home / "a.yaml", "", {"dev": {"namespace": "from-a"}})
    second = write(home / "b.yaml", "dev", {"dev": {"namespace": "from-b"}, "prod": {}})
    monkeypatch.setenv("KUBECONFIG", f"{first}:{second}")
    connection = connect(None, None, None)
    assert (connection.context, connection.namespace) == ("dev", "from-a")


def test_the_explicit_file_wins_over_the_environment(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KUBECONFIG", str(write(home / "a.yaml", "a", {"a": {}})))
    explicit = write(home / "b.yaml", "b", {"b": {}})
    assert connect(str(explicit), None, None).context == "b"


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        ("none", "no kubeconfig: ~/.kube/config does not exist"),
        ("unknown-context", "no context 'nope' in the kubeconfig (contexts: dev)"),
        ("no-current", "the kubeconfig has no current context"),
        ("auth-provider", "legacy auth-provider"),
    ],
)
def test_what_is_wrong_is_said_with_the_fix(home: Path, setup: str, message: str) -> None:
    config = home / ".kube" / "config"
    context = None
    if setup == "unknown-context":
        write(config, "dev", {"dev": {}})
        context = "nope"
    elif setup == "no-current":
        write(config, "", {"dev": {}})
    elif setup == "auth-provider":
        write(config, "dev", {"dev": {}}, **{"auth-provider": {"name": "gcp"}})
    with pytest.raises(CliError, match=message.replace("(", r"\(").replace(")", r"\)")):
        connect(None, context, None)


def test_an_exec_plugin_gives_the_token(home: Path, tmp_path: Path) -> None:
    plugin = tmp_path / "plugin"
    plugin.write_text(
        '#!/bin/sh\necho \'{"apiVersion": "client.authentication.k8s.io/v1", '
        '"kind": "ExecCredential", "status": {"token": "from-exec"}}\'\n'
    )
    plugin.chmod(0o755)
    exec_spec = {"command": str(plugin), "apiVersion": "client.authentication.k8s.io/v1"}
    write(home / ".kube" / "config", "dev", {"dev": {}}, exec=exec_spec)
    assert connect(None, None, None).headers == {"Authorization": "Bearer from-exec"}
