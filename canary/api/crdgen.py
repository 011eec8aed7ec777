"""Generates CustomResourceDefinitions (structural OpenAPI v3 schemas) from the pydantic models."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel

from canary.api.alert_provider import AlertProvider
from canary.api.canary import Canary
from canary.api.common import GROUP, VERSION
from canary.api.metric_template import MetricTemplate

JSON = dict[str, Any]

# Keys of pydantic's JSON schema that OpenAPI v3 in Kubernetes does not take, or that we leave out
# on purpose: defaults live in the models (and the README), so the API server stores what users wrote.
_DROPPED_KEYS = {"title", "default", "$defs", "examples"}


@dataclass(frozen=True)
class CrdKind:
    """What the CRD says about one kind besides its schema."""

    model: type[BaseModel]
    kind: str
    plural: str
    singular: str
    short_names: list[str]
    printer_columns: list[JSON] = field(default_factory=list)
    status_subresource: bool = False


KINDS = [
    CrdKind(
        model=Canary,
        kind="Canary",
        plural="canaries",
        singular="canary",
        short_names=["cn"],
        status_subresource=True,
        printer_columns=[
            {"name": "Phase", "type": "string", "jsonPath": ".status.phase"},
            {"name": "Weight", "type": "integer", "jsonPath": ".status.canaryWeight"},
            {"name": "FailedChecks", "type": "integer", "jsonPath": ".status.failedChecks"},
            {"name": "LastTransition", "type": "date", "jsonPath": ".status.lastTransitionTime"},
            {
                "name": "Mirror",
                "type": "integer",
                "jsonPath": ".status.mirrorWeight",
                "priority": 1,
            },
            {"name": "Message", "type": "string", "jsonPath": ".status.message", "priority": 1},
        ],
    ),
    CrdKind(
        model=MetricTemplate,
        kind="MetricTemplate",
        plural="metrictemplates",
        singular="metrictemplate",
        short_names=["mt"],
        printer_columns=[
            {"name": "Provider", "type": "string", "jsonPath": ".spec.provider.type"},
            {"name": "Address", "type": "string", "jsonPath": ".spec.provider.address"},
        ],
    ),
    CrdKind(
        model=AlertProvider,
        kind="AlertProvider",
        plural="alertproviders",
        singular="alertprovider",
        short_names=["ap"],
        printer_columns=[{"name": "Type", "type": "string", "jsonPath": ".spec.type"}],
    ),
]


def structural_schema(model: type[BaseModel]) -> JSON:
    """The model's validation schema rewritten as a Kubernetes structural schema."""
    raw = model.model_json_schema(by_alias=True, mode="validation")
    definitions: JSON = raw.get("$defs", {})
    schema = _convert(raw, definitions)
    properties = schema["properties"]
    properties["apiVersion"] = {"type": "string"}
    properties["kind"] = {"type": "string"}
    properties["metadata"] = {"type": "object"}
    schema["required"] = [r for r in schema.get("required", []) if r not in ("metadata", "status")]
    return schema


def _convert(node: JSON, definitions: JSON) -> JSON:
    if "$ref" in node:
        target = definitions[node["$ref"].rsplit("/", 1)[-1]]
        merged = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
        return _convert(merged, definitions)
    if "anyOf" in node:
        return _convert_any_of(node, definitions)
    if "allOf" in node and len(node["allOf"]) == 1:
        merged = {**node["allOf"][0], **{k: v for k, v in node.items() if k != "allOf"}}
        return _convert(merged, definitions)
    out: JSON = {k: v for k, v in node.items() if k not in _DROPPED_KEYS}
    if "const" in out:
        out["enum"] = [out.pop("const")]
        out.setdefault("type", "string")
    for bound in ("exclusiveMinimum", "exclusiveMaximum"):
        if bound in out and not isinstance(out[bound], bool):
            out["minimum" if bound == "exclusiveMinimum" else "maximum"] = out[bound]
            out[bound] = True
    if out.get("type") == "object" or "properties" in out:
        return _convert_object(out, definitions)
    if out.get("type") == "array":
        out["items"] = _convert(out.get("items", {}), definitions)
    if not out.get("type") and "enum" not in out:
        # Any value: Kubernetes needs an explicit escape from structural pruning.
        out = {"x-kubernetes-preserve-unknown-fields": True, **out}
    return out


def _convert_any_of(node: JSON, definitions: JSON) -> JSON:
    options = [o for o in node["anyOf"] if o.get("type") != "null"]
    rest = {k: v for k, v in node.items() if k not in ("anyOf", *_DROPPED_KEYS)}
    types = sorted(o.get("type", "") for o in options)
    if types == ["integer", "string"]:
        return {"x-kubernetes-int-or-string": True, **rest}
    if len(options) == 1:
        return _convert({**options[0], **rest}, definitions)
    raise ValueError(f"cannot express anyOf {node['anyOf']} as a structural schema")


def _convert_object(out: JSON, definitions: JSON) -> JSON:
    out["type"] = "object"
    patterned = out.pop("patternProperties", None)
    if isinstance(patterned, dict) and len(patterned) == 1:
        # Kubernetes has no patternProperties: the values' schema stays, and the model states
        # the keys' rule as a CEL rule (x-kubernetes-validations) next to it.
        out["additionalProperties"] = next(iter(patterned.values()))
    properties = out.get("properties")
    additional = out.get("additionalProperties")
    if properties:
        out["properties"] = {k: _convert(v, definitions) for k, v in properties.items()}
        if additional is True:
            out["x-kubernetes-preserve-unknown-fields"] = True
        out.pop("additionalProperties", None)
    elif isinstance(additional, dict) and additional:
        out["additionalProperties"] = _convert(additional, definitions)
    else:
        # A free-form object (an Istio structure copied verbatim, or evidence).
        out.pop("additionalProperties", None)
        out.pop("properties", None)
        out["x-kubernetes-preserve-unknown-fields"] = True
    return out


def crd_for(kind: CrdKind) -> JSON:
    """The CustomResourceDefinition of one kind."""
    version: JSON = {
        "name": VERSION,
        "served": True,
        "storage": True,
        "schema": {"openAPIV3Schema": structural_schema(kind.model)},
        "additionalPrinterColumns": [
            *kind.printer_columns,
            {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
        ],
    }
    if kind.status_subresource:
        version["subresources"] = {"status": {}}
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{kind.plural}.{GROUP}"},
        "spec": {
            "group": GROUP,
            "scope": "Namespaced",
            "names": {
                "kind": kind.kind,
                "listKind": f"{kind.kind}List",
                "plural": kind.plural,
                "singular": kind.singular,
                "shortNames": kind.short_names,
                "categories": ["all", "progressive-delivery"],
            },
            "versions": [version],
        },
    }


def render_crds() -> dict[str, str]:
    """File name to YAML text for every CRD, as `crds/` should hold them."""
    header = "# Generated by `canary crds --output crds` from canary/api. Do not edit.\n"
    return {
        f"{GROUP}_{kind.plural}.yaml": header
        + yaml.safe_dump(crd_for(kind), sort_keys=False, width=120)
        for kind in KINDS
    }


def write_crds(directory: Path) -> list[Path]:
    """Writes every CRD into `directory`; returns the paths written."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in render_crds().items():
        path = directory / name
        path.write_text(text)
        written.append(path)
    return written
