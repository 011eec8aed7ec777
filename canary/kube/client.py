"""A thin layer over the official client: plain dicts in and out, explicit patch content types, error tests."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException

JSON = dict[str, Any]

MERGE_PATCH = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
# The client rewrites a built-in patch to strategic merge unless told otherwise, and sends a
# list to CustomObjectsApi as a merge patch: every patch in this package names its content type.

ISTIO_GROUP = "networking.istio.io"
ISTIO_VERSION = "v1"


@dataclass(frozen=True)
class Kube:
    """The API groups the controller talks to, sharing one ApiClient."""

    api: client.ApiClient
    core: client.CoreV1Api
    apps: client.AppsV1Api
    custom: client.CustomObjectsApi
    coordination: client.CoordinationV1Api
    autoscaling: client.AutoscalingV2Api

    @classmethod
    def of(cls, api: client.ApiClient) -> Kube:
        return cls(
            api=api,
            core=client.CoreV1Api(api),
            apps=client.AppsV1Api(api),
            custom=client.CustomObjectsApi(api),
            coordination=client.CoordinationV1Api(api),
            autoscaling=client.AutoscalingV2Api(api),
        )


REQUEST_TIMEOUT = (5.0, 30.0)
"""Seconds to connect and to read one API response: the official client waits forever by default,
and a reconcile stuck on a dead connection would hold its Canary's queue slot for good."""


def raw(call: Callable[..., Any], *args: Any, **kwargs: Any) -> JSON:
    """Call a client method and return the server's JSON untouched (no model round trip)."""
    kwargs.setdefault("_request_timeout", REQUEST_TIMEOUT)
    response = call(*args, _preload_content=False, **kwargs)
    data = response.data
    return json.loads(data) if data else {}


def read(call: Callable[..., Any], *args: Any, **kwargs: Any) -> JSON | None:
    """Like raw(), but None when the object does not exist."""
    try:
        return raw(call, *args, **kwargs)
    except ApiException as error:
        if error.status == 404:
            return None
        raise


def is_status(error: BaseException, *codes: int) -> bool:
    return isinstance(error, ApiException) and error.status in codes


def is_conflict(error: BaseException) -> bool:
    return is_status(error, 409)


def is_not_found(error: BaseException) -> bool:
    return is_status(error, 404)


def annotations_of(obj: JSON) -> dict[str, str]:
    return dict(obj.get("metadata", {}).get("annotations") or {})


def resource_version(obj: JSON) -> str:
    return str(obj.get("metadata", {}).get("resourceVersion", ""))
