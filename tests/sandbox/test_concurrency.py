"""Invariants under concurrent writers: no lost updates, ordered resourceVersions, complete watches."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from kubernetes import client, watch

from canary.sandbox import testing

MERGE = "application/merge-patch+json"
THREADS = 6
STAMPS = itertools.count()  # a fresh value per patch: a no-op patch rightly keeps the old RV


@pytest.fixture(scope="module")
def env() -> Iterator[testing.Environment]:
    with testing.sandbox() as environment:
        yield environment


@pytest.fixture
def core(env: testing.Environment) -> client.CoreV1Api:
    return client.CoreV1Api(env.api_client)


def run_threads(target: object, count: int = THREADS) -> None:
    threads = [threading.Thread(target=target, args=(i,)) for i in range(count)]  # type: ignore[arg-type]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def test_read_modify_write_with_conflict_retries_loses_no_increment(core: client.CoreV1Api) -> None:
    core.create_namespaced_config_map(
        "default", {"metadata": {"name": "counter"}, "data": {"n": "0"}}
    )
    per_thread = 20
    unexpected: list[client.ApiException] = []

    def increment(_: int) -> None:
        done = 0
        while done < per_thread:
            current = core.read_namespaced_config_map("counter", "default")
            current.data["n"] = str(int(current.data["n"]) + 1)
            try:
                core.replace_namespaced_config_map("counter", "default", current)
                done += 1
            except client.ApiException as exc:
                if exc.status != 409:
                    unexpected.append(exc)
                    return

    run_threads(increment)
    assert not unexpected
    final = core.read_namespaced_config_map("counter", "default").data["n"]
    assert int(final) == THREADS * per_thread


def test_concurrent_patches_to_one_object_are_all_kept_and_all_watched(
    core: client.CoreV1Api,
) -> None:
    created = core.create_namespaced_config_map("default", {"metadata": {"name": "shared"}})
    start = created.metadata.resource_version
    per_thread = 25

    def patch(i: int) -> None:
        for j in range(per_thread):
            core.patch_namespaced_config_map("shared", "default", {"data": {f"t{i}-{j}": "x"}},
                                             _content_type=MERGE)  # fmt: skip

    run_threads(patch)
    assert len(core.read_namespaced_config_map("shared", "default").data) == THREADS * per_thread
    events = list(watch.Watch().stream(core.list_namespaced_config_map, "default",
                                       field_selector="metadata.name=shared",
                                       resource_version=start, timeout_seconds=1))  # fmt: skip
    versions = [int(e["object"].metadata.resource_version) for e in events]
    assert len(versions) == THREADS * per_thread
    assert versions == sorted(set(versions))
    assert len(events[-1]["object"].data) == THREADS * per_thread


operations = st.lists(
    st.tuples(st.sampled_from(["create", "patch", "delete"]), st.sampled_from("abc")),
    min_size=1, max_size=12,
)  # fmt: skip


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(ops=operations)
def test_resource_versions_strictly_increase_over_any_sequence_of_writes(
    core: client.CoreV1Api, ops: list[tuple[str, str]]
) -> None:
    seen: list[int] = []
    for op, name in ops:
        try:
            if op == "create":
                result = core.create_namespaced_config_map("default", {"metadata": {"name": name}})
            elif op == "patch":
                result = core.patch_namespaced_config_map(
                    name, "default", {"data": {"n": str(next(STAMPS))}}, _content_type=MERGE
                )
            else:
                core.delete_namespaced_config_map(name, "default")
                result = None
        except client.ApiException as exc:
            if exc.status not in (404, 409):
                raise
            continue
        if result is not None:
            seen.append(int(result.metadata.resource_version))
    listed = int(core.list_namespaced_config_map("default").metadata.resource_version)
    assert seen == sorted(set(seen))
    assert all(rv <= listed for rv in seen)
