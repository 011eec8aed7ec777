"""Structural schema rules for custom resources: pruning, defaulting and validation."""

from __future__ import annotations

from typing import Any

import pytest

from canary.sandbox import schemas

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "spec": {
            "type": "object",
            "required": ["name"],
            "properties": {
                "name": {"type": "string", "minLength": 1, "maxLength": 5},
                "count": {"type": "integer", "minimum": 1, "exclusiveMaximum": True, "maximum": 10},
                "ratio": {"type": "number", "nullable": True},
                "mode": {"type": "string", "enum": ["a", "b"], "default": "a"},
                "port": {"x-kubernetes-int-or-string": True},
                "tags": {"type": "array", "items": {"type": "string"}, "minItems": 1},
                "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                "one": {"type": "object", "oneOf": [{"required": ["x"]}, {"required": ["y"]}],
                        "properties": {"x": {"type": "string"}, "y": {"type": "string"}}},
                "raw": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
            },
        },
    },
}  # fmt: skip


@pytest.mark.parametrize(("spec", "field", "reason"), [
    pytest.param({}, "spec.name", "FieldValueRequired", id="required"),
    pytest.param({"name": 1}, "spec.name", "FieldValueTypeInvalid", id="type"),
    pytest.param({"name": ""}, "spec.name", "FieldValueInvalid", id="min-length"),
    pytest.param({"name": "toolong"}, "spec.name", "FieldValueTooLong", id="max-length"),
    pytest.param({"name": "a", "count": 0}, "spec.count", "FieldValueInvalid", id="minimum"),
    pytest.param({"name": "a", "count": 10}, "spec.count", "FieldValueInvalid", id="exclusive-maximum"),
    pytest.param({"name": "a", "count": True}, "spec.count", "FieldValueTypeInvalid", id="bool-is-not-integer"),
    pytest.param({"name": "a", "mode": "c"}, "spec.mode", "FieldValueNotSupported", id="enum"),
    pytest.param({"name": "a", "port": 1.5}, "spec.port", "FieldValueTypeInvalid", id="int-or-string"),
    pytest.param({"name": "a", "tags": []}, "spec.tags", "FieldValueInvalid", id="min-items"),
    pytest.param({"name": "a", "tags": [1]}, "spec.tags[0]", "FieldValueTypeInvalid", id="items"),
    pytest.param({"name": "a", "labels": {"k": 1}}, "spec.labels.k", "FieldValueTypeInvalid",
                 id="additional-properties"),
    pytest.param({"name": "a", "one": {"x": "1", "y": "2"}}, "spec.one", "FieldValueInvalid", id="one-of"),
    pytest.param({"name": "a", "ratio": "half"}, "spec.ratio", "FieldValueTypeInvalid", id="number"),
])  # fmt: skip
def test_validation_errors(spec: dict[str, Any], field: str, reason: str) -> None:
    causes = schemas.validate(SCHEMA, {"spec": spec})
    assert (field, reason) in {(c.field, c.reason) for c in causes}


@pytest.mark.parametrize("spec", [
    pytest.param({"name": "a"}, id="minimal"),
    pytest.param({"name": "a", "count": 9, "ratio": None, "port": "http"}, id="nullable-and-int-or-string"),
    pytest.param({"name": "a", "ratio": 1, "port": 8080, "one": {"y": "2"}}, id="integer-is-a-number"),
])  # fmt: skip
def test_valid_objects_have_no_causes(spec: dict[str, Any]) -> None:
    assert schemas.validate(SCHEMA, {"spec": spec}) == []


def test_pruning_drops_unknown_fields_but_keeps_preserved_ones() -> None:
    obj = {"apiVersion": "x/v1", "kind": "X", "metadata": {"name": "n"}, "extra": 1,
           "spec": {"name": "a", "bogus": 2, "raw": {"anything": {"goes": 3}}}}  # fmt: skip
    pruned = schemas.prune(SCHEMA, obj)
    assert sorted(pruned) == ["extra", "spec.bogus"]
    assert obj == {"apiVersion": "x/v1", "kind": "X", "metadata": {"name": "n"},
                   "spec": {"name": "a", "raw": {"anything": {"goes": 3}}}}  # fmt: skip


def test_defaults_fill_missing_fields_of_existing_objects_only() -> None:
    obj: dict[str, Any] = {"spec": {"name": "a"}}
    schemas.apply_defaults(SCHEMA, obj)
    assert obj["spec"]["mode"] == "a"
    empty: dict[str, Any] = {}
    schemas.apply_defaults(SCHEMA, empty)
    assert empty == {}
