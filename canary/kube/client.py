"""A thin layer over the official client: plain dicts in and out, explicit patch content types,
retries of safe requests, error tests."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import structlog
import tenacity
import urllib3
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from canary.kube.cache import Cache

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
    cache: Cache = field(default_factory=Cache, compare=False)
    """What the watches keep in memory (empty, so every read asks the API, until one is synced)."""

    @classmethod
    def of(cls, api: client.ApiClient) -> Kube:
        _own_retries(api)
        return cls(
            api=api,
            core=client.CoreV1Api(api),
            apps=client.AppsV1Api(api),
            custom=client.CustomObjectsApi(api),
            coordination=client.CoordinationV1Api(api),
            autoscaling=client.AutoscalingV2Api(api),
        )


def _own_retries(api: client.ApiClient) -> None:
    """Leave every retry to `raw`: urllib3's default (3 more attempts, and a sleep for any
    Retry-After) would multiply our attempts and sleep outside our budget."""
    pool = getattr(api.rest_client, "pool_manager", None)
    if isinstance(pool, urllib3.PoolManager):
        pool.connection_pool_kw["retries"] = urllib3.Retry(total=0, redirect=False)
        pool.clear()  # pools made earlier keep the retries they were made with


REQUEST_TIMEOUT = (5.0, 30.0)
"""Seconds to connect and to read one API response: the official client waits forever by default,
and a reconcile stuck on a dead connection would hold its Canary's queue slot for good."""


log = structlog.get_logger("canary.kube")

RETRIED_CODES = frozenset({429, 500, 502, 503, 504})
"""Answers after which the same request may succeed: throttling and server-side failures."""


@dataclass(frozen=True)
class RetryPolicy:
    """How a safe request is retried inside the call (see `raw`).

    Waits are "full jitter" exponential (uniform in [0, min(max_wait, first_wait * 2**n)]), as
    AWS's "Exponential Backoff and Jitter" recommends; a 429's Retry-After is honoured (up to
    `max_retry_after`). The whole call stops once `attempts` are used or the next wait would go
    past `budget` seconds, and the last error is raised.
    """

    attempts: int = 6
    budget: float = 10.0
    first_wait: float = 0.05
    max_wait: float = 2.0
    max_retry_after: float = 5.0


RETRY = RetryPolicy()


def raw(call: Callable[..., Any], *args: Any, **kwargs: Any) -> JSON:
    """Call a client method and return the server's JSON untouched (no model round trip).

    Safe requests are retried on 429, 5xx and lost connections (`RETRY`): reads, and writes that
    cannot apply twice (a replace or patch carrying a resourceVersion; a create with a fixed name,
    which the server refuses a second time with 409 AlreadyExists, raised to the caller).
    Errors: the last ApiException or urllib3 HTTPError once the policy gives up; others at once.
    """
    return _call(call, args, kwargs, exists_is_done=False)


def create_once(call: Callable[..., Any], *args: Any, **kwargs: Any) -> JSON:
    """`raw` for a create that only this caller makes (an Event named after its content): when an
    earlier attempt may have been carried out (5xx or a lost connection) and the retry is refused
    with 409 AlreadyExists, the create counts as done and {} is returned.

    Not for objects that others may create too (a Lease): there the 409 means someone else won.
    """
    return _call(call, args, kwargs, exists_is_done=True)


def _call(
    call: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any], exists_is_done: bool
) -> JSON:
    kwargs.setdefault("_request_timeout", REQUEST_TIMEOUT)
    if not _safe_to_retry(call, args, kwargs):
        return _once(call, args, kwargs)
    policy = RETRY
    creating = exists_is_done and _verb(call) == "create"
    uncertain = False

    def attempt() -> JSON:
        nonlocal uncertain
        try:
            return _once(call, args, kwargs)
        except ApiException as error:
            if creating and uncertain and error.status == 409 and _reason(error) == "AlreadyExists":
                return {}
            uncertain = uncertain or error.status != 429
            raise
        except (urllib3.exceptions.HTTPError, OSError):
            uncertain = True
            raise

    retrying = tenacity.Retrying(
        retry=tenacity.retry_if_exception(_transient),
        wait=_Wait(policy),
        stop=tenacity.stop_after_attempt(policy.attempts)
        | tenacity.stop_before_delay(policy.budget),
        before_sleep=_log_retry(call),
        reraise=True,
    )
    result: JSON = retrying(attempt)
    return result


