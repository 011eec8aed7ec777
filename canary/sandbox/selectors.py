"""Label and field selectors: parsing the query strings and matching objects against them."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from canary.sandbox import errors

JSON = dict[str, Any]

_KEY = re.compile(
    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
    r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$"
)
_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$")
_TOKEN = re.compile(r"\s*(!=|==|=|!|\(|\)|,|[^\s!=(),]+)")


@dataclass(frozen=True)
class Requirement:
    """One clause of a label selector: `key op values`."""

    key: str
    op: str  # "=", "!=", "in", "notin", "exists", "!"
    values: frozenset[str] = frozenset()

    def matches(self, labels: Mapping[str, str]) -> bool:
        if self.op == "exists":
            return self.key in labels
        if self.op == "!":
            return self.key not in labels
        if self.op in ("=", "in"):
            return labels.get(self.key) in self.values
        # `!=` and `notin` also match objects that lack the label, as in apimachinery.
        return labels.get(self.key) not in self.values


LabelSelector = tuple[Requirement, ...]


def _tokens(text: str) -> list[str]:
    tokens, pos = [], 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m:
            break
        if m.group(1):
            tokens.append(m.group(1))
        pos = m.end()
    return tokens


def _bad(text: str, why: str) -> errors.ApiError:
    return errors.bad_request(f"unable to parse requirement: {why} in selector {text!r}")


def parse_labels(text: str) -> LabelSelector:
    """Parse `app=web,track!=canary,env in (a,b),!legacy` into requirements; 400 if malformed."""
    tokens, reqs, i = _tokens(text), [], 0
    while i < len(tokens):
        if tokens[i] == "!":
            if i + 1 >= len(tokens):
                raise _bad(text, "missing key after '!'")
            reqs.append(Requirement(_check_key(text, tokens[i + 1]), "!"))
            i += 2
        else:
            key = _check_key(text, tokens[i])
            op = tokens[i + 1] if i + 1 < len(tokens) else ","
            if op == ",":
                reqs.append(Requirement(key, "exists"))
                i += 1
            elif op in ("=", "==", "!="):
                value = tokens[i + 2] if i + 2 < len(tokens) and tokens[i + 2] != "," else ""
                if not _VALUE.match(value):
                    raise _bad(text, f"invalid label value: {value!r}")
                reqs.append(Requirement(key, "!=" if op == "!=" else "=", frozenset({value})))
                i += 3 if value else 2
            elif op in ("in", "notin"):
                values, i = _value_set(text, tokens, i + 2)
                reqs.append(Requirement(key, op, values))
            else:
                raise _bad(text, f"found {op!r}, expected: in, notin, =, ==, !=, or ','")
        if i < len(tokens):
            if tokens[i] != ",":
                raise _bad(text, f"found {tokens[i]!r}, expected: ','")
            i += 1
    return tuple(reqs)


def _check_key(text: str, key: str) -> str:
    if not _KEY.match(key) or len(key.rpartition("/")[2]) > 63:
        raise _bad(text, f"invalid label key {key!r}")
    return key


def _value_set(text: str, tokens: list[str], i: int) -> tuple[frozenset[str], int]:
    if i >= len(tokens) or tokens[i] != "(":
        raise _bad(text, "found no '(', expected: '('")
    values: set[str] = set()
    i += 1
    while i < len(tokens) and tokens[i] != ")":
        if tokens[i] != ",":
            if not _VALUE.match(tokens[i]):
                raise _bad(text, f"invalid label value: {tokens[i]!r}")
            values.add(tokens[i])
        i += 1
    if i >= len(tokens):
        raise _bad(text, "found no ')', expected: ')'")
    if not values:
        # labels.NewRequirement refuses an empty set, so `a in ()` is a 400, not "match nothing".
        raise _bad(text, "values: Invalid value: []: for 'in', 'notin' operators, values set "
                   "can't be empty")  # fmt: skip
    return frozenset(values), i + 1


def labels_match(selector: LabelSelector, obj: JSON) -> bool:
    labels = obj.get("metadata", {}).get("labels") or {}
    return all(r.matches(labels) for r in selector)


@dataclass(frozen=True)
class FieldRequirement:
    """One clause of a field selector: `path op value`."""

    path: str
    equal: bool
    value: str


FieldSelector = tuple[FieldRequirement, ...]


def parse_fields(text: str, supported: frozenset[str]) -> FieldSelector:
    """Parse `metadata.name=x,status.phase!=Running`; 400 for fields the kind cannot select on."""
    reqs = []
    for clause in filter(None, (c.strip() for c in text.split(","))):
        m = re.fullmatch(r"([^=!]+?)\s*(==|=|!=)\s*(.*)", clause)
        if not m:
            raise errors.bad_request(f"invalid selector: '{text}'; can't understand '{clause}'")
        path, op, value = m.groups()
        if path not in supported:
            raise errors.bad_request(f"field label not supported: {path}")
        reqs.append(FieldRequirement(path, op != "!=", value))
    return tuple(reqs)


def _field_value(obj: JSON, path: str) -> str:
    if (
        path == "source"
    ):  # Event's `source` selects on source.component, as the Event registry does.
        path = "source.component"
    value: Any = obj
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    if value is None:
        return ""
    return str(value).lower() if isinstance(value, bool) else str(value)


def fields_match(selector: FieldSelector, obj: JSON) -> bool:
    return all((_field_value(obj, r.path) == r.value) == r.equal for r in selector)


def matcher(labels: LabelSelector, fields: FieldSelector) -> Callable[[JSON], bool]:
    """One predicate for both selectors, cheap when both are empty."""
    if not labels and not fields:
        return lambda obj: True
    return lambda obj: labels_match(labels, obj) and fields_match(fields, obj)
