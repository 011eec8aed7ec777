"""Resource types the emulator serves: the built-in kinds and those that CustomResourceDefinitions add."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

JSON = dict[str, Any]

# Fields every kind can be selected on; the rest are per kind, as in each registry's `GetAttrs`.
META_FIELDS = frozenset({"metadata.name", "metadata.namespace"})


@dataclass(frozen=True)
class ResourceType:
    """One REST resource: where it lives, how it is named and what the server does with it."""

    group: str
    versions: tuple[str, ...]
    plural: str
    kind: str
    namespaced: bool
    singular: str = ""
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    status_subresource: bool = False
    """The main endpoint ignores `.status`; only `/status` writes it."""
    generation: bool = False
    """The server keeps `metadata.generation` and bumps it on spec changes."""
    builtin: bool = True
    """Built-in kinds accept strategic merge patches; custom resources answer 415."""
    schemas: Mapping[str, JSON] = field(default_factory=dict)
    """Structural OpenAPI schema per served version (custom resources only)."""
    field_labels: frozenset[str] = META_FIELDS
    """Field selectors this kind supports; anything else is a 400."""
    printer_columns: Mapping[str, tuple[JSON, ...]] = field(default_factory=dict)
    """A CRD's additionalPrinterColumns per version, for `Table` answers."""

    @property
    def storage_version(self) -> str:
        return self.versions[0]

    @property
    def key(self) -> str:
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def list_kind(self) -> str:
        return f"{self.kind}List"

    def api_version(self, version: str | None = None) -> str:
        version = version or self.storage_version
        return f"{self.group}/{version}" if self.group else version


def _builtin(
    group: str, version: str, plural: str, kind: str, namespaced: bool, **kw: Any
) -> ResourceType:
    return ResourceType(group, (version,), plural, kind, namespaced, singular=kind.lower(), **kw)


EVENT_FIELDS = (
    META_FIELDS
    | {
        f"involvedObject.{f}"
        for f in ("kind", "namespace", "name", "uid", "apiVersion", "resourceVersion", "fieldPath")
    }
    | {"reason", "reportingComponent", "source", "type"}
)
POD_FIELDS = META_FIELDS | {
    "spec.nodeName",
    "spec.restartPolicy",
    "spec.schedulerName",
    "spec.serviceAccountName",
    "status.phase",
    "status.podIP",
}

BUILTINS: tuple[ResourceType, ...] = (
    _builtin(
        "",
        "v1",
        "namespaces",
        "Namespace",
        False,
        short_names=("ns",),
        status_subresource=True,
        field_labels=META_FIELDS | {"status.phase"},
    ),
    _builtin(
        "",
        "v1",
        "services",
        "Service",
        True,
        short_names=("svc",),
        status_subresource=True,
        categories=("all",),
    ),
    _builtin("", "v1", "configmaps", "ConfigMap", True, short_names=("cm",)),
    _builtin("", "v1", "secrets", "Secret", True, field_labels=META_FIELDS | {"type"}),
    _builtin("", "v1", "events", "Event", True, short_names=("ev",), field_labels=EVENT_FIELDS),
    _builtin(
        "",
        "v1",
        "pods",
        "Pod",
        True,
        short_names=("po",),
        status_subresource=True,
        categories=("all",),
        field_labels=POD_FIELDS,
    ),
    _builtin("", "v1", "serviceaccounts", "ServiceAccount", True, short_names=("sa",)),
    _builtin(
        "apps",
        "v1",
        "deployments",
        "Deployment",
        True,
        short_names=("deploy",),
        status_subresource=True,
        generation=True,
        categories=("all",),
    ),
    _builtin(
        "apps",
        "v1",
        "replicasets",
        "ReplicaSet",
        True,
        short_names=("rs",),
        status_subresource=True,
        generation=True,
        categories=("all",),
    ),
    _builtin(
        "autoscaling",
        "v2",
        "horizontalpodautoscalers",
        "HorizontalPodAutoscaler",
        True,
        short_names=("hpa",),
        status_subresource=True,
        categories=("all",),
    ),
    _builtin("coordination.k8s.io", "v1", "leases", "Lease", True),
    _builtin("events.k8s.io", "v1", "events", "Event", True, short_names=("ev",)),
    _builtin(
        "apiextensions.k8s.io",
        "v1",
        "customresourcedefinitions",
        "CustomResourceDefinition",
        False,
        short_names=("crd", "crds"),
        status_subresource=True,
        generation=True,
    ),
)


class Registry:
    """The served resource types, looked up by group, version and plural (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._types: dict[tuple[str, str], ResourceType] = {}
        for rt in BUILTINS:
            self.add(rt)

    def add(self, rt: ResourceType) -> None:
        with self._lock:
            self._types[(rt.group, rt.plural)] = rt

    def remove(self, group: str, plural: str) -> None:
        with self._lock:
            self._types.pop((group, plural), None)

    def find(self, group: str, version: str, plural: str) -> ResourceType | None:
        rt = self._types.get((group, plural))
        return rt if rt is not None and version in rt.versions else None

    def by_kind(self, api_version: str, kind: str) -> ResourceType | None:
        group, _, version = api_version.rpartition("/")
        for rt in self.all():
            if rt.group == group and rt.kind == kind and version in rt.versions:
                return rt
        return None

    def all(self) -> list[ResourceType]:
        with self._lock:
            return list(self._types.values())

    def groups(self) -> Iterator[tuple[str, list[str]]]:
        """Each group with its versions, preferred version first, in a stable order."""
        seen: dict[str, list[str]] = {}
        for rt in sorted(self.all(), key=lambda r: (r.builtin is False, r.group)):
            versions = seen.setdefault(rt.group, [])
            for v in rt.versions:
                if v not in versions:
                    versions.append(v)
        yield from seen.items()
