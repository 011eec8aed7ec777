"""Request dispatch: a REST path, query and body in; a status code and a JSON body (or a watch stream) out."""

from __future__ import annotations

import base64
import binascii
import collections
import json
import logging
import threading
from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

import yaml

from canary.sandbox import (
    discovery,
    errors,
    limits,
    metadata,
    openapi,
    patches,
    scale,
    selectors,
    tables,
)
from canary.sandbox.errors import ApiError
from canary.sandbox.faults import Faults
from canary.sandbox.objects import Result
from canary.sandbox.resources import ResourceType
from canary.sandbox.store import Store, WriteOptions
from canary.sandbox.watches import WatchRequest

JSON = dict[str, Any]
log = logging.getLogger(__name__)

DEFAULT_WATCH_TIMEOUT = 1800.0  # kube-apiserver's --min-request-timeout
PATCH_TYPES = (patches.JSON_PATCH, patches.MERGE, patches.STRATEGIC, patches.APPLY)


@dataclass
class Response:
    """An answer: a JSON body, or a stream of watch events sent as chunks."""

    code: int
    body: JSON | None = None
    stream: Generator[tuple[str, JSON], None, None] | None = None
    warnings: list[str] = field(default_factory=list)
    text: str | None = None
    headers: list[tuple[str, str]] = field(default_factory=list)
    cut: bool = False
    """Fault injection: hang up instead of answering."""
    watch_cut: float | None = None
    """Fault injection: seconds after which a watch stream's connection is shut down."""


@dataclass(frozen=True)
class Route:
    """A resource path taken apart."""

    rt: ResourceType
    version: str
    namespace: str
    name: str
    subresource: str
    watch: bool


@dataclass
class Fault:
    """An injected failure: the next `times` matching requests get `code` (a test knob)."""

    method: str
    path_contains: str
    code: int
    times: int
    reason: str = "InternalError"


@dataclass(frozen=True)
class Request:
    """One received request, as recorded for tests."""

    method: str
    path: str
    query: str
    content_type: str
    accept: str = ""


