"""Validation of every object the controller writes: kubernetes-validate (strict) and the Istio CRD schemas."""

from __future__ import annotations

import copy
import functools
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import kubernetes_validate
import yaml

KUBERNETES_VERSION = "1.30"
REPO = Path(__file__).resolve().parents[2]
ISTIO_CRDS = REPO.parent / "shared" / "schemas" / "istio" / "customresourcedefinitions.gen.yaml"
ISTIO_FALLBACK = REPO / "canary" / "data" / "istio"
SERVER_FIELDS = ("status",)


def _istio_documents() -> list[dict[str, Any]]:
    paths = [ISTIO_CRDS] if ISTIO_CRDS.exists() else sorted(ISTIO_FALLBACK.glob("*.yaml"))
    documents: list[dict[str, Any]] = []
    for path in paths:
        with path.open() as stream:
            documents.extend(d for d in yaml.load_all(stream, Loader=yaml.CSafeLoader) if d)
    return documents


def _strict(schema: Any) -> Any:
    """Rewrite a structural schema the way prometheus-schemas.md §2 describes: strict, nullable, int-or-string."""
    if isinstance(schema, list):
        return [_strict(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: (v if k in ("enum", "default", "example") else _strict(v)) for k, v in schema.items()}
    if out.get("x-kubernetes-int-or-string") and "type" not in out and "anyOf" not in out:
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if out.get("nullable") and "type" in out:
        out["type"] = [out["type"], "null"]
    if (
        out.get("type") == "object"
        and "properties" in out
        and "additionalProperties" not in out
        and not out.get("x-kubernetes-preserve-unknown-fields")
    ):
        out["additionalProperties"] = False
    return out


def served_schema(crd: dict[str, Any], api_version: str, kind: str,
                  metadata_required: tuple[str, ...] = ("name",)) -> dict[str, Any]:  # fmt: skip
    """The strict schema of `crd`'s served version of `api_version`, with apiVersion, kind and
    the metadata fields a manifest sets (name, namespace, labels, annotations) pinned."""
    version = api_version.partition("/")[2]
    served = next(v for v in crd["spec"]["versions"] if v["name"] == version and v["served"])
    schema = _strict(copy.deepcopy(served["schema"]["openAPIV3Schema"]))
    schema["properties"]["apiVersion"] = {"enum": [api_version]}
    schema["properties"]["kind"] = {"enum": [kind]}
    schema["properties"]["metadata"] = {
        "type": "object",
        "properties": {
            "name": {"type": "string"},
            "namespace": {"type": "string"},
            "labels": {"type": "object", "additionalProperties": {"type": "string"}},
            "annotations": {"type": "object", "additionalProperties": {"type": "string"}},
        },
        "required": list(metadata_required),
    }
    result: dict[str, Any] = schema
    return result


@functools.cache
def istio_validator(api_version: str, kind: str) -> jsonschema.Draft4Validator:
    group = api_version.partition("/")[0]
    crd = next(
        d
        for d in _istio_documents()
        if d["spec"]["group"] == group and d["spec"]["names"]["kind"] == kind
    )
    schema = served_schema(crd, api_version, kind)
    schema["required"] = ["apiVersion", "kind", "metadata", "spec"]
    schema.pop("additionalProperties", None)
    return jsonschema.Draft4Validator(schema)


def validate(obj: dict[str, Any]) -> None:
    """Raise when the object does not satisfy its schema (strict: unknown fields are errors)."""
    if obj.get("apiVersion", "").startswith("networking.istio.io/"):
        body = {k: v for k, v in obj.items() if k not in SERVER_FIELDS}
        errors = sorted(istio_validator(obj["apiVersion"], obj["kind"]).iter_errors(body), key=str)
        if errors:
            details = "; ".join(f"{list(e.absolute_path)}: {e.message}" for e in errors)
            raise AssertionError(f"{obj['kind']} {obj['metadata'].get('name')}: {details}")
        return
    kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
