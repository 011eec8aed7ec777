"""Reads YAML input within stated limits: size, UTF-8, depth, expanded size, duplicate keys, numbers.

Every command reads manifests and scenarios through `read_yaml`, so each kind of bad input gets
one message that names the file and, where known, the line, instead of a traceback or a silent
guess (PyYAML alone lets the last of two equal keys win and recurses once per nesting level).
"""

from __future__ import annotations

import re
from collections.abc import Hashable
from pathlib import Path
from typing import Any

import yaml
from yaml.constructor import ConstructorError
from yaml.nodes import MappingNode, Node

MAX_INPUT_BYTES = 8 * 1024 * 1024
"""Largest file read (8 MiB); a Kubernetes object is at most 1.5 MiB in etcd."""
MAX_DEPTH = 100
"""Deepest nesting of mappings and sequences, counting those reached through aliases."""
MAX_NODES = 500_000
"""Most values in a file once aliases are expanded (stops "billion laughs")."""
MAX_INT_DIGITS = 100
"""Longest integer literal; the API's integers have at most 10 digits."""

_Base: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_SURROGATE = re.compile("[\ud800-\udfff]")
_MERGE_TAG = "tag:yaml.org,2002:merge"


class YamlInputError(ValueError):
    """Input that cannot be read as YAML within the limits; the message is one line."""

    def __init__(self, source: str, reason: str) -> None:
        super().__init__(f"{source}: {reason}")
        self.source = source
        self.reason = reason


def read_bytes(path: Path, limit: int = MAX_INPUT_BYTES) -> bytes:
    """At most `limit` bytes of a file; YamlInputError when it is larger or cannot be read."""
    try:
        with path.open("rb") as stream:
            data = stream.read(limit + 1)
    except OSError as error:
        raise YamlInputError(str(path), f"cannot read: {error.strerror or error}") from None
    if len(data) > limit:
        raise YamlInputError(str(path), f"larger than the limit of {limit} bytes")
    return data


def decode(data: bytes, source: str) -> str:
    """UTF-8 text (a leading byte-order mark is dropped); YamlInputError names the bad byte."""
    try:
        return data.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        raise YamlInputError(
            source,
            f"not UTF-8 text: byte 0x{data[error.start]:02x} at line {line} "
            f"(offset {error.start}); save the file as UTF-8",
        ) from None


def read_yaml(path: Path) -> list[Any]:
    """Every document in a YAML file, empty ones included as None.

    Raises YamlInputError (one line, naming the file) when the file is missing, larger than
    MAX_INPUT_BYTES, not UTF-8, not YAML, nested deeper than MAX_DEPTH, larger than MAX_NODES
    values after alias expansion, or has a duplicate key, a lone surrogate or a huge integer.
    """
    source = str(path)
    return load_all(decode(read_bytes(path), source), source)


def load_all(text: str, source: str) -> list[Any]:
    """The documents of YAML `text` (see read_yaml for the checks)."""
    try:
        documents = list(yaml.load_all(text, Loader=_StrictLoader))
    except yaml.YAMLError as error:
        raise YamlInputError(source, _one_line(error)) from None
    except RecursionError:
        # Only without libyaml: PyYAML's own composer recurses once per level.
        raise YamlInputError(
            source, f"nested deeper than the limit of {MAX_DEPTH} levels"
        ) from None
    except (ValueError, OverflowError) as error:
        # A scalar that its constructor cannot build (e.g. the timestamp 2026-13-45).
        raise YamlInputError(source, f"not valid YAML: {error}") from None
    try:
        _check_tree(documents)
    except YamlInputError as error:
        raise YamlInputError(source, error.reason) from None
    return documents


def _check_tree(documents: list[Any]) -> None:
    """Depth, size (aliases counted at every use) and text of every value, without recursion.

    libyaml itself refuses more than 1,000 levels, and PyYAML builds nested values from
    generators, so reading is safe; this bounds what later steps (pydantic, JSON) walk.
    """
    pending: list[tuple[Any, int]] = [(document, 0) for document in documents]
    nodes = 0
    while pending:
        value, depth = pending.pop()
        nodes += 1
        if nodes > MAX_NODES:
            raise YamlInputError("", f"more than {MAX_NODES} values once aliases are expanded")
        if isinstance(value, str):
            if _SURROGATE.search(value):
                raise YamlInputError("", "a string holds a lone surrogate (e.g. \\ud800), not text")
        elif isinstance(value, dict | list):
            if depth >= MAX_DEPTH:
                raise YamlInputError("", f"nested deeper than the limit of {MAX_DEPTH} levels")
            children = [*value.keys(), *value.values()] if isinstance(value, dict) else value
            pending.extend((child, depth + 1) for child in children)


def _one_line(error: yaml.YAMLError) -> str:
    if isinstance(error, yaml.MarkedYAMLError) and error.problem_mark is not None:
        mark = error.problem_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}"
        context = f" ({error.context})" if error.context else ""
        return " ".join(f"not valid YAML: {where}: {error.problem}{context}".split())
    return " ".join(f"not valid YAML: {error}".split())


class _StrictLoader(_Base):  # type: ignore[valid-type,misc]
    """The safe loader, refusing duplicate keys and integers too long to be meant."""

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Hashable, Any]:
        first_line: dict[Hashable, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == _MERGE_TAG:
                continue  # a merge (<<) supplies keys that the mapping's own keys override
            key = self.construct_object(key_node, deep=True)
            if isinstance(key, Hashable) and key in first_line:
                raise ConstructorError(
                    None,
                    None,
                    f"duplicate key {brief(key)} (first at line {first_line[key]})",
                    key_node.start_mark,
                )
            if isinstance(key, Hashable):
                first_line[key] = key_node.start_mark.line + 1
        result: dict[Hashable, Any] = super().construct_mapping(node, deep=deep)
        return result

    def construct_yaml_int(self, node: Node) -> int:
        digits = str(node.value).lstrip("+-")
        if len(digits) > MAX_INT_DIGITS:
            raise ConstructorError(
                None,
                None,
                f"an integer with {len(digits)} digits (at most {MAX_INT_DIGITS})",
                node.start_mark,
            )
        value: int = super().construct_yaml_int(node)
        return value


_StrictLoader.add_constructor("tag:yaml.org,2002:int", _StrictLoader.construct_yaml_int)


def brief(value: object, limit: int = 60) -> str:
    """`repr(value)`, cut to `limit` characters so that a message stays one readable line."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
