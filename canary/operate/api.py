"""A small Kubernetes REST client for the operator commands (stdlib http.client, JSON).

Every error comes back as a CliError that says what is wrong and how to fix it: the API cannot
be reached, credentials refused, forbidden by RBAC (with the verb and the resource), no such
Canary, or the CRDs are not installed.
"""

from __future__ import annotations

import http.client
import json
import socket
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

from canary.operate.errors import ApiStatusError, CliError
from canary.operate.kubeconfig import Connection

JSON = dict[str, Any]
GROUP, VERSION, PLURAL = "canary.dev", "v1alpha1", "canaries"
TIMEOUT = 10.0
"""Seconds for connecting and for each read; every call has a timeout."""
MERGE_PATCH = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
VERBS = {"GET": "get", "PATCH": "patch", "PUT": "update", "POST": "create", "DELETE": "delete"}


def canaries_path(namespace: str | None, name: str | None = None) -> str:
    """The REST path of Canaries in `namespace` (all namespaces when None), or of one Canary."""
    base = f"/apis/{GROUP}/{VERSION}"
    path = f"{base}/namespaces/{quote(namespace)}/{PLURAL}" if namespace else f"{base}/{PLURAL}"
    return f"{path}/{quote(name)}" if name else path


class Api:
    """Requests to one API server over a kept-alive connection."""

    def __init__(self, connection: Connection, timeout: float = TIMEOUT) -> None:
        self.connection = connection
        self.timeout = timeout
        self._http: http.client.HTTPConnection | None = None

    @property
    def namespace(self) -> str:
        return self.connection.namespace

    def _open(self) -> http.client.HTTPConnection:
        if self._http is None:
            url = urlsplit(self.connection.server)
            if url.scheme == "https":
                self._http = http.client.HTTPSConnection(
                    url.netloc, timeout=self.timeout, context=self.connection.tls
                )
            else:
                self._http = http.client.HTTPConnection(url.netloc, timeout=self.timeout)
        return self._http

    def close(self) -> None:
        if self._http is not None:
            self._http.close()
            self._http = None

    def request(
        self,
        method: str,
        path: str,
        *,
        query: dict[str, str] | None = None,
        body: Any = None,
        content_type: str = "application/json",
    ) -> JSON:
        """The decoded JSON answer. Raises ApiStatusError on an error Status, CliError otherwise."""
        prefix = urlsplit(self.connection.server).path
        target = prefix + path + (f"?{urlencode(query)}" if query else "")
        headers = {"Accept": "application/json", **self.connection.headers}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = content_type
        for attempt in (1, 2):
            try:
                conn = self._open()
                conn.request(method, target, body=data, headers=headers)
                response = conn.getresponse()
                raw = response.read()
                break
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                # A kept-alive connection the server closed: open a new one, once.
                self.close()
                if attempt == 2:
                    raise CliError(self._unreachable("the connection was closed")) from None
            except (OSError, http.client.HTTPException) as exc:
                self.close()
                reason = "timed out" if isinstance(exc, socket.timeout) else str(exc)
                raise CliError(self._unreachable(reason)) from None
        try:
            answer: JSON = json.loads(raw) if raw else {}
        except ValueError:
            answer = {"message": raw[:200].decode(errors="replace")}
        if response.status >= 400:
            raise self._error(method, path, response.status, answer)
        return answer

    def _unreachable(self, reason: str) -> str:
        return (
            f"cannot reach the Kubernetes API at {self.connection.server} "
            f"(context {self.connection.context or '?'}): {reason}. "
            "Is the cluster running and the kubeconfig current? Try `kubectl cluster-info`."
        )

    def _error(self, method: str, path: str, code: int, status: JSON) -> ApiStatusError:
        message = str(status.get("message") or f"HTTP {code}")
        details = status.get("details") or {}
        resource = f"{PLURAL}.{GROUP}" if f"/{PLURAL}" in path else path.split("/")[-2]
        verb = VERBS.get(method, method.lower())
        if method == "GET" and path.rstrip("/").endswith(PLURAL):
            verb = "list"
        namespace = path.split("/namespaces/")[1].split("/")[0] if "/namespaces/" in path else ""
        scope = f" in namespace {namespace}" if namespace else " across all namespaces"
        if code == 401:
            text = (
                f"unauthorized: the API server refused the credentials of context "
                f"{self.connection.context!r}. Log in again (your cloud CLI), or check the user "
                "in `kubectl config view --minify`."
            )
        elif code == 403:
            text = (
                f"forbidden: you may not {verb} {resource}{scope} ({message}). Ask a cluster "
                f"admin for a Role (or ClusterRole) granting the verb {verb!r} on {resource!r}; "
                f"check with `kubectl auth can-i {verb} {resource}"
                f"{' -n ' + namespace if namespace else ' -A'}`."
            )
        elif code == 404 and f"/{PLURAL}" in path and not details.get("name"):
            text = (
                f"the Canary CRDs are not installed in this cluster (context "
                f"{self.connection.context!r}): the API server does not serve {resource}. "
                "Install them with `kubectl apply -k crds/` (or `canary crds | kubectl apply -f -`)."
            )
        elif code == 404 and f"/{PLURAL}/" in path:
            text = (
                f"no Canary {details.get('name')!r} in namespace {namespace}. "
                f"List them with `kubectl canary list -n {namespace}` (or -A for every namespace)."
            )
        else:
            text = f"{method} {path}: {message} (HTTP {code})"
        return ApiStatusError(text, code, status)

    def watch_canary(
        self, name: str, resource_version: str, timeout_seconds: int
    ) -> Iterator[JSON]:
        """The watch events ({"type", "object"}) of one Canary after `resource_version`, until the
        server ends the watch (after `timeout_seconds`) or the connection drops.

        A connection of its own, so that reads on the kept-alive one go on meanwhile; its read
        timeout is the watch's plus TIMEOUT. Raises ApiStatusError (a 410 Gone when the version is
        too old) or CliError (unreachable), as `request` does.
        """
        prefix = urlsplit(self.connection.server).path
        query = {
            "watch": "true",
            "fieldSelector": f"metadata.name={name}",
            "timeoutSeconds": str(timeout_seconds),
            "allowWatchBookmarks": "true",
        }
        if resource_version:  # none: the Canary as it is now comes first (an ADDED event)
            query["resourceVersion"] = resource_version
        path = canaries_path(self.namespace)
        url = urlsplit(self.connection.server)
        timeout = timeout_seconds + self.timeout
        conn: http.client.HTTPConnection = (
            http.client.HTTPSConnection(url.netloc, timeout=timeout, context=self.connection.tls)
            if url.scheme == "https"
            else http.client.HTTPConnection(url.netloc, timeout=timeout)
        )
        try:
            try:
                conn.request("GET", f"{prefix}{path}?{urlencode(query)}",
                             headers={"Accept": "application/json", **self.connection.headers})  # fmt: skip
                response = conn.getresponse()
            except (OSError, http.client.HTTPException) as exc:
                raise CliError(self._unreachable(str(exc))) from None
            if response.status >= 400:
                raw = response.read()
                try:
                    status: JSON = json.loads(raw) if raw else {}
                except ValueError:
                    status = {"message": raw[:200].decode(errors="replace")}
                raise self._error("GET", path, response.status, status)
            while True:
                try:
                    line = response.readline()
                except (OSError, http.client.HTTPException):
                    return  # a dropped watch ends like a timed-out one: the caller watches again
                if not line:
                    return
                if line.strip():
                    try:
                        event: JSON = json.loads(line)
                    except ValueError:
                        return
                    yield event
        finally:
            conn.close()

    def get_canary(self, name: str, namespace: str | None = None) -> JSON:
        return self.request("GET", canaries_path(namespace or self.namespace, name))

    def list_canaries(self, namespace: str | None) -> list[JSON]:
        """Canaries in `namespace`, or in every namespace when None."""
        items = self.request("GET", canaries_path(namespace)).get("items") or []
        return list(items)

    def get_optional(self, path: str, query: dict[str, str] | None = None) -> JSON | None:
        """The object, or None when it is missing or may not be read (views show what they can)."""
        try:
            return self.request("GET", path, query=query)
        except ApiStatusError as exc:
            if exc.code in (403, 404):
                return None
            raise
