"""Discovery documents: `/version`, `/api`, `/apis` and the per group-version resource lists."""

from __future__ import annotations

from typing import Any

from canary.sandbox.resources import Registry

JSON = dict[str, Any]

SERVER_VERSION = {"major": "1", "minor": "32", "gitVersion": "v1.32.0-canary-sandbox"}
VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]


def version_info() -> JSON:
    """`/version`: every field a string, since the client's VersionInfo model requires them all."""
    return {
        **SERVER_VERSION,
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2026-01-01T00:00:00Z",
        "goVersion": "go1.23.0",
        "compiler": "gc",
        "platform": "linux/amd64",
        "emulationMajor": "1",
        "emulationMinor": "32",
    }


def api_versions(address: str) -> JSON:
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": address}],
    }


def _group(name: str, versions: list[str]) -> JSON:
    listed = [{"groupVersion": f"{name}/{v}", "version": v} for v in versions]
    return {"name": name, "versions": listed, "preferredVersion": listed[0]}


def api_group_list(registry: Registry) -> JSON:
    groups = [_group(name, versions) for name, versions in registry.groups() if name]
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def api_group(registry: Registry, name: str) -> JSON | None:
    for group, versions in registry.groups():
        if group == name and name:
            return {"kind": "APIGroup", "apiVersion": "v1", **_group(name, versions)}
    return None


def resource_list(registry: Registry, group: str, version: str) -> JSON | None:
    """APIResourceList of one group-version, with the `/status` subresources listed after each."""
    resources: list[JSON] = []
    for rt in sorted(registry.all(), key=lambda r: r.plural):
        if rt.group != group or version not in rt.versions:
            continue
        entry: JSON = {
            "name": rt.plural,
            "singularName": rt.singular,
            "namespaced": rt.namespaced,
            "kind": rt.kind,
            "verbs": VERBS,
        }
        if rt.short_names:
            entry["shortNames"] = list(rt.short_names)
        if rt.categories:
            entry["categories"] = list(rt.categories)
        resources.append(entry)
        if rt.status_subresource:
            resources.append({
                "name": f"{rt.plural}/status",
                "singularName": "",
                "namespaced": rt.namespaced,
                "kind": rt.kind,
                "verbs": ["get", "patch", "update"],
            })  # fmt: skip
        if rt.key in ("deployments.apps", "replicasets.apps"):
            resources.append({
                "name": f"{rt.plural}/scale",
                "singularName": "",
                "namespaced": True,
                "group": "autoscaling",
                "version": "v1",
                "kind": "Scale",
                "verbs": ["get", "patch", "update"],
            })  # fmt: skip
    if not resources:
        return None
    group_version = f"{group}/{version}" if group else version
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version,
            "resources": resources}  # fmt: skip