def _once(call: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> JSON:
    response = call(*args, _preload_content=False, **kwargs)
    data = response.data
    return json.loads(data) if data else {}


def _verb(call: Callable[..., Any]) -> str:
    """The verb of an official client method, from its name (`read_namespaced_pod` -> `read`)."""
    name = getattr(call, "__name__", "")
    return name.split("_", 1)[0]


def _safe_to_retry(call: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> bool:
    verb = _verb(call)
    if verb in ("read", "get", "list", "delete"):
        return True
    body = kwargs.get("body", args[-1] if args else None)
    if verb in ("replace", "patch"):
        return _carries_resource_version(body)
    if verb == "create":
        metadata = body.get("metadata") if isinstance(body, dict) else None
        return isinstance(metadata, dict) and bool(metadata.get("name"))
    return False


def _carries_resource_version(body: Any) -> bool:
    if isinstance(body, dict):
        return bool((body.get("metadata") or {}).get("resourceVersion"))
    if isinstance(body, list):
        return any(
            isinstance(op, dict) and op.get("path") == "/metadata/resourceVersion" for op in body
        )
    return False


def _transient(error: BaseException) -> bool:
    if isinstance(error, ApiException):
        return error.status in RETRIED_CODES
    return isinstance(error, urllib3.exceptions.HTTPError | ConnectionError)


def _reason(error: ApiException) -> str:
    try:
        return str(json.loads(error.body or "{}").get("reason", ""))
    except (ValueError, AttributeError):
        return ""


def retry_after(error: BaseException | None) -> float | None:
    """Seconds in a 429's Retry-After header (None when absent or not a number of seconds)."""
    if not isinstance(error, ApiException) or error.status != 429 or not error.headers:
        return None
    try:
        return max(0.0, float(error.headers.get("Retry-After", "")))
    except ValueError:
        return None


class _Wait(tenacity.wait.wait_base):
    """Full-jitter exponential wait, or the server's Retry-After when it names one."""

    def __init__(self, policy: RetryPolicy) -> None:
        self.policy = policy
        self.jitter = tenacity.wait_random_exponential(
            multiplier=policy.first_wait, max=policy.max_wait
        )

    def __call__(self, retry_state: tenacity.RetryCallState) -> float:
        outcome = retry_state.outcome
        asked = retry_after(outcome.exception() if outcome is not None else None)
        if asked is not None:
            return min(asked, self.policy.max_retry_after)
        return float(self.jitter(retry_state))


def _log_retry(call: Callable[..., Any]) -> Callable[[tenacity.RetryCallState], None]:
    def before_sleep(retry_state: tenacity.RetryCallState) -> None:
        outcome = retry_state.outcome
        error = outcome.exception() if outcome is not None else None
        log.debug(
            "retrying request",
            call=getattr(call, "__name__", "?"),
            attempt=retry_state.attempt_number,
            error=str(error)[:200],
            wait=retry_state.upcoming_sleep,
        )

    return before_sleep


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


def cached_read(
    kube: Kube, plural: str, namespace: str, name: str, call: Callable[..., Any], *args: Any
) -> JSON | None:
    """The object as the cache holds it when the cache is authoritative for it (synced for its
    namespace, not stale), else `read(call, *args)`, whose answer then refreshes the cache.
    None when the object does not exist."""
    store = kube.cache.get(plural)
    if store is not None:
        known, obj = store.lookup(namespace, name)
        if known:
            return obj
    live = read(call, *args)
    if store is not None:
        if live is not None:
            store.remember(live)
        elif store.covers(namespace):
            store.gone(namespace, name)
    return live


def written(
    kube: Kube,
    plural: str,
    namespace: str,
    name: str,
    call: Callable[..., Any],
    *args: Any,
    **kwargs: Any,
) -> JSON:
    """`raw(call, ...)` for a write answered with the object, which the cache then holds
    (read-your-writes: the next read sees it before its watch event arrives).

    Errors: those of `raw`; after a 409 or a 404 the object is marked stale, so that the next
    read of it asks the API instead of the cache.
    """
    store = kube.cache.get(plural)
    try:
        answer = raw(call, *args, **kwargs)
    except ApiException as error:
        if store is not None and error.status in (404, 409):
            store.mark_stale(namespace, name)
        raise
    if store is not None and answer.get("metadata"):
        store.remember(answer)
    return answer
