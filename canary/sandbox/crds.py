"""CustomResourceDefinitions: reading them from YAML and turning them into served resource types."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from importlib import resources as package_files
from pathlib import Path
from typing import Any

import yaml

from canary.sandbox import meta, schemas
from canary.sandbox.errors import Cause
from canary.sandbox.resources import META_FIELDS, ResourceType

JSON = dict[str, Any]

_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_VERSION_ORDER = {"": 0, "alpha": 1, "beta": 2}


def _version_priority(version: str) -> tuple[int, int, int, str]:
    """Kubernetes version ordering: GA before beta before alpha, higher numbers first."""
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
        printer_columns={v["name"]: tuple(v.get("additionalPrinterColumns") or ()) for v in served},
    )


def _names_causes(names: Any) -> list[Cause]:
    if not isinstance(names, dict):
        return [Cause("FieldValueRequired", "Required value", "spec.names")]
    causes = []
    for field in ("plural", "kind"):
        if not names.get(field):
            causes.append(Cause("FieldValueRequired", "Required value", f"spec.names.{field}"))
    for field in ("plural", "singular"):
        value = names.get(field)
        if value and not (isinstance(value, str) and _DNS_LABEL.match(value)):
            causes.append(Cause("FieldValueInvalid", f"Invalid value: {value!r}: a lowercase RFC "
                                "1123 label", f"spec.names.{field}"))  # fmt: skip
    for field in ("kind", "listKind"):
        value = names.get(field)
        if value is not None and not isinstance(value, str):
            causes.append(Cause("FieldValueInvalid", "Invalid value: must be a string",
                                f"spec.names.{field}"))  # fmt: skip
    for field in ("shortNames", "categories"):
        value = names.get(field, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            causes.append(Cause("FieldValueInvalid", "Invalid value: must be a list of strings",
                                f"spec.names.{field}"))  # fmt: skip
    return causes


def _version_causes(versions: Any) -> list[Cause]:
    if not isinstance(versions, list) or not versions:
        return [Cause("FieldValueRequired", "Required value", "spec.versions")]
    causes = []
    for i, version in enumerate(versions):
        where = f"spec.versions[{i}]"
        if not isinstance(version, dict):
            causes.append(Cause("FieldValueInvalid", "Invalid value: must be an object", where))
            continue
        name = version.get("name")
        if not isinstance(name, str) or not _DNS_LABEL.match(name):
            causes.append(Cause("FieldValueInvalid", f"Invalid value: {name!r}: must be a DNS "
                                "label", f"{where}.name"))  # fmt: skip
        for flag in ("served", "storage"):
            if not isinstance(version.get(flag, False), bool):
                causes.append(Cause("FieldValueInvalid", "Invalid value: must be a boolean",
                                    f"{where}.{flag}"))  # fmt: skip
        schema = version.get("schema")
        if schema is not None:
            if not isinstance(schema, dict):
                causes.append(Cause("FieldValueInvalid", "Invalid value: must be an object",
                                    f"{where}.schema"))  # fmt: skip
            elif "openAPIV3Schema" in schema:
                causes += schemas.check(
                    schema["openAPIV3Schema"], f"{where}.schema.openAPIV3Schema"
                )
        if not isinstance(version.get("subresources", {}), dict):
            causes.append(Cause("FieldValueInvalid", "Invalid value: must be an object",
                                f"{where}.subresources"))  # fmt: skip
        columns = version.get("additionalPrinterColumns", [])
        if not isinstance(columns, list) or not all(
            isinstance(c, dict)
            and isinstance(c.get("name"), str)
            and isinstance(c.get("jsonPath"), str)
            for c in columns
        ):
            causes.append(Cause("FieldValueInvalid", "Invalid value: each needs a name and a "
                                "jsonPath", f"{where}.additionalPrinterColumns"))  # fmt: skip
        fields = version.get("selectableFields", [])
        if not isinstance(fields, list) or not all(
            isinstance(f, dict) and isinstance(f.get("jsonPath"), str) for f in fields
        ):
            causes.append(Cause("FieldValueInvalid", "Invalid value: each needs a jsonPath",
                                f"{where}.selectableFields"))  # fmt: skip
    if not causes and sum(1 for v in versions if v.get("storage")) != 1:
        causes.append(Cause("FieldValueInvalid", "Invalid value: must have exactly one version "
                            "marked as storage version", "spec.versions"))  # fmt: skip
    return causes


def validate(crd: JSON) -> list[Cause]:
    """The checks that keep a CRD servable; the real validator checks far more."""
    spec = crd.get("spec")
    if not isinstance(spec, dict):
        return [Cause("FieldValueRequired", "Required value", "spec")]
    causes = _names_causes(spec.get("names"))
    group = spec.get("group")
    if not group:
        causes.append(Cause("FieldValueRequired", "Required value", "spec.group"))
    elif not isinstance(group, str) or meta.validate_name(group, "subdomain"):
        causes.append(Cause("FieldValueInvalid", f"Invalid value: {group!r}: a DNS subdomain",
                            "spec.group"))  # fmt: skip
    if spec.get("scope") not in ("Namespaced", "Cluster"):
        causes.append(Cause("FieldValueNotSupported",
                            f'Unsupported value: "{spec.get("scope", "")}": supported values: '
                            '"Cluster", "Namespaced"', "spec.scope"))  # fmt: skip
    causes += _version_causes(spec.get("versions"))
    if causes:
        return causes
    expected = f"{spec['names']['plural']}.{group}"
    name = crd.get("metadata", {}).get("name")
    if name != expected:
        causes.append(Cause("FieldValueInvalid",
                            f'Invalid value: "{name}": must be spec.names.plural+"."+spec.group',
                            "metadata.name"))  # fmt: skip
    return causes


def prepare(crd: JSON, old: JSON | None) -> list[Cause]:
    """Defaults and status the apiextensions server sets; the CRD is Established at once."""
    causes = validate(crd)
    if not causes and old is not None:
        # The served resource is keyed by these, so they cannot change under stored objects.
        for field, before, after in (
            ("spec.group", old["spec"]["group"], crd["spec"]["group"]),
            ("spec.names.plural", old["spec"]["names"]["plural"], crd["spec"]["names"]["plural"]),
            ("spec.scope", old["spec"]["scope"], crd["spec"]["scope"]),
        ):
            if before != after:
                causes.append(Cause("FieldValueInvalid", f"Invalid value: {after!r}: field is "
                                    "immutable", field))  # fmt: skip
    if causes:
        return causes
    spec = crd["spec"]
    names = dict(spec["names"])
    names.setdefault("singular", names["kind"].lower())
    names.setdefault("listKind", f"{names['kind']}List")
    spec["names"] = names
    spec.setdefault("conversion", {"strategy": "None"})
    resource_type(crd)  # fails here, before anything is stored, if the CRD cannot be served
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