class Api:
    """The Kubernetes REST API over a `Store`, free of any HTTP plumbing."""

    def __init__(self, store: Store, address: str = "127.0.0.1") -> None:
        self.store = store
        self.address = address
        self.requests: collections.deque[Request] = collections.deque(maxlen=10_000)
        self._faults: list[Fault] = []
        self._faults_lock = threading.Lock()
        self.faults = Faults()
        """Random faults by verb and resource (see canary.sandbox.faults)."""

    def inject(self, fault: Fault) -> None:
        """Fail the next matching requests, e.g. `Fault("PUT", "/leases/", 500, times=2)`."""
        with self._faults_lock:
            self._faults.append(fault)

    def handle(
        self,
        method: str,
        path: str,
        query: str,
        headers: Mapping[str, str],
        body: bytes,
        alive: Callable[[], bool] | None = None,
    ) -> Response:
        """Answer one request; every error becomes a Status body, never an exception.

        `alive` tells whether the client is still connected, so that idle watches end early.
        """
        injected = self.faults.decide(method, path, query, headers)
        if injected.cut_before:
            return Response(0, cut=True)
        refused = injected.error()
        if refused is not None:
            retry = [("Retry-After", str(injected.retry_after))] if injected.retry_after else []
            return Response(refused.code, refused.status(), headers=retry)
        response = self._answer(method, path, query, headers, body, alive)
        response.cut = injected.cut_after
        if response.stream is not None:
            response.watch_cut = injected.watch_cut
        return response

    def _answer(
        self,
        method: str,
        path: str,
        query: str,
        headers: Mapping[str, str],
        body: bytes,
        alive: Callable[[], bool] | None,
    ) -> Response:
        try:
            return self._handle(method, path, query, headers, body, alive)
        except ApiError as exc:
            return Response(exc.code, exc.status())
        except Exception as exc:  # a bug must cost one request, never the server
            log.exception("internal error serving %s %s", method, path)
            error = errors.internal(f"{type(exc).__name__}: {exc}")
            return Response(error.code, error.status())

    def _handle(
        self,
        method: str,
        path: str,
        query: str,
        headers: Mapping[str, str],
        body: bytes,
        alive: Callable[[], bool] | None,
    ) -> Response:
        content_type = headers.get("content-type", "").split(";")[0].strip().lower()
        self.requests.append(Request(method, path, query, content_type, headers.get("accept", "")))
        self._raise_fault(method, path)
        params = {k: v[-1] for k, v in parse_qs(query, keep_blank_values=True).items()}
        path = path.rstrip("/") or "/"
        static = self._discovery(path)
        if static is not None:
            if method != "GET":
                raise errors.method_not_allowed(method)
            return static
        route = self._route(path)
        user_agent = headers.get("user-agent", "")
        manager = params.get("fieldManager") or user_agent.split("/")[0]
        response = self._dispatch(method, route, params, content_type, body, manager, alive)
        if method == "GET" and response.body and "as=Table" in headers.get("accept", ""):
            # kubectl asks for a Table, with plain JSON as its fallback; a Table prints nicer.
            found = response.body
            items = found.get("items", [found])
            list_meta = found["metadata"] if "items" in found else {}
            response.body = tables.table(route.rt, items, list_meta, route.version)
        if response.stream is not None and "as=Table" in headers.get("accept", ""):
            response.stream = _table_events(route, response.stream)
        if method == "GET" and metadata.requested(headers.get("accept", "")):
            if response.stream is not None:
                response.stream = metadata.events(response.stream)
            elif response.body is not None:
                response.body = metadata.convert(response.body)
        return response

    def _raise_fault(self, method: str, path: str) -> None:
        with self._faults_lock:
            for fault in self._faults:
                if (
                    fault.method in (method, "*")
                    and fault.path_contains in path
                    and fault.times > 0
                ):
                    fault.times -= 1
                    raise ApiError(fault.code, fault.reason, f"injected fault ({fault.code})")

    def _discovery(self, path: str) -> Response | None:
        registry = self.store.registry
        if path == "/version":
            return Response(200, discovery.version_info())
        if path in ("/healthz", "/readyz", "/livez"):
            return Response(200, text="ok")
        if path == "/api":
            return Response(200, discovery.api_versions(self.address))
        if path == "/apis":
            return Response(200, discovery.api_group_list(registry))
        parts = path.strip("/").split("/")
        if parts[:2] == ["openapi", "v3"]:
            if len(parts) == 2:
                return Response(200, openapi.index(registry))
            group, version = ("", parts[3]) if parts[2] == "api" else (parts[3], parts[-1])
            if len(parts) not in (4, 5) or (parts[2] == "api") != (len(parts) == 4):
                raise errors.no_route()
            return Response(200, openapi.document(registry, group, version))
        if parts[0] == "openapi":
            raise errors.no_route()
        found: JSON | None
        if parts[0] == "api" and len(parts) == 2:
            found = discovery.resource_list(registry, "", parts[1])
        elif parts[0] == "apis" and len(parts) == 2:
            found = discovery.api_group(registry, parts[1])
        elif parts[0] == "apis" and len(parts) == 3:
            found = discovery.resource_list(registry, parts[1], parts[2])
        else:
            return None
        if found is None:
            raise errors.no_route()
        return Response(200, found)

    def _route(self, path: str) -> Route:
        parts = path.strip("/").split("/")
        if parts[0] == "api" and len(parts) > 2:
            group, version, rest = "", parts[1], parts[2:]
        elif parts[0] == "apis" and len(parts) > 3:
            group, version, rest = parts[1], parts[2], parts[3:]
        else:
            raise errors.no_route()
        watch = rest[0] == "watch"
        rest = rest[1:] if watch else rest
        namespace = ""
        namespace_sub = not group and len(rest) == 3 and rest[2] in ("status", "finalize")
        if len(rest) >= 3 and rest[0] == "namespaces" and not namespace_sub:
            namespace, rest = rest[1], rest[2:]
        if not rest or len(rest) > 3:
            raise errors.no_route()
        rt = self.store.registry.find(group, version, rest[0])
        if rt is None or (namespace and not rt.namespaced):
            raise errors.no_route()
        name = rest[1] if len(rest) > 1 else ""
        subresource = rest[2] if len(rest) > 2 else ""
        status = subresource == "status" and rt.status_subresource
        if subresource and not status and not (subresource == "scale" and rt.key in scale.SCALABLE):
            raise errors.no_route()
        if name and rt.namespaced and not namespace:
            raise errors.no_route()
        return Route(rt, version, namespace, name, subresource, watch)

    def _dispatch(
        self,
        method: str,
        route: Route,
        params: dict[str, str],
        content_type: str,
        body: bytes,
        manager: str,
        alive: Callable[[], bool] | None,
    ) -> Response:
        store, rt = self.store, route.rt
        opts = _write_options(params, manager)
        if not route.name:
            if method == "GET":
                if route.watch or params.get("watch") in ("true", "1"):
                    return self._watch(route, params, alive)
                return self._list(route, params)
            if method == "POST":
                if rt.namespaced and not route.namespace:
                    raise errors.method_not_allowed(method)
                result = store.create(
                    rt, route.namespace, _decode(body, content_type), opts, route.version
                )
                return Response(result.code, result.body, warnings=result.warnings)
            if method == "DELETE":
                match = self._matcher(rt, params)
                options = _delete_options(body, params)
                return Response(200, store.delete_collection(rt, route.namespace, match, options))
            raise errors.method_not_allowed(method)
        if route.subresource == "scale":
            return self._scale(method, route, content_type, body, opts)
        if method == "GET":
            if route.watch or params.get("watch") in ("true", "1"):
                selector = f"metadata.name={route.name}"
                params = {**params, "fieldSelector": selector}
                whole = Route(rt, route.version, route.namespace, "", "", True)
                return self._watch(whole, params, alive)
            return Response(200, store.get(rt, route.namespace, route.name, route.version))
        if method == "PUT":
            result = store.update(
                rt,
                route.namespace,
                route.name,
                _decode(body, content_type),
                opts,
                route.version,
                route.subresource,
            )
        elif method == "PATCH":
            result = self._patch(route, content_type, body, opts)
        elif method == "DELETE" and not route.subresource:
            options = _delete_options(body, params)
            result = store.delete(rt, route.namespace, route.name, options, opts.dry_run)
        else:
            raise errors.method_not_allowed(method)
        return Response(result.code, result.body, warnings=result.warnings)

    def _patch(self, route: Route, content_type: str, body: bytes, opts: WriteOptions) -> Result:
        if content_type not in PATCH_TYPES:
            raise errors.unsupported_media_type(content_type, list(PATCH_TYPES))
        if content_type == patches.APPLY:
            patch = _decode(body, "application/yaml")
            opts = WriteOptions(opts.manager, opts.dry_run, opts.field_validation, apply=True)
        else:
            patch = _decode(body, "application/json")
        return self.store.patch(
            route.rt,
            route.namespace,
            route.name,
            content_type,
            patch,
            opts,
            route.version,
            route.subresource,
        )

    def _scale(self, method: str, route: Route, content_type: str, body: bytes,
               opts: WriteOptions) -> Response:  # fmt: skip
        if method == "GET":
            return Response(200, scale.get(self.store, route.rt, route.namespace, route.name))
        if method == "PUT":
            decoded, kind = _decode(body, content_type), ""
        elif method == "PATCH" and content_type in PATCH_TYPES and content_type != patches.APPLY:
            decoded, kind = _decode(body, "application/json"), content_type
        elif method == "PATCH":
            raise errors.unsupported_media_type(content_type, list(PATCH_TYPES[:3]))
        else:
            raise errors.method_not_allowed(method)
        written = scale.write(
            self.store, route.rt, route.namespace, route.name, kind, decoded, opts
        )
        return Response(200, written)

    def _matcher(self, rt: ResourceType, params: dict[str, str]) -> Any:
        labels = selectors.parse_labels(params.get("labelSelector", ""))
        fields = selectors.parse_fields(params.get("fieldSelector", ""), rt.field_labels)
        return selectors.matcher(labels, fields)

    def _list(self, route: Route, params: dict[str, str]) -> Response:
        rt = route.rt
        items, rv = self.store.list_objects(
            rt, route.namespace, self._matcher(rt, params), route.version
        )
        list_meta: JSON = {"resourceVersion": str(rv)}
        token = params.get("continue")
        if token:
            rv, after = _decode_continue(token)
            list_meta["resourceVersion"] = str(rv)
            items = [o for o in items if _sort_key(o) > after]
        limit = int(params.get("limit") or 0) if (params.get("limit") or "0").isdigit() else 0
        if limit and len(items) > limit:
            list_meta["continue"] = _encode_continue(rv, _sort_key(items[limit - 1]))
            list_meta["remainingItemCount"] = len(items) - limit
            items = items[:limit]
        if rt.builtin:
            # Typed lists omit each item's kind and apiVersion; custom resource lists keep them.
            items = [{k: v for k, v in o.items() if k not in ("kind", "apiVersion")} for o in items]
        return Response(
            200,
            {
                "kind": rt.list_kind,
                "apiVersion": rt.api_version(route.version),
                "metadata": list_meta,
                "items": items,
            },
        )

    def _watch(
        self, route: Route, params: dict[str, str], alive: Callable[[], bool] | None = None
    ) -> Response:
        since_text = params.get("resourceVersion", "")
        try:
            since = int(since_text) if since_text not in ("", "0") else None
            timeout = float(params.get("timeoutSeconds") or DEFAULT_WATCH_TIMEOUT)
        except ValueError as exc:
            raise errors.bad_request(f"invalid watch parameter: {exc}") from exc
        request = WatchRequest(
            rt=route.rt,
            namespace=route.namespace,
            match=self._matcher(route.rt, params),
            since=since,
            timeout=timeout,
            bookmarks=params.get("allowWatchBookmarks") == "true",
            version=route.version,
            alive=alive,
        )
        return Response(200, stream=self.store.watch(request))


