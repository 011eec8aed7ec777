"""CustomResourceDefinitions: reading them from YAML and turning them into served resource types."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from importlib import resources as package_files
from pathlib import Path
from typing import Any

import yaml

from canary.sandbox import meta
from canary.sandbox.errors import Cause
from canary.sandbox.resources import META_FIELDS, ResourceType

JSON = dict[str, Any]

_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_VERSION_ORDER = {"": 0, "alpha": 1, "beta": 2}


def _version_priority(version: str) -> tuple[int, int, int, str]:
    """Kubernetes version ordering: GA before beta before alpha, higher numbers first."""
    import re

    m = re.fullmatch(r"v(\d+)(?:(alpha|beta)(\d+))?", version)
    if not m:
        return (1, 0, 0, version)
    major, stage, minor = m.groups()
    return (0, -_VERSION_ORDER[stage or ""], -int(major), f"{-int(minor or 0):08d}")


def resource_type(crd: JSON) -> ResourceType:
    """The resource a (validated) CRD serves; storage version first, then by version priority."""
    spec = crd["spec"]
    names = spec["names"]
    served = [v for v in spec["versions"] if v.get("served", True)]
    served.sort(key=lambda v: (not v.get("storage", False), _version_priority(v["name"])))
    schemas = {v["name"]: (v.get("schema") or {}).get("openAPIV3Schema") or {} for v in served}
    status = any("status" in (v.get("subresources") or {}) for v in served)
    selectable = {
        f["jsonPath"].lstrip(".") for v in served for f in v.get("selectableFields") or []
    }
    return ResourceType(
        group=spec["group"],
        versions=tuple(v["name"] for v in served),
        plural=names["plural"],
        kind=names["kind"],
        namespaced=spec.get("scope", "Namespaced") == "Namespaced",
        singular=names.get("singular") or names["kind"].lower(),
        short_names=tuple(names.get("shortNames") or ()),
        categories=tuple(names.get("categories") or ()),
        status_subresource=status,
        generation=True,
        builtin=False,
        schemas=schemas,
        field_labels=META_FIELDS | frozenset(selectable),
    )


def validate(crd: JSON) -> list[Cause]:
    """The checks that keep a CRD servable; the real validator checks far more."""
    spec = crd.get("spec")
    if not isinstance(spec, dict):
        return [Cause("FieldValueRequired", "Required value", "spec")]
    causes = []
    names = spec.get("names") or {}
    for field in ("plural", "kind"):
        if not names.get(field):
            causes.append(Cause("FieldValueRequired", "Required value", f"spec.names.{field}"))
    if not spec.get("group"):
        causes.append(Cause("FieldValueRequired", "Required value", "spec.group"))
    if spec.get("scope") not in ("Namespaced", "Cluster"):
        causes.append(
            Cause(
                "FieldValueNotSupported",
                f'Unsupported value: "{spec.get("scope", "")}": supported values: '
                '"Cluster", "Namespaced"',
                "spec.scope",
            )
        )
    versions = spec.get("versions") or []
    if not versions:
        causes.append(Cause("FieldValueRequired", "Required value", "spec.versions"))
    elif sum(1 for v in versions if v.get("storage")) != 1:
        causes.append(
            Cause(
                "FieldValueInvalid",
                "Invalid value: must have exactly one version marked as storage version",
                "spec.versions",
            )
        )
    expected = f"{names.get('plural')}.{spec.get('group')}"
    name = crd.get("metadata", {}).get("name")
    if not causes and name != expected:
        causes.append(
            Cause(
                "FieldValueInvalid",
                f'Invalid value: "{name}": must be spec.names.plural+"."+spec.group',
                "metadata.name",
            )
        )
    return causes


def prepare(crd: JSON, old: JSON | None) -> list[Cause]:
    """Defaults and status the apiextensions server sets; the CRD is Established at once."""
    causes = validate(crd)
    if causes:
        return causes
    spec = crd["spec"]
    names = dict(spec["names"])
    names.setdefault("singular", names["kind"].lower())
    names.setdefault("listKind", f"{names['kind']}List")
    spec["names"] = names
    spec.setdefault("conversion", {"strategy": "None"})
    stamp = meta.now()
    crd["status"] = {
        "acceptedNames": names,
        "conditions": [
            {
                "type": "NamesAccepted",
                "status": "True",
                "reason": "NoConflicts",
                "message": "no conflicts found",
                "lastTransitionTime": stamp,
            },
            {
                "type": "Established",
                "status": "True",
                "reason": "InitialNamesAccepted",
                "message": "the initial names have been accepted",
                "lastTransitionTime": stamp,
            },
        ],
        "storedVersions": [v["name"] for v in spec["versions"] if v.get("storage")],
    }
    return []


def load(paths: Iterable[str | Path]) -> Iterator[JSON]:
    """Every CustomResourceDefinition document in the given YAML files and directories."""
    for path in map(Path, paths):
        files = (
            sorted(p for p in path.rglob("*") if p.suffix in (".yaml", ".yml"))
            if path.is_dir()
            else [path]
        )
        for file in files:
            with file.open(encoding="utf-8") as stream:
                for doc in yaml.load_all(stream, Loader=_LOADER):
                    if isinstance(doc, dict) and doc.get("kind") == "CustomResourceDefinition":
                        yield doc


def shipped_istio() -> Path:
    """The Istio networking CRDs (VirtualService, DestinationRule) that ship with the package."""
    return Path(str(package_files.files("canary") / "data" / "istio"))
