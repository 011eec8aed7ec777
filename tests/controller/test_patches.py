"""Merge patches computed from the object as read: applied as the API server applies them, they give what was wanted."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from canary.kube.patches import conditional, merge_diff
from canary.sandbox.patches import merge_patch

JSON = dict[str, Any]

_scalars = st.none() | st.booleans() | st.integers(-3, 3) | st.text("ab", max_size=2)
_values = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from("abcd"), inner),
    max_leaves=12,
)
_objects = st.dictionaries(st.sampled_from("abcd"), _values, max_size=4)


def _without_nulls(value: Any) -> Any:
    """What the server stores for `value`: members set to null are absent."""
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    return value


@given(old=_objects, new=_objects)
def test_the_patch_turns_the_old_object_into_the_new_one(old: JSON, new: JSON) -> None:
    patch = merge_diff(old, new)

    assert merge_patch(_without_nulls(old), patch) == _without_nulls(new)


@given(old=_objects)
def test_an_object_diffed_with_itself_needs_no_patch(old: JSON) -> None:
    assert merge_diff(old, old) == {}


@pytest.mark.parametrize(
    ("old", "new", "patch"),
    [
        pytest.param({"a": 1, "b": 2}, {"a": 1}, {"b": None}, id="a-removed-field-is-null"),
        pytest.param({"a": {"x": 1, "y": 2}}, {"a": {"x": 1}}, {"a": {"y": None}}, id="nested"),
        pytest.param({"a": [1, 2]}, {"a": [1]}, {"a": [1]}, id="a-list-is-sent-whole"),
        pytest.param({"a": 1}, {"a": 1, "b": None}, {}, id="null-means-absent"),
        pytest.param({}, {"a": {"x": None, "y": 1}}, {"a": {"y": 1}}, id="no-null-in-a-new-value"),
        pytest.param({"a": 1}, {"a": {"x": 1}}, {"a": {"x": 1}}, id="a-scalar-becomes-an-object"),
    ],
)
def test_merge_diff(old: JSON, new: JSON, patch: JSON) -> None:
    assert merge_diff(old, new) == patch


def test_a_conditional_patch_carries_the_version_read_and_keeps_its_metadata() -> None:
    live = {"metadata": {"name": "web", "resourceVersion": "42"}}

    patch = conditional({"metadata": {"labels": {"a": "b"}}, "spec": {"x": 1}}, live)

    assert patch == {
        "metadata": {"labels": {"a": "b"}, "resourceVersion": "42"},
        "spec": {"x": 1},
    }
