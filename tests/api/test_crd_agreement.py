"""The models and the generated CRDs accept the same values, field by field.

For every scalar field of a kind's spec (found by walking the generated schema), hypothesis draws
values near and across the field's rules (patterns, bounds, enums, types, lengths); the model must
report a problem at that field exactly when the CRD's schema does. The schema is checked as the
API server would: the body must be JSON (no NaN or infinity), a pattern's `$` ends the text as in
Go's RE2, and the CRD's CEL rules (`x-kubernetes-validations`) are read by a small interpreter of
the forms crdgen writes. Rules between fields are not field rules; docs/reference/input-limits.md
lists them.
"""

from __future__ import annotations

import copy
import itertools
import math
import re
from collections.abc import Iterator
from typing import Any

import jsonschema
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from canary.api.common import parse_duration
from canary.api.crdgen import render_crds
from canary.api.loading import Document, InvalidObject, field_path, parse, without_nulls

from ..cli.harness import CANARY
from ..cli.strategies import UNICODE_DIGITS

BASES: dict[str, dict[str, Any]] = {
    "Canary": yaml.safe_load(CANARY),
    "MetricTemplate": {
        "apiVersion": "canary.dev/v1alpha1",
        "kind": "MetricTemplate",
        "metadata": {"name": "t"},
        "spec": {"provider": {"address": "http://prometheus:9090"}, "query": "up"},
    },
    "AlertProvider": {
        "apiVersion": "canary.dev/v1alpha1",
        "kind": "AlertProvider",
        "metadata": {"name": "a"},
        "spec": {"type": "slack", "address": "https://hooks.example/x"},
    },
}


Path = tuple[str | int, ...]


def schema_of(kind: str) -> dict[str, Any]:
    for text in render_crds().values():
        crd = yaml.safe_load(text)
        if crd["spec"]["names"]["kind"] == kind:
            return crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]  # type: ignore[no-any-return]
    raise KeyError(kind)


def leaves(node: dict[str, Any], path: Path = ()) -> Iterator[tuple[Path, dict[str, Any]]]:
    """Every scalar field under `node`: arrays at index 0, maps at key `k`."""
    if node.get("x-kubernetes-int-or-string") or node.get("type") in (
        "string",
        "integer",
        "number",
        "boolean",
    ):
        yield path, node
    elif node.get("type") == "array":
        yield from leaves(node["items"], (*path, 0))
    elif "properties" in node:
        for name, child in node["properties"].items():
            yield from leaves(child, (*path, name))
    elif isinstance(node.get("additionalProperties"), dict):
        yield from leaves(node["additionalProperties"], (*path, "k"))


FIELDS = [
    (kind, path, node)
    for kind in BASES
    for path, node in leaves(schema_of(kind)["properties"]["spec"], ("spec",))
]


def go_pattern(validator: Any, pattern: str, instance: Any, schema: Any) -> Iterator[Any]:
    """`pattern` with RE2's meaning of `$` (end of text; Python's also matches before a \\n)."""
    if isinstance(instance, str):
        anchored = pattern[:-1] + r"\Z" if pattern.endswith("$") else pattern
        if not re.search(anchored, instance):
            yield jsonschema.ValidationError(f"{instance!r} does not match {pattern!r}")


def int_or_string(validator: Any, enabled: bool, instance: Any, schema: Any) -> Iterator[Any]:
    """Kubernetes' `x-kubernetes-int-or-string`: an integer or a string, nothing else."""
    if enabled and not (
        isinstance(instance, str) or (isinstance(instance, int) and not isinstance(instance, bool))
    ):
        yield jsonschema.ValidationError(f"{instance!r} is neither an integer nor a string")


_AT_LEAST = re.compile(r"duration\(self\) >= duration\('([^']+)'\)")


_KEYS_MATCH = re.compile(r'self\.all\(k, k\.matches\("([^"]+)"\)\)')


def cel_rules(validator: Any, rules: list[Any], instance: Any, schema: Any) -> Iterator[Any]:
    """The CEL rules crdgen writes, evaluated as Kubernetes would (Go durations, RE2)."""
    for rule in rules:
        keys = _KEYS_MATCH.fullmatch(rule["rule"])
        if keys is not None:
            pattern = keys.group(1).removesuffix("$") + r"\Z"
            if isinstance(instance, dict) and not all(re.search(pattern, k) for k in instance):
                yield jsonschema.ValidationError(rule["message"])
            continue
        minimum = _AT_LEAST.fullmatch(rule["rule"])
        assert minimum is not None, f"teach this test the CEL rule {rule['rule']!r}"
        try:
            seconds = parse_duration(instance)
        except (TypeError, ValueError):
            continue  # the pattern and type already refuse it (CEL would not run)
        if seconds < parse_duration(minimum.group(1)):
            yield jsonschema.ValidationError(rule["message"])


Validator = jsonschema.validators.extend(
    jsonschema.Draft4Validator,
    {
        "pattern": go_pattern,
        "x-kubernetes-int-or-string": int_or_string,
        "x-kubernetes-validations": cel_rules,
    },
)


