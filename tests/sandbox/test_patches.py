"""Patch rules: RFC 7386 merge patch, RFC 6902 JSON patch and strategic merge by merge keys."""

from __future__ import annotations

from typing import Any

import pytest

from canary.sandbox import errors, patches

POD_SPEC = {"containers": [
    {"name": "app", "image": "a:1", "ports": [{"containerPort": 80, "name": "http"}],
     "env": [{"name": "A", "value": "1"}]},
    {"name": "sidecar", "image": "s:1"},
]}  # fmt: skip


@pytest.mark.parametrize(("target", "patch", "expected"), [
    pytest.param({"a": 1}, {"b": 2}, {"a": 1, "b": 2}, id="adds"),
    pytest.param({"a": 1, "b": 2}, {"a": None}, {"b": 2}, id="null-deletes"),
    pytest.param({"a": {"x": 1, "y": 2}}, {"a": {"y": 3}}, {"a": {"x": 1, "y": 3}}, id="nested-merge"),
    pytest.param({"a": [1, 2]}, {"a": [3]}, {"a": [3]}, id="lists-replace"),
    pytest.param({"a": {"x": 1}}, {"a": 5}, {"a": 5}, id="scalar-replaces-object"),
])  # fmt: skip
def test_merge_patch(target: Any, patch: Any, expected: Any) -> None:
    assert patches.merge_patch(target, patch) == expected


@pytest.mark.parametrize(("patch", "expected"), [
    pytest.param({"containers": [{"name": "app", "image": "a:2"}]},
                 ["a:2", "s:1"], id="container-merged-by-name"),
    pytest.param({"containers": [{"name": "new", "image": "n:1"}]},
                 ["a:1", "s:1", "n:1"], id="new-container-appended"),
    pytest.param({"containers": [{"name": "sidecar", "$patch": "delete"}]},
                 ["a:1"], id="patch-delete-directive"),
    pytest.param({"containers": [{"name": "x", "image": "x:1"}, {"$patch": "replace"}]},
                 ["x:1"], id="patch-replace-directive"),
    pytest.param({"$setElementOrder/containers": [{"name": "sidecar"}, {"name": "app"}],
                  "containers": [{"name": "app", "image": "a:3"}]},
                 ["a:3", "s:1"], id="set-element-order-is-ignored"),
])  # fmt: skip
def test_strategic_merge_of_containers(patch: Any, expected: list[str]) -> None:
    result = patches.strategic_merge(POD_SPEC, patch)
    assert [c["image"] for c in result["containers"]] == expected


def test_strategic_merge_merges_container_ports_and_env_by_their_keys() -> None:
    patch = {
        "containers": [
            {
                "name": "app",
                "ports": [{"containerPort": 9090}],
                "env": [{"name": "A", "value": "2"}, {"name": "B", "value": "3"}],
            }
        ]
    }
    app = patches.strategic_merge(POD_SPEC, patch)["containers"][0]
    assert [p["containerPort"] for p in app["ports"]] == [80, 9090]
    assert app["env"] == [{"name": "A", "value": "2"}, {"name": "B", "value": "3"}]


def test_strategic_merge_merges_service_ports_by_port_and_finalizers_as_a_set() -> None:
    target = {"metadata": {"finalizers": ["a"]}, "spec": {"ports": [{"port": 80, "name": "http"}]}}
    patch = {
        "metadata": {"finalizers": ["a", "b"]},
        "spec": {"ports": [{"port": 80, "targetPort": 8080}]},
    }
    result = patches.strategic_merge(target, patch)
    assert result["metadata"]["finalizers"] == ["a", "b"]
    assert result["spec"]["ports"] == [{"port": 80, "name": "http", "targetPort": 8080}]


def test_strategic_merge_does_not_mutate_its_input() -> None:
    before = repr(POD_SPEC)
    patches.strategic_merge(POD_SPEC, {"containers": [{"name": "app", "image": "z"}]})
    assert repr(POD_SPEC) == before


@pytest.mark.parametrize(("operations", "code"), [
    pytest.param({"op": "add"}, 400, id="not-a-list"),
    pytest.param([{"op": "frobnicate", "path": "/a"}], 400, id="unknown-op"),
    pytest.param([{"op": "remove", "path": "/missing"}], 422, id="path-missing"),
    pytest.param([{"op": "test", "path": "/a", "value": 2}], 422, id="failed-test"),
])  # fmt: skip
def test_json_patch_errors(operations: Any, code: int) -> None:
    with pytest.raises(errors.ApiError) as caught:
        patches.json_patch({"a": 1}, operations)
    assert caught.value.code == code


def test_json_patch_applies_operations_in_order() -> None:
    ops = [{"op": "test", "path": "/a", "value": 1}, {"op": "replace", "path": "/a", "value": 2},
           {"op": "add", "path": "/l/-", "value": 3}]  # fmt: skip
    assert patches.json_patch({"a": 1, "l": []}, ops) == {"a": 2, "l": [3]}