def _table_events(
    route: Route, events: Generator[tuple[str, JSON], None, None]
) -> Generator[tuple[str, JSON], None, None]:
    """A watch for `kubectl get -w`: each object becomes a one-row Table."""
    try:
        for kind, obj in events:
            if kind in ("ADDED", "MODIFIED", "DELETED"):
                rv = {"resourceVersion": obj["metadata"].get("resourceVersion", "")}
                obj = tables.table(route.rt, [obj], rv, route.version)
            yield kind, obj
    finally:
        events.close()


def _write_options(params: dict[str, str], manager: str) -> WriteOptions:
    dry_run = params.get("dryRun", "")
    if dry_run not in ("", "All"):
        raise errors.bad_request(f'Invalid dry run value: "{dry_run}"; supported values: "All"')
    validation = params.get("fieldValidation") or "Warn"
    if validation not in ("Ignore", "Warn", "Strict"):
        raise errors.bad_request(
            f"fieldValidation must be one of Ignore, Warn, Strict: {validation}"
        )
    return WriteOptions(manager, bool(dry_run), validation)


def _decode(body: bytes, content_type: str) -> Any:
    """The request body as JSON (or YAML); 400 with the decoder's complaint when it is neither."""
    if not body.strip():
        raise errors.bad_request("the request body is empty; an object is required")
    if "protobuf" in content_type or "cbor" in content_type:
        # Clients that prefer protobuf (kubectl, client-go) fall back to JSON on a 415.
        raise errors.unsupported_media_type(content_type, ["application/json", "application/yaml"])
    try:
        decoded = yaml.safe_load(body) if "yaml" in content_type else json.loads(body)
    except (ValueError, yaml.YAMLError) as exc:
        raise errors.bad_request(
            f"couldn't get version/kind; json parse error: {str(exc).splitlines()[0]}"
        ) from exc
    except RecursionError:
        raise errors.bad_request(
            "couldn't get version/kind; json parse error: exceeded max depth"
        ) from None
    limits.check_structure(decoded, len(body))
    return decoded


