"""Which cluster, user and namespace to talk to, chosen as kubectl chooses them.

Order: `--kubeconfig`, else the files in `KUBECONFIG` (merged: the first file to set a value
wins), else `~/.kube/config`, else the in-cluster service account. `--context` overrides the
current context; `-n` overrides the context's namespace, which defaults to `default`.

Why not `kubernetes.config`: importing the official client takes about 0.5 s, more than the
whole budget of `kubectl canary get` (within 4x of `kubectl get`). This reader covers the
kubeconfig fields in common use (server and CA, tokens and token files, client certificates,
basic auth, insecure-skip-tls-verify, exec credential plugins); anything else is named in the
error rather than ignored.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from canary.operate.errors import CliError

if TYPE_CHECKING:
    import ssl

# ssl, subprocess, tempfile and base64 are imported where they are needed: most kubeconfigs use
# few of them, and every import is start-up time of `kubectl canary get`.

SERVICE_ACCOUNT = Path("/var/run/secrets/kubernetes.io/serviceaccount")
EXEC_TIMEOUT = 30.0
"""Seconds an exec credential plugin may take (a browser login can be slow)."""


@dataclass
class Connection:
    """Where and how to send requests: base URL, headers and TLS, plus the namespace to use."""

    server: str
    namespace: str
    context: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    tls: ssl.SSLContext | None = None


def kubeconfig_paths(explicit: str | None) -> list[Path]:
    """The kubeconfig files to merge, in priority order (existing ones only)."""
    if explicit:
        path = Path(explicit).expanduser()
        if not path.is_file():
            raise CliError(f"--kubeconfig {explicit}: no such file")
        return [path]
    env = os.environ.get("KUBECONFIG", "")
    if env:
        return [Path(p).expanduser() for p in env.split(os.pathsep) if p and Path(p).is_file()]
    default = Path.home() / ".kube" / "config"
    return [default] if default.is_file() else []


def merged(paths: list[Path]) -> dict[str, Any]:
    """The kubeconfigs merged as kubectl merges them: the first definition of a name wins."""
    result: dict[str, Any] = {"clusters": {}, "contexts": {}, "users": {}, "current-context": ""}
    for path in paths:
        try:
            data = yaml.safe_load(path.read_text()) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise CliError(f"cannot read the kubeconfig {path}: {exc}") from exc
        if not isinstance(data, dict):
            raise CliError(f"the kubeconfig {path} is not a mapping")
        for section, key in (("clusters", "cluster"), ("contexts", "context"), ("users", "user")):
            for entry in data.get(section) or []:
                if isinstance(entry, dict) and entry.get("name") is not None:
                    result[section].setdefault(str(entry["name"]), entry.get(key) or {})
        if not result["current-context"]:
            result["current-context"] = data.get("current-context") or ""
    return result


def connect(kubeconfig: str | None, context: str | None, namespace: str | None) -> Connection:
    """The connection for these flags. Raises CliError naming what is missing and how to fix it."""
    paths = kubeconfig_paths(kubeconfig)
    if not paths:
        if (SERVICE_ACCOUNT / "token").is_file() and os.environ.get("KUBERNETES_SERVICE_HOST"):
            return _in_cluster(namespace)
        where = "the files in KUBECONFIG" if os.environ.get("KUBECONFIG") else "~/.kube/config"
        raise CliError(
            f"no kubeconfig: {where} does not exist. Point --kubeconfig or KUBECONFIG at one "
            "(your cluster's tooling writes it, for example `kind get kubeconfig`)."
        )
    config = merged(paths)
    name = context or config["current-context"]
    if not name:
        raise CliError(
            "the kubeconfig has no current context; choose one with --context or "
            "`kubectl config use-context NAME`"
        )
    ctx = config["contexts"].get(name)
    if ctx is None:
        known = ", ".join(sorted(config["contexts"])) or "none"
        raise CliError(f"no context {name!r} in the kubeconfig (contexts: {known})")
    cluster = config["clusters"].get(ctx.get("cluster", ""))
    if not cluster or not cluster.get("server"):
        raise CliError(
            f"context {name!r} names cluster {ctx.get('cluster')!r}, which has no server"
        )
    user = config["users"].get(ctx.get("user", ""), {})
    connection = Connection(
        server=str(cluster["server"]).rstrip("/"),
        namespace=namespace or ctx.get("namespace") or "default",
        context=name,
    )
    if connection.server.startswith("https"):
        connection.tls = _tls(cluster, user)
    connection.headers.update(_auth_headers(user, name))
    return connection


def _in_cluster(namespace: str | None) -> Connection:
    import ssl

    host = os.environ["KUBERNETES_SERVICE_HOST"]
    port = os.environ.get("KUBERNETES_SERVICE_PORT", "443")
    tls = ssl.create_default_context(cafile=str(SERVICE_ACCOUNT / "ca.crt"))
    own = (SERVICE_ACCOUNT / "namespace").read_text().strip()
    token = (SERVICE_ACCOUNT / "token").read_text().strip()
    return Connection(
        server=f"https://{host}:{port}",
        namespace=namespace or own,
        context="in-cluster",
        headers={"Authorization": f"Bearer {token}"},
        tls=tls,
    )


def _data_file(data: str) -> str:
    """A private temporary file holding base64 `data` (ssl reads certificates from files only)."""
    import base64
    import tempfile

    handle = tempfile.NamedTemporaryFile(prefix="canary-", delete=False)  # noqa: SIM115
    with handle:
        handle.write(base64.b64decode(data))
    os.chmod(handle.name, 0o600)
    return handle.name


def _tls(cluster: dict[str, Any], user: dict[str, Any]) -> ssl.SSLContext:
    import base64
    import ssl

    context = ssl.create_default_context()
    if cluster.get("insecure-skip-tls-verify"):
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    elif cluster.get("certificate-authority-data"):
        context.load_verify_locations(
            cadata=base64.b64decode(cluster["certificate-authority-data"]).decode()
        )
    elif cluster.get("certificate-authority"):
        context.load_verify_locations(cafile=cluster["certificate-authority"])
    cert, key = user.get("client-certificate"), user.get("client-key")
    temporary = []
    if user.get("client-certificate-data"):
        cert = _data_file(user["client-certificate-data"])
        temporary.append(cert)
    if user.get("client-key-data"):
        key = _data_file(user["client-key-data"])
        temporary.append(key)
    try:
        if cert:
            context.load_cert_chain(cert, key)
    finally:
        for path in temporary:
            os.unlink(path)
    return context


def _auth_headers(user: dict[str, Any], context: str) -> dict[str, str]:
    if user.get("token"):
        return {"Authorization": f"Bearer {user['token']}"}
    if user.get("tokenFile"):
        token = Path(user["tokenFile"]).read_text().strip()
        return {"Authorization": f"Bearer {token}"}
    if user.get("username") and user.get("password"):
        import base64

        basic = base64.b64encode(f"{user['username']}:{user['password']}".encode()).decode()
        return {"Authorization": f"Basic {basic}"}
    if user.get("exec"):
        return {"Authorization": f"Bearer {_exec_token(user['exec'], context)}"}
    if user.get("auth-provider"):
        raise CliError(
            f"context {context!r} uses a legacy auth-provider, which canary does not read; "
            "switch to an exec credential plugin (what current cloud CLIs write)"
        )
    return {}


def _exec_token(spec: dict[str, Any], context: str) -> str:
    """Runs the exec credential plugin (client.authentication.k8s.io) and returns its token."""
    import json
    import subprocess

    env = dict(os.environ)
    env.update({str(e["name"]): str(e["value"]) for e in spec.get("env") or []})
    try:
        done = subprocess.run(
            [spec["command"], *(spec.get("args") or [])],
            capture_output=True,
            env=env,
            timeout=EXEC_TIMEOUT,
            check=True,
        )
        token = json.loads(done.stdout)["status"]["token"]
    except (OSError, subprocess.SubprocessError, ValueError, KeyError, TypeError) as exc:
        raise CliError(
            f"the credential plugin of context {context!r} ({spec.get('command')}) failed: "
            f"{type(exc).__name__}; run it by hand to log in again"
        ) from exc
    return str(token)
