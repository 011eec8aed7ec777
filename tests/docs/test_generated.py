"""The generated reference pages match the code they are generated from."""

from __future__ import annotations

import pytest

from canary.api.crdgen import KINDS
from canary.docgen import render_reference
from canary.docgen.crds import COMPUTED_DEFAULTS, NOTES, undocumented_fields
from tests.docs.blocks import DOCS


@pytest.fixture(autouse=True)
def _no_pod_namespace(monkeypatch: pytest.MonkeyPatch) -> None:
    # The controller's --leader-election-namespace defaults to $POD_NAMESPACE.
    monkeypatch.delenv("POD_NAMESPACE", raising=False)


def test_reference_pages_match_the_code() -> None:
    """Run `canary docs --output docs/reference` when this fails."""
    expected = render_reference()
    on_disk = {name: (DOCS / "reference" / name) for name in expected}
    missing = [name for name, path in on_disk.items() if not path.is_file()]
    assert not missing, f"missing generated pages: {missing}"
    stale = [name for name, path in on_disk.items() if path.read_text() != expected[name]]
    assert not stale, f"stale generated pages (run `canary docs --output docs/reference`): {stale}"


def test_every_field_of_every_kind_has_words() -> None:
    """A new field needs a `description=` on the model (or a note in canary/docgen/crds.py)."""
    assert undocumented_fields() == []


def test_every_note_and_computed_default_names_a_field_of_the_models() -> None:
    known = {
        f"{model.__name__}.{name}"
        for model in _models()
        for klass in model.__mro__
        if hasattr(klass, "model_fields")
        for name in klass.model_fields
    }
    assert sorted(set(NOTES) - known) == []
    assert sorted(set(COMPUTED_DEFAULTS) - known) == []


def test_the_cli_page_lists_every_sub_command() -> None:
    from canary.cli import build_parser

    page = render_reference()["cli.md"]
    for action in build_parser()._subparsers._group_actions:  # type: ignore[union-attr]
        for name in action.choices:  # type: ignore[union-attr]
            assert f"## `canary {name}`" in page


def test_the_canary_page_documents_a_nested_field_with_its_default() -> None:
    page = render_reference()["crds/canary.md"]
    row = next(line for line in page.splitlines() if line.startswith("| `falsePromotionRate` |"))
    assert "`0.05`" in row
    assert "> 0" in row
    assert "< 0.5" in row


def _models() -> list[type]:
    from canary.docgen.crds import models_of

    return [model for kind in KINDS for model in models_of(kind.model)]