def _delete_options(body: bytes, params: dict[str, str]) -> JSON:
    options: JSON = {}
    if body.strip():
        decoded = _decode(body, "application/json")
        if not isinstance(decoded, dict):
            raise errors.bad_request("the body of a DELETE must be a DeleteOptions object")
        options.update(decoded)
    if params.get("propagationPolicy"):
        options["propagationPolicy"] = params["propagationPolicy"]
    if params.get("orphanDependents") == "true":
        options["orphanDependents"] = True
    policy = options.get("propagationPolicy")
    if policy not in (None, "Orphan", "Background", "Foreground"):
        raise errors.invalid(
            "DeleteOptions",
            "",
            "",
            [
                errors.Cause(
                    "FieldValueNotSupported",
                    f'Unsupported value: "{policy}": supported values: '
                    '"Foreground", "Background", "Orphan"',
                    "propagationPolicy",
                )
            ],
        )
    return options


def _sort_key(obj: JSON) -> str:
    return f"{obj['metadata'].get('namespace', '')}/{obj['metadata']['name']}"


def _encode_continue(rv: int, after: str) -> str:
    return base64.urlsafe_b64encode(json.dumps({"rv": rv, "start": after}).encode()).decode()


def _decode_continue(token: str) -> tuple[int, str]:
    try:
        data = json.loads(base64.urlsafe_b64decode(token.encode()))
        return int(data["rv"]), str(data["start"])
    except (ValueError, KeyError, TypeError, binascii.Error) as exc:
        raise errors.bad_request(
            "continue key is not valid: incorrect encoded start resourceVersion "
            "(version meta.k8s.io/v1)"
        ) from exc
