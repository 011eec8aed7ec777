"""Structural schemas of custom resources: pruning unknown fields, defaulting and validation."""

from __future__ import annotations

import copy
import re
from functools import lru_cache
from typing import Any

from canary.sandbox.errors import Cause

JSON = dict[str, Any]

_GO_TYPES = {
    dict: "object",
    list: "array",
    str: "string",
    bool: "boolean",
    int: "integer",
    float: "number",
    type(None): "null",
}


def _kind_of(value: Any) -> str:
    return _GO_TYPES.get(type(value), "string")


def _child(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def prune(
    schema: JSON, value: Any, path: str = "", pruned: list[str] | None = None, root: bool = True
) -> list[str]:
    """Drop, in place, every field the schema does not specify; return the dropped paths."""
    pruned = [] if pruned is None else pruned
    if isinstance(value, dict):
        props: JSON | None = schema.get("properties")
        extra = schema.get("additionalProperties")
        preserve = schema.get("x-kubernetes-preserve-unknown-fields") is True
        embedded = schema.get("x-kubernetes-embedded-resource") is True
        for key in list(value):
            if (root or embedded) and key in ("apiVersion", "kind", "metadata"):
                continue
            if props is not None and key in props:
                prune(props[key], value[key], _child(path, key), pruned, False)
            elif isinstance(extra, dict):
                prune(extra, value[key], _child(path, key), pruned, False)
            elif not preserve and extra is not True:
                del value[key]
                pruned.append(_child(path, key))
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for i, item in enumerate(value):
            prune(schema["items"], item, f"{path}[{i}]", pruned, False)
    return pruned


def apply_defaults(schema: JSON, value: Any) -> None:
    """Fill in `default:` values, in place, for missing fields of objects that exist."""
    if isinstance(value, dict):
        for key, sub in (schema.get("properties") or {}).items():
            if key not in value and "default" in sub:
                value[key] = copy.deepcopy(sub["default"])
            if key in value:
                apply_defaults(sub, value[key])
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict):
            for item in value.values():
                apply_defaults(extra, item)
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for item in value:
            apply_defaults(schema["items"], item)


def _type_ok(expected: str, value: Any) -> bool:
    if expected == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if expected == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    return _GO_TYPES.get(type(value)) == expected


@lru_cache(maxsize=512)
def _regex(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def _show(value: Any) -> str:
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, bool):
        return str(value).lower()
    if value is None:
        return "null"
    if isinstance(value, dict | list):
        return f'"{_kind_of(value)}"'
    return str(value)


def validate(schema: JSON, value: Any, path: str = "") -> list[Cause]:
    """Every violation of the schema, worded like the apiextensions validator's field errors."""
    causes: list[Cause] = []
    here = path or "<root>"
    if value is None and (schema.get("nullable") or "type" not in schema):
        return causes
    expected = schema.get("type")
    if schema.get("x-kubernetes-int-or-string"):
        if not (isinstance(value, str) or _type_ok("integer", value)):
            causes.append(
                Cause(
                    "FieldValueTypeInvalid",
                    f'Invalid value: "{_kind_of(value)}": {here} in body must be of type '
                    f'integer-or-string: "{_kind_of(value)}"',
                    path,
                )
            )
            return causes
    elif expected and not _type_ok(expected, value):
        causes.append(
            Cause(
                "FieldValueTypeInvalid",
                f'Invalid value: "{_kind_of(value)}": {here} in body must be '
                f'of type {expected}: "{_kind_of(value)}"',
                path,
            )
        )
        return causes
    causes += _value_checks(schema, value, path, here)
    if isinstance(value, dict):
        for key in schema.get("required") or []:
            if key not in value:
                causes.append(Cause("FieldValueRequired", "Required value", _child(path, key)))
        props = schema.get("properties") or {}
        extra = schema.get("additionalProperties")
        for key, item in value.items():
            sub = props.get(key, extra if isinstance(extra, dict) else None)
            if sub is not None:
                causes += validate(sub, item, _child(path, key))
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for i, item in enumerate(value):
            causes += validate(schema["items"], item, f"{path}[{i}]")
    causes += _combinators(schema, value, path, here)
    return causes


