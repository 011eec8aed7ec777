"""The generators put types, defaults and arguments into words (table-driven)."""

from __future__ import annotations

import argparse
from datetime import datetime
from typing import Any, Literal

import pytest
from pydantic import Field

from canary.api.common import Duration, FreeForm, Model
from canary.api.crdgen import CrdKind
from canary.docgen.cli import arguments_table
from canary.docgen.crds import _shape_of, render_kind


class Inner(Model):
    """An inner object."""

    size: int = Field(3, ge=1, le=9, description="How big.")


class Outer(Model):
    """An outer object."""

    inner: Inner = Field(default_factory=Inner, description="The inner one.")
    items: list[Inner] = Field(default_factory=list, description="Several.")
    wait: Duration | None = Field(None, description="How long.")
    mode: Literal["a", "b"] = Field("a", description="Which.")
    name: str = Field(min_length=1, description="Required name.")


@pytest.mark.parametrize(
    ("annotation", "words"),
    [
        (int, "integer"),
        (int | None, "integer"),
        (float, "number"),
        (bool, "boolean"),
        (int | str, "integer or string"),
        (list[str], "list of string"),
        (dict[str, str], "map of string to string"),
        (dict[str, Any], "map of string to any"),
        (Literal["x"], "`x`"),
        (Literal["x", "y"], "one of `x`, `y`"),
        (datetime, "timestamp (RFC 3339)"),
        (FreeForm, "object (copied verbatim)"),
        (Inner, "object"),
        (list[Inner], "list of object"),
        (set[int], "set"),
    ],
)
def test_types_in_words(annotation: Any, words: str) -> None:
    assert _shape_of(annotation).text == words


def test_a_kind_page_has_a_section_per_path_with_defaults_limits_and_links() -> None:
    page = render_kind(
        CrdKind(model=Outer, kind="Outer", plural="outers", singular="outer", short_names=["o"])
    )
    assert "## `inner` { #inner }" in page
    assert "## `items[]` { #items }" in page
    assert "| `inner` | [object](#inner) | its fields' defaults | The inner one. |" in page
    assert "| `size` | integer | `3` | How big. Limits: ≥ 1, ≤ 9. |" in page
    assert "| `wait` | duration | unset | How long. |" in page
    assert '| `mode` | one of `a`, `b` | `"a"` | Which. |' in page
    assert "| `name` | string | **required** | Required name. Limits: length ≥ 1. |" in page


def test_arguments_in_a_table() -> None:
    parser = argparse.ArgumentParser(prog="canary x")
    parser.add_argument("file", metavar="FILE")
    parser.add_argument("--seed", type=int, default=1, help="random seed")
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.add_argument("--tag", action="append", default=[], help="a tag")
    parser.add_argument("--hook", default=print, help="not a plain default")
    parser.add_argument("--mode", choices=["a", "b"], required=True)
    rows = arguments_table(parser)
    assert rows[2:] == [
        "| `FILE` |  |  |",
        "| `--seed SEED` | `1` | random seed |",
        "| `--json` |  | print JSON |",
        "| `--tag TAG` |  | a tag Repeatable. |",
        "| `--hook HOOK` |  | not a plain default |",
        "| `--mode {a,b}` |  | **Required.** |",
    ]
