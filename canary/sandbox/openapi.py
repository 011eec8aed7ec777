"""A minimal OpenAPI v3 index: enough for kubectl to see that the server validates fields itself."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from canary.sandbox.resources import Registry, ResourceType

JSON = dict[str, Any]

# kubectl (validate=true, the default) looks for this query parameter on PATCH operations; when it
# is there, kubectl leaves validation to the server (fieldValidation=Strict) instead of its own.
_PARAMETERS = [{"name": name, "in": "query", "schema": {"type": "string"}}
               for name in ("dryRun", "fieldManager", "fieldValidation", "force")]  # fmt: skip


def _gv_path(group: str, version: str) -> str:
    return f"api/{version}" if not group else f"apis/{group}/{version}"


def index(registry: Registry) -> JSON:
    """`/openapi/v3`: one entry per group-version."""
    paths = {}
    for group, versions in registry.groups():
        for version in versions:
            gv = _gv_path(group, version)
            digest = hashlib.sha256(json.dumps(document(registry, group, version)).encode())
            paths[gv] = {"serverRelativeURL": f"/openapi/v3/{gv}?hash={digest.hexdigest()[:32]}"}
    return {"paths": paths}


def _operations(rt: ResourceType, version: str) -> JSON:
    gvk = {"group": rt.group, "version": version, "kind": rt.kind}
    op = {"x-kubernetes-group-version-kind": gvk, "parameters": _PARAMETERS,
          "responses": {"200": {"description": "OK"}}}  # fmt: skip
    return {"get": op, "put": op, "patch": op, "delete": op}


def document(registry: Registry, group: str, version: str) -> JSON:
    """`/openapi/v3/<group-version>`: the item paths of each resource, without schemas."""
    paths = {}
    for rt in sorted(registry.all(), key=lambda r: r.plural):
        if rt.group != group or version not in rt.versions:
            continue
        base = "/" + _gv_path(group, version)
        scope = (
            f"{base}/namespaces/{{namespace}}/{rt.plural}"
            if rt.namespaced
            else f"{base}/{rt.plural}"
        )
        paths[f"{scope}/{{name}}"] = _operations(rt, version)
    return {"openapi": "3.0.0", "info": {"title": "Kubernetes", "version": "v1.32.0"},
            "paths": paths, "components": {"schemas": {}}}  # fmt: skip