def _value_checks(schema: JSON, value: Any, path: str, here: str) -> list[Cause]:
    causes = []

    def invalid(detail: str, reason: str = "FieldValueInvalid") -> None:
        causes.append(
            Cause(reason, f"Invalid value: {_show(value)}: {here} in body {detail}", path)
        )

    if "enum" in schema and value not in schema["enum"]:
        supported = ", ".join(_show(v) for v in schema["enum"])
        causes.append(
            Cause(
                "FieldValueNotSupported",
                f"Unsupported value: {_show(value)}: supported values: {supported}",
                path,
            )
        )
    if isinstance(value, int | float) and not isinstance(value, bool):
        if "maximum" in schema:
            exclusive = schema.get("exclusiveMaximum") is True
            if value > schema["maximum"] or (exclusive and value == schema["maximum"]):
                invalid(
                    f"should be less than {'' if exclusive else 'or equal to '}{schema['maximum']}"
                )
        if "minimum" in schema:
            exclusive = schema.get("exclusiveMinimum") is True
            if value < schema["minimum"] or (exclusive and value == schema["minimum"]):
                invalid(
                    f"should be greater than {'' if exclusive else 'or equal to '}{schema['minimum']}"
                )
        if "multipleOf" in schema and value % schema["multipleOf"]:
            invalid(f"should be a multiple of {schema['multipleOf']}")
    if isinstance(value, str):
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            causes.append(
                Cause(
                    "FieldValueTooLong",
                    f"Too long: may not be more than {schema['maxLength']} bytes",
                    path,
                )
            )
        if "minLength" in schema and len(value) < schema["minLength"]:
            invalid(f"should be at least {schema['minLength']} chars long")
        if "pattern" in schema and not _regex(schema["pattern"]).search(value):
            invalid(f"should match '{schema['pattern']}'")
    if isinstance(value, list):
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            causes.append(
                Cause(
                    "FieldValueTooMany",
                    f"Too many: {len(value)}: must have at most {schema['maxItems']} items",
                    path,
                )
            )
        if "minItems" in schema and len(value) < schema["minItems"]:
            invalid(f"should have at least {schema['minItems']} items")
    if isinstance(value, dict):
        if "maxProperties" in schema and len(value) > schema["maxProperties"]:
            causes.append(
                Cause(
                    "FieldValueTooMany",
                    f"Too many: {len(value)}: must have at most {schema['maxProperties']} items",
                    path,
                )
            )
        if "minProperties" in schema and len(value) < schema["minProperties"]:
            invalid(f"should have at least {schema['minProperties']} properties")
    return causes


def _combinators(schema: JSON, value: Any, path: str, here: str) -> list[Cause]:
    causes = []
    if "allOf" in schema:
        for sub in schema["allOf"]:
            causes += validate(sub, value, path)
    if "anyOf" in schema and not any(not validate(sub, value, path) for sub in schema["anyOf"]):
        causes.append(
            Cause(
                "FieldValueInvalid",
                f"Invalid value: {_show(value)}: {here} in body must validate at least "
                f"one schema (anyOf)",
                path,
            )
        )
    if "oneOf" in schema:
        passing = sum(1 for sub in schema["oneOf"] if not validate(sub, value, path))
        if passing != 1:
            causes.append(
                Cause(
                    "FieldValueInvalid",
                    f"Invalid value: {_show(value)}: {here} in body must validate one and "
                    f"only one schema (oneOf)",
                    path,
                )
            )
    if "not" in schema and not validate(schema["not"], value, path):
        causes.append(
            Cause(
                "FieldValueInvalid",
                f"Invalid value: {_show(value)}: {here} in body should not validate the "
                f"schema (not)",
                path,
            )
        )
    return causes


_NUMBERS = ("minimum", "maximum", "multipleOf", "minLength", "maxLength", "minItems", "maxItems",
            "minProperties", "maxProperties")  # fmt: skip
_TYPES = ("object", "array", "string", "integer", "number", "boolean")


def check(schema: Any, path: str) -> list[Cause]:
    """Whether a CRD's schema is usable here: the shapes the structural-schema rules demand."""
    if not isinstance(schema, dict):
        return [Cause("FieldValueInvalid", "Invalid value: must be an object", path)]
    causes = []

    def bad(key: str, why: str) -> None:
        causes.append(Cause("FieldValueInvalid", f"Invalid value: {why}", f"{path}.{key}"))

    if "type" in schema and schema["type"] not in _TYPES:
        bad("type", f"must be one of {', '.join(_TYPES)}")
    for key in _NUMBERS:
        value = schema.get(key)
        if value is not None and (not isinstance(value, int | float) or isinstance(value, bool)):
            bad(key, "must be a number")
    if isinstance(schema.get("multipleOf"), int | float) and schema["multipleOf"] <= 0:
        bad("multipleOf", "must be greater than 0")
    if "pattern" in schema:
        try:
            _regex(schema["pattern"])
        except (re.error, TypeError):
            bad("pattern", "must be a valid regular expression")
    required = schema.get("required", [])
    if not isinstance(required, list) or not all(isinstance(r, str) for r in required):
        bad("required", "must be a list of strings")
    if not isinstance(schema.get("enum", []), list):
        bad("enum", "must be a list")
    props = schema.get("properties", {})
    if isinstance(props, dict):
        for key, sub in props.items():
            causes += check(sub, f"{path}.properties[{key}]")
    else:
        bad("properties", "must be an object")
    for key in ("items", "not"):
        if key in schema:
            causes += check(schema[key], f"{path}.{key}")
    extra = schema.get("additionalProperties")
    if extra is not None and not isinstance(extra, bool):
        causes += check(extra, f"{path}.additionalProperties")
    for key in ("allOf", "anyOf", "oneOf"):
        subs = schema.get(key, [])
        if isinstance(subs, list):
            for i, sub in enumerate(subs):
                causes += check(sub, f"{path}.{key}[{i}]")
        else:
            bad(key, "must be a list")
    return causes
