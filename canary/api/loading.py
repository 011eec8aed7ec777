"""Reads API objects from YAML and turns validation errors into messages that name the field."""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from canary.api.alert_provider import AlertProvider
from canary.api.canary import Canary
from canary.api.common import API_VERSION
from canary.api.metric_template import MetricTemplate
from canary.api.safeyaml import YamlInputError, brief, read_yaml

MODELS: dict[str, type[BaseModel]] = {
    "Canary": Canary,
    "MetricTemplate": MetricTemplate,
    "AlertProvider": AlertProvider,
}


class InvalidObject(ValueError):
    """An object that does not satisfy the API; `problems` are `field.path: reason` lines."""

    def __init__(self, source: str, problems: list[str]) -> None:
        super().__init__(f"{source}: " + "; ".join(problems))
        self.source = source
        self.problems = problems


@dataclass(frozen=True)
class Document:
    """One YAML document of a file, with where it came from."""

    source: str
    body: Any

    @property
    def kind(self) -> str | None:
        if isinstance(self.body, dict):
            kind = self.body.get("kind")
            return kind if isinstance(kind, str) else None
        return None

    @property
    def is_ours(self) -> bool:
        return isinstance(self.body, dict) and self.body.get("apiVersion") == API_VERSION


def field_path(location: tuple[int | str, ...]) -> str:
    """`spec.analysis.metrics[0].name` from pydantic's error location."""
    path = ""
    for part in location:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    return path or "(document)"


def describe(error: ValidationError) -> list[str]:
    """One `path: reason` line per problem."""
    lines = []
    for problem in error.errors():
        # Model validators report at the model; strip pydantic's "Value error, " prefix.
        message = str(problem["msg"]).removeprefix("Value error, ")
        location = tuple(
            p for p in problem["loc"] if not (isinstance(p, str) and p.startswith("function-"))
        )
        if problem["type"] == "extra_forbidden":
            message = "unknown field"
        lines.append(f"{field_path(location)}: {message}")
    return lines


def read_documents(path: Path) -> Iterator[Document]:
    """Every non-empty YAML document in a file.

    Raises InvalidObject when the file cannot be read as YAML within the limits of
    canary.api.safeyaml, or holds no document at all.
    """
    try:
        bodies = read_yaml(path)
    except YamlInputError as error:
        raise InvalidObject(str(path), [f"(document): {error.reason}"]) from None
    if all(body is None for body in bodies):
        raise InvalidObject(str(path), ["(document): no YAML document (the file is empty)"])
    for index, body in enumerate(bodies):
        if body is not None:
            yield Document(f"{path}#{index}" if len(bodies) > 1 else str(path), body)


def parse(document: Document) -> BaseModel:
    """The API object in a document; InvalidObject says what is wrong."""
    if not isinstance(document.body, dict):
        raise InvalidObject(document.source, ["(document): expected a mapping"])
    model = MODELS.get(document.kind or "")
    if model is None:
        raise InvalidObject(
            document.source, [f"kind: unknown kind {brief(document.kind)} in {API_VERSION}"]
        )
    body = {k: v for k, v in document.body.items() if k != "status" or document.kind != "Canary"}
    problems = [f"{field_path(at)}: must be a finite number" for at in non_finite_numbers(body)]
    if problems:
        raise InvalidObject(document.source, problems)
    try:
        # As the API server sees it: JSON (YAML timestamps become strings), null fields dropped
        # (none of the schema's fields is nullable), types not coerced, so that "8080" is no
        # more a port here than in the CRD's schema.
        text = json.dumps(without_nulls(body), default=_json_scalar, allow_nan=False)
    except (TypeError, ValueError) as error:
        raise InvalidObject(
            document.source, [f"(document): not JSON-compatible: {error}"]
        ) from None
    try:
        return model.model_validate_json(text, strict=True)
    except ValidationError as error:
        raise InvalidObject(document.source, describe(error)) from error


def _json_scalar(value: object) -> str:
    if isinstance(value, date | datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    raise TypeError(f"a {type(value).__name__} has no JSON form")


def without_nulls(body: Any) -> Any:
    """`body` without mapping entries whose value is null, as the API server prunes them."""
    if isinstance(body, dict):
        return {k: without_nulls(v) for k, v in body.items() if v is not None}
    if isinstance(body, list):
        return [without_nulls(v) for v in body]
    return body


def non_finite_numbers(body: Any) -> list[tuple[int | str, ...]]:
    """Locations of NaN and infinities in a YAML body (JSON, and so the API server, has none)."""
    found: list[tuple[int | str, ...]] = []
    pending: list[tuple[tuple[int | str, ...], Any]] = [((), body)]
    while pending:
        location, value = pending.pop()
        if isinstance(value, float) and not math.isfinite(value):
            found.append(location)
        elif isinstance(value, dict):
            pending.extend(((*location, str(k)), v) for k, v in value.items())
        elif isinstance(value, list):
            pending.extend(((*location, i), v) for i, v in enumerate(value))
    return sorted(found, key=str)


def load_canary(path: Path) -> Canary:
    """The single Canary in a file; InvalidObject when there is none or it is invalid."""
    canaries = [d for d in read_documents(path) if d.kind == "Canary"]
    if len(canaries) != 1:
        raise InvalidObject(str(path), [f"(document): expected one Canary, found {len(canaries)}"])
    parsed = parse(canaries[0])
    assert isinstance(parsed, Canary)
    return parsed
