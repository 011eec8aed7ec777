"""What an authorizer sees in a request: verb, API group, resource, subresource, namespace, name.

The emulator does no RBAC, but it records every request (`Api.requests`); these attributes, computed
as kube-apiserver's RequestInfoFactory does, let a test derive the RBAC rules a client needs.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qs

_VERBS = {"POST": "create", "PUT": "update", "PATCH": "patch"}


@dataclass(frozen=True)
class Attributes:
    """One resource request's authorization attributes (non-resource paths have resource "")."""

    verb: str
    group: str
    resource: str
    subresource: str = ""
    namespace: str = ""
    name: str = ""

    @property
    def rbac_resource(self) -> str:
        """`resource` or `resource/subresource`, as RBAC rules name it."""
        return f"{self.resource}/{self.subresource}" if self.subresource else self.resource


def attributes(method: str, path: str, query: str = "") -> Attributes:
    """The attributes of `method path?query`; e.g. GET /api/v1/secrets?watch=true -> watch secrets."""
    parts = [p for p in path.split("/") if p]
    if parts[:1] == ["api"] and len(parts) > 2:
        group, rest = "", parts[2:]
    elif parts[:1] == ["apis"] and len(parts) > 3:
        group, rest = parts[1], parts[3:]
    else:
        return Attributes(method.lower(), "", "")  # discovery, /version, /healthz...
    params = parse_qs(query)
    watching = rest[0] == "watch" or params.get("watch", [""])[-1] in ("true", "1")
    if rest[0] == "watch":
        rest = rest[1:]
    namespace = ""
    if rest[0] == "namespaces" and len(rest) > 2:
        namespace, rest = rest[1], rest[2:]
    elif rest[0] == "namespaces" and len(rest) == 2:
        namespace = rest[1]  # the Namespace object itself
    resource = rest[0]
    name = rest[1] if len(rest) > 1 else ""
    subresource = rest[2] if len(rest) > 2 else ""
    if method == "GET":
        verb = "watch" if watching else ("get" if name else "list")
    elif method == "DELETE":
        verb = "delete" if name else "deletecollection"
    else:
        verb = _VERBS.get(method, method.lower())
    return Attributes(verb, group, resource, subresource, namespace, name)