def values_for(node: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Values on both sides of the node's rules, and of other types."""
    anything = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=20))
    near: list[st.SearchStrategy[Any]] = [anything]
    if "pattern" in node:
        matching = st.from_regex(node["pattern"], fullmatch=True)
        near += [
            matching,
            matching.map(lambda s: s + "\n"),
            matching.map(lambda s: s.translate(str.maketrans("0123", UNICODE_DIGITS[:4]))),
            st.integers(1, 40).map(lambda n: "9" * n + "s"),
        ]
    if "enum" in node:
        near.append(st.sampled_from(node["enum"]))
    for bound in ("minimum", "maximum"):
        if bound in node:
            near.append(st.integers(math.floor(node[bound]) - 2, math.ceil(node[bound]) + 2))
            near.append(st.floats(node[bound] - 2, node[bound] + 2))
    if node.get("type") == "integer" or node.get("x-kubernetes-int-or-string"):
        near += [st.integers(-(2**70), 2**70), st.sampled_from([0, 1, 2**31 - 1, 2**31, 1.0])]
    if node.get("type") == "number":
        near.append(st.floats(allow_nan=True, allow_infinity=True))
    if "maxLength" in node:
        near.append(st.text(min_size=node["maxLength"] - 1, max_size=node["maxLength"] + 1))
    return st.one_of(near)


def placed(kind: str, path: Path, value: Any) -> dict[str, Any]:
    """The base document with `value` at `path`, creating missing objects and lists."""
    body = copy.deepcopy(BASES[kind])
    target: Any = body
    for part, following in itertools.pairwise(path):
        empty: Any = [] if isinstance(following, int) else {}
        if isinstance(part, int):
            if len(target) <= part:
                target.append(empty)
        elif part not in target or not isinstance(target[part], type(empty)):
            target[part] = empty
        target = target[part]
    last = path[-1]
    if isinstance(last, int):
        target[:] = [value, *target[1:]]
    else:
        target[last] = value
    return body


def model_rejects(kind: str, body: dict[str, Any], where: str) -> bool:
    try:
        parse(Document("agreement", body))
    except InvalidObject as error:
        return any(problem.startswith(f"{where}: ") for problem in error.problems)
    return False


def crd_rejects(kind: str, body: dict[str, Any], path: Path, value: Any) -> bool:
    if isinstance(value, float) and not math.isfinite(value):
        return True  # not JSON: the API server cannot decode the body
    errors = Validator(schema_of_cached(kind)).iter_errors(without_nulls(body))
    return any(
        tuple(error.absolute_path) == path
        # A null is pruned, so a required field written as null is missing from its parent.
        or (
            error.validator == "required"
            and tuple(error.absolute_path) == path[:-1]
            and error.message == f"{path[-1]!r} is a required property"
        )
        for error in errors
    )


_SCHEMAS: dict[str, dict[str, Any]] = {}


def schema_of_cached(kind: str) -> dict[str, Any]:
    if kind not in _SCHEMAS:
        _SCHEMAS[kind] = schema_of(kind)
    return _SCHEMAS[kind]


@pytest.mark.parametrize(
    ("kind", "path", "node"),
    FIELDS,
    ids=[f"{kind}:{field_path(path)}" for kind, path, _ in FIELDS],
)
@settings(max_examples=12, deadline=None)
@given(data=st.data())
def test_model_and_crd_agree_on_every_field(
    kind: str, path: Path, node: dict[str, Any], data: st.DataObject
) -> None:
    value = data.draw(values_for(node), label=field_path(path))
    body = placed(kind, path, value)
    where = field_path(path)
    assert model_rejects(kind, body, where) == crd_rejects(kind, body, path, value), value


def test_every_rule_kind_is_covered() -> None:
    """The walk finds fields of each kind of rule, so the agreement test covers them all."""
    kinds = {key for _, _, node in FIELDS for key in node}
    assert {
        "pattern",
        "maxLength",
        "minimum",
        "maximum",
        "enum",
        "x-kubernetes-validations",
    } <= kinds
    assert any(node.get("x-kubernetes-int-or-string") for _, _, node in FIELDS)
    assert any(node.get("type") == "number" for _, _, node in FIELDS)


def test_the_minimum_analysis_interval_is_a_cel_rule_of_the_crd() -> None:
    body = placed("Canary", ("spec", "analysis", "interval"), "500ms")
    assert model_rejects("Canary", body, "spec.analysis.interval")
    assert crd_rejects("Canary", body, ("spec", "analysis", "interval"), "500ms")


@pytest.mark.parametrize(
    ("name", "valid"),
    [("X-Scope-OrgID", True), ("X A", False), ("X-A\r\nX-B", False), ("", False), ("é", False)],
)
def test_header_names_agree(name: str, valid: bool) -> None:
    body = placed("MetricTemplate", ("spec", "provider", "headers"), {name: "v"})
    where = ("spec", "provider", "headers")
    model_ok = not any_problem_under("MetricTemplate", body, "spec.provider.headers")
    crd_ok = not any(
        tuple(e.absolute_path) == where
        for e in Validator(schema_of_cached("MetricTemplate")).iter_errors(body)
    )
    assert model_ok == crd_ok == valid


def any_problem_under(kind: str, body: dict[str, Any], where: str) -> bool:
    try:
        parse(Document("agreement", body))
    except InvalidObject as error:
        return any(problem.startswith(where) for problem in error.problems)
    return False
