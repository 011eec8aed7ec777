"""Metadata-only reads (`as=PartialObjectMetadataList`): names and labels, never a Secret's data."""

from __future__ import annotations

import json
import threading

from kubernetes import client, watch

from canary.controller.watches import METADATA_ONLY
from canary.sandbox import testing


def _secret(core: client.CoreV1Api, namespace: str, name: str) -> None:
    body = {"metadata": {"name": name, "labels": {"a": "b"}}, "data": {"k": "c2VjcmV0"}}
    core.create_namespaced_secret(namespace, body)  # type: ignore[arg-type]


def test_a_metadata_list_and_get_hold_no_data(env: testing.Environment, namespace: str) -> None:
    core = client.CoreV1Api(env.api_client)
    _secret(core, namespace, "s1")
    listed = json.loads(
        core.list_namespaced_secret(namespace, _preload_content=False, _headers=METADATA_ONLY).data
    )
    assert (listed["kind"], listed["apiVersion"]) == ("PartialObjectMetadataList", "meta.k8s.io/v1")
    assert listed["metadata"]["resourceVersion"]
    [item] = listed["items"]
    assert item["kind"] == "PartialObjectMetadata"
    assert item["metadata"]["name"] == "s1"
    assert item["metadata"]["labels"] == {"a": "b"}
    assert set(item) == {"kind", "apiVersion", "metadata"}
    one = json.loads(
        core.read_namespaced_secret(
            "s1", namespace, _preload_content=False,
            _headers={"Accept": "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1"},
        ).data
    )  # fmt: skip
    assert one["kind"] == "PartialObjectMetadata"
    assert "data" not in one


def test_a_metadata_watch_streams_objects_without_data(
    env: testing.Environment, namespace: str
) -> None:
    core = client.CoreV1Api(env.api_client)
    listed = json.loads(
        core.list_namespaced_secret(namespace, _preload_content=False, _headers=METADATA_ONLY).data
    )
    creator = threading.Timer(0.3, _secret, (core, namespace, "s2"))
    creator.start()
    events = []
    stream = watch.Watch().stream(  # type: ignore[no-untyped-call]
        core.list_namespaced_secret,
        namespace,
        resource_version=listed["metadata"]["resourceVersion"],
        timeout_seconds=5,
        _headers=METADATA_ONLY,
    )
    for event in stream:
        events.append(event["raw_object"])
        break
    creator.join()
    assert events[0]["kind"] == "PartialObjectMetadata"
    assert events[0]["metadata"]["name"] == "s2"
    assert "data" not in events[0]
