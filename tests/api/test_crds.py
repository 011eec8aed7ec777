"""The CRDs in crds/ are generated from the models, and every example satisfies both."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from canary.api.crdgen import render_crds
from canary.api.loading import parse, read_documents

ROOT = Path(__file__).parents[2]
EXAMPLES = sorted(ROOT.glob("examples/*.yaml")) + sorted(
    p for p in ROOT.glob("policies/*.yaml") if p.name != "kustomization.yaml"
)


def generated() -> dict[str, dict[str, Any]]:
    return {name: yaml.safe_load(text) for name, text in render_crds().items()}


def schema_of(kind: str) -> dict[str, Any]:
    for crd in generated().values():
        if crd["spec"]["names"]["kind"] == kind:
            return crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]  # type: ignore[no-any-return]
    raise KeyError(kind)


def test_crds_directory_matches_the_models() -> None:
    """Run `make crds` (or `canary crds --output crds`) when this fails."""
    on_disk = {
        path.name: path.read_text()
        for path in (ROOT / "crds").glob("*.yaml")
        if path.name != "kustomization.yaml"  # lists these files for deploy/: tests/install
    }
    assert on_disk == render_crds()


def test_canary_crd_has_status_subresource_columns_short_name_and_category() -> None:
    crd = generated()["canary.dev_canaries.yaml"]
    version = crd["spec"]["versions"][0]
    columns = [c["name"] for c in version["additionalPrinterColumns"]]
    assert version["subresources"] == {"status": {}}
    assert columns[:4] == ["Phase", "Weight", "FailedChecks", "LastTransition"]
    assert crd["spec"]["names"]["shortNames"] == ["cn"]
    assert "all" in crd["spec"]["names"]["categories"]


def openapi_validator(schema: dict[str, Any]) -> jsonschema.Draft4Validator:
    """Kubernetes' OpenAPI v3.0 schemas follow draft 4's rules (boolean exclusive bounds)."""
    return jsonschema.Draft4Validator(schema)


def _walk(node: Any, path: str = "") -> list[str]:
    """Paths of schema nodes that break Kubernetes' structural-schema rules."""
    problems = []
    if isinstance(node, dict):
        if "$ref" in node or ("anyOf" in node and "type" not in node):
            problems.append(path)
        preserved = node.get("x-kubernetes-preserve-unknown-fields") or node.get(
            "x-kubernetes-int-or-string"
        )
        shaped = "properties" in node or "items" in node or "enum" in node
        if shaped and "type" not in node and not preserved:
            problems.append(path)
        for key, value in node.items():
            problems.extend(_walk(value, f"{path}.{key}"))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            problems.extend(_walk(value, f"{path}[{index}]"))
    return problems


@pytest.mark.parametrize("kind", ["Canary", "MetricTemplate", "AlertProvider"])
def test_generated_schema_is_structural(kind: str) -> None:
    assert _walk(schema_of(kind)) == []


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_every_example_satisfies_the_models_and_the_crd_schema(path: Path) -> None:
    documents = [d for d in read_documents(path) if d.is_ours]
    assert documents, f"{path} holds no canary.dev object"
    for document in documents:
        parse(document)
        openapi_validator(schema_of(str(document.kind))).validate(document.body)


def test_crd_schema_rejects_what_the_models_reject() -> None:
    body = yaml.safe_load((ROOT / "examples/blue-green.yaml").read_text())
    body["spec"]["analysis"]["threshold"] = 0
    with pytest.raises(jsonschema.ValidationError):
        openapi_validator(schema_of("Canary")).validate(body)
