"""The object store: one global resourceVersion, optimistic concurrency, admission of writes."""

from __future__ import annotations

import collections
import threading
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any

from canary.sandbox import (
    crds,
    errors,
    fields,
    kinds,
    limits,
    meta,
    patches,
    schemas,
    typed,
    watches,
)
from canary.sandbox.deletion import Deletion
from canary.sandbox.errors import ApiError, Cause
from canary.sandbox.objects import JSON, Key, Result, as_version, clone, key_of
from canary.sandbox.resources import Registry, ResourceType
from canary.sandbox.watches import Event, History, WatchRequest

DEFAULT_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")


class DecodeError(ApiError):
    """A body the typed decoder refuses: 400 for a create or update, 422 for a patch."""


@dataclass(frozen=True)
class WriteOptions:
    """How a write was asked for: who writes, and the `dryRun` / `fieldValidation` parameters."""

    manager: str = ""
    dry_run: bool = False
    field_validation: str = "Warn"
    """`Ignore`, `Warn` (a `Warning` header per pruned field) or `Strict` (400 on unknown fields)."""
    apply: bool = False
    """A server-side apply: managedFields record the operation as `Apply`."""


class Store(Deletion):
    """All objects of all kinds, behind one lock; every change bumps the global resourceVersion."""

    def __init__(
        self,
        registry: Registry | None = None,
        history: int = 10_000,
        bookmark_interval: float = 60.0,
    ) -> None:
        self.registry = registry or Registry()
        self.bookmark_interval = bookmark_interval
        self.lock = threading.RLock()
        self.changed = threading.Condition(self.lock)
        self._rv = 0
        self._objects: dict[str, dict[Key, JSON]] = collections.defaultdict(dict)
        self.history = History(history)
        self._next_ip = 10
        self.closed = False
        for name in DEFAULT_NAMESPACES:
            self.create(
                self._rt("", "namespaces"), "", {"metadata": {"name": name}}, WriteOptions()
            )

    # -- reading -----------------------------------------------------------------------------

    @property
    def resource_version(self) -> int:
        return self._rv

    def _rt(self, group: str, plural: str) -> ResourceType:
        for rt in self.registry.all():
            if rt.group == group and rt.plural == plural:
                return rt
        raise errors.no_route()

    def get(self, rt: ResourceType, namespace: str, name: str, version: str = "") -> JSON:
        with self.lock:
            obj = self._objects[rt.key].get((namespace, name))
        if obj is None:
            raise errors.not_found(rt.plural, rt.group, name)
        return as_version(rt, obj, version)

    def list_objects(
        self, rt: ResourceType, namespace: str, match: Callable[[JSON], bool], version: str = ""
    ) -> tuple[list[JSON], int]:
        """Matching objects sorted by namespace and name (etcd key order), and the list's RV."""
        with self.lock:
            items = [
                obj
                for key, obj in self._objects[rt.key].items()
                if (not namespace or key[0] == namespace) and match(obj)
            ]
            rv = self._rv
        items.sort(key=lambda o: (o["metadata"].get("namespace", ""), o["metadata"]["name"]))
        return [as_version(rt, obj, version) for obj in items], rv

    # -- writing -----------------------------------------------------------------------------

    def create(
        self, rt: ResourceType, namespace: str, body: Any, opts: WriteOptions, version: str = ""
    ) -> Result:
        obj = _checked_body(rt, body, version)
        obj_meta = obj.setdefault("metadata", {})
        if rt.namespaced:
            if obj_meta.get("namespace") not in (None, "", namespace):
                raise errors.bad_request(
                    "the namespace of the provided object does not match the "
                    "namespace sent on the request"
                )
            obj_meta["namespace"] = namespace
        else:
            obj_meta.pop("namespace", None)
        rv = str(obj_meta.get("resourceVersion") or "")
        if rv.isdigit() and int(rv) > 0:
            # The storage layer's check, which surfaces as a reason-less 500 on a real server.
            raise ApiError(500, "", "resourceVersion should not be set on objects to be created")
        for owned in (*meta.SERVER_OWNED, "resourceVersion", "managedFields"):
            obj_meta.pop(owned, None)
        if rt.status_subresource:
            if rt.builtin:
                obj["status"] = {}
            else:
                obj.pop("status", None)
        with self.lock:
            if rt.namespaced:
                self._check_namespace(namespace)
            if not obj_meta.get("name") and obj_meta.get("generateName"):
                obj_meta["name"] = self._free_name(rt, namespace, obj_meta["generateName"])
            warnings = self._admit(rt, obj, None, opts, version)
            name = obj_meta["name"]
            if (namespace if rt.namespaced else "", name) in self._objects[rt.key]:
                raise errors.already_exists(rt.plural, rt.group, name)
            obj_meta["uid"] = meta.new_uid()
            obj_meta["creationTimestamp"] = meta.now()
            if rt.generation:
                obj_meta["generation"] = 1
            if rt.key == "services" and not opts.dry_run:
                self._allocate_ip(obj)
            self._record(obj, None, rt, opts, "Apply" if opts.apply else "Update", "", version)
            if opts.dry_run:
                return Result(as_version(rt, obj, version), 201, warnings)
            stored = self._commit(rt, obj, None, "ADDED")
        return Result(as_version(rt, stored, version), 201, warnings)

    def update(
        self,
        rt: ResourceType,
        namespace: str,
        name: str,
        body: Any,
        opts: WriteOptions,
        version: str = "",
        subresource: str = "",
    ) -> Result:
        new = _checked_body(rt, body, version)
        new_meta = new.setdefault("metadata", {})
        if new_meta.get("name") != name:
            raise errors.bad_request(
                f"the name of the object ({new_meta.get('name', '')}) does not "
                f"match the name on the URL ({name})"
            )
        if rt.namespaced and new_meta.get("namespace") not in (None, "", namespace):
            raise errors.bad_request(
                "the namespace of the provided object does not match the "
                "namespace sent on the request"
            )
        with self.lock:
            old = self._existing(rt, namespace, name)
            wanted = new_meta.get("resourceVersion")
            if wanted and wanted != old["metadata"]["resourceVersion"]:
                raise errors.conflict(rt.plural, rt.group, name)
            uid = new_meta.get("uid")
            if uid and uid != old["metadata"]["uid"]:
                raise errors.conflict(
                    rt.plural,
                    rt.group,
                    name,
                    "Precondition failed: UID in "
                    f"precondition: {uid}, UID in object meta: {old['metadata']['uid']}",
                )
            return self._replace(rt, old, new, opts, version, subresource, "Update")

    def patch(
        self,
        rt: ResourceType,
        namespace: str,
        name: str,
        content_type: str,
        patch: Any,
        opts: WriteOptions,
        version: str = "",
        subresource: str = "",
    ) -> Result:
        """Apply a patch of the given media type under the lock, so concurrent patches never race."""
        if content_type == patches.STRATEGIC and not rt.builtin:
            raise errors.unsupported_media_type(
                content_type, [patches.JSON_PATCH, patches.MERGE, patches.APPLY]
            )
        with self.lock:
            key = (namespace if rt.namespaced else "", name)
            old = self._objects[rt.key].get(key)
            if content_type == patches.APPLY:
                return self._apply(rt, namespace, name, old, patch, opts, version, subresource)
            if old is None:
                raise errors.not_found(rt.plural, rt.group, name)
            current = as_version(rt, clone(old), version)
            if content_type == patches.JSON_PATCH:
                patched = patches.json_patch(current, patch)
            elif not isinstance(patch, dict):
                raise errors.bad_request(
                    "json: cannot unmarshal array into Go value of type map[string]interface {}"
                )
            elif content_type == patches.STRATEGIC:
                patched = patches.strategic_merge(current, patch)
            else:
                patched = patches.merge_patch(current, patch)
            if not isinstance(patched.get("metadata"), dict):
                raise errors.bad_request("metadata must be an object")
            wanted = patched["metadata"].get("resourceVersion")
            if wanted and wanted != old["metadata"]["resourceVersion"]:
                raise errors.conflict(rt.plural, rt.group, name)
            _check_identity(rt, patched, name, namespace)
            try:
                return self._replace(rt, old, patched, opts, version, subresource, "Update")
            except DecodeError as exc:
                # The patch handler reports a patched object that does not decode as Invalid.
                cause = Cause("FieldValueInvalid", exc.message, "patch")
                raise errors.invalid("", "", "", [cause]) from exc

    def _apply(
        self,
        rt: ResourceType,
        namespace: str,
        name: str,
        old: JSON | None,
        config: Any,
        opts: WriteOptions,
        version: str,
        subresource: str,
    ) -> Result:
        """Server-side apply without ownership conflicts: merge, then drop fields no longer applied."""
        if not opts.manager:
            raise errors.bad_request("PATCH /apply requires fieldManager to be set")
        config = _checked_body(rt, config, version, require_type=True)
        _check_identity(rt, config, name, namespace)
        applied = fields.fields_of(config)
        if old is None:
            if subresource:
                raise errors.not_found(rt.plural, rt.group, name)
            return self.create(rt, namespace, config, opts, version)
        current = as_version(rt, clone(old), version)
        before = next(
            (
                e.get("fieldsV1") or {}
                for e in old["metadata"].get("managedFields") or []
                if e.get("manager") == opts.manager and e.get("operation") == "Apply"
            ),
            {},
        )
        fields.drop_unapplied(current, before, applied)
        merge = patches.strategic_merge if rt.builtin else patches.merge_patch
        patched = merge(current, config)
        return self._replace(rt, old, patched, opts, version, subresource, "Apply", applied)

    def _replace(
        self,
        rt: ResourceType,
        old: JSON,
        new: JSON,
        opts: WriteOptions,
        version: str,
        subresource: str,
        operation: str,
        applied: JSON | None = None,
    ) -> Result:
        """The shared tail of update, patch and apply; called with the lock held."""
        if subresource == "status":
            status = new.get("status")
            new = clone(old)
            new["apiVersion"] = rt.api_version(version)
            if status is None:
                new.pop("status", None)
            else:
                new["status"] = status
        elif rt.status_subresource:
            if "status" in old:
                new["status"] = old["status"]
            else:
                new.pop("status", None)
        new_meta = new["metadata"]
        old_meta = old["metadata"]
        for owned in meta.SERVER_OWNED:
            if owned in old_meta:
                new_meta[owned] = old_meta[owned]
            else:
                new_meta.pop(owned, None)
        new_meta["name"] = old_meta["name"]
        if rt.namespaced:
            new_meta["namespace"] = old_meta["namespace"]
        if "managedFields" in old_meta:
            new_meta["managedFields"] = old_meta["managedFields"]
        else:
            new_meta.pop("managedFields", None)
        if "deletionTimestamp" in old_meta:
            added = set(new_meta.get("finalizers") or []) - set(old_meta.get("finalizers") or [])
            if added:
                raise errors.invalid(
                    rt.kind,
                    rt.group,
                    old_meta["name"],
                    [
                        Cause(
                            "FieldValueForbidden",
                            "Forbidden: no new finalizers can be added if the object "
                            f"is being deleted, found new finalizers {sorted(added)}",
                            "metadata.finalizers",
                        )
                    ],
                )
        warnings = self._admit(rt, new, old, opts, version)
        new["apiVersion"] = rt.api_version()
        if rt.generation and _spec_of(rt, new) != _spec_of(rt, old):
            new_meta["generation"] = old_meta.get("generation", 0) + 1
        new_meta["resourceVersion"] = old_meta["resourceVersion"]
        if new == old:
            # A write that changes nothing is not stored: no new resourceVersion, no watch event.
            return Result(as_version(rt, old, version), 200, warnings)
        changes = applied if applied is not None else fields.changed(old, new)
        self._record(new, old, rt, opts, operation, subresource, version, changes)
        if opts.dry_run:
            return Result(as_version(rt, new, version), 200, warnings)
        if "deletionTimestamp" in new_meta and not new_meta.get("finalizers"):
            return Result(as_version(rt, self._remove(rt, new), version), 200, warnings)
        stored = self._commit(rt, new, old, "MODIFIED")
        return Result(as_version(rt, stored, version), 200, warnings)

    # -- internals ---------------------------------------------------------------------------

    def _rt_by_key(self, key: str) -> ResourceType:
        for rt in self.registry.all():
            if rt.key == key:
                return rt
        raise errors.internal(f"unknown resource {key}")

    def _existing(self, rt: ResourceType, namespace: str, name: str) -> JSON:
        obj = self._objects[rt.key].get((namespace if rt.namespaced else "", name))
        if obj is None:
            raise errors.not_found(rt.plural, rt.group, name)
        return obj

    def _check_namespace(self, namespace: str) -> None:
        ns = self._objects["namespaces"].get(("", namespace))
        if ns is None:
            raise errors.not_found("namespaces", "", namespace)
        if "deletionTimestamp" in ns["metadata"]:
            raise errors.ApiError(
                403,
                "Forbidden",
                f"unable to create new content in namespace {namespace} because it is being terminated",
                {
                    "name": namespace,
                    "kind": "namespaces",
                    "causes": [
                        {
                            "reason": "NamespaceTerminating",
                            "message": f"namespace {namespace} is being terminated",
                            "field": "metadata.namespace",
                        }
                    ],
                },
            )

    def _free_name(self, rt: ResourceType, namespace: str, prefix: str) -> str:
        while True:
            name = meta.generated_name(prefix)
            if (namespace if rt.namespaced else "", name) not in self._objects[rt.key]:
                return name

    def _allocate_ip(self, obj: JSON) -> None:
        spec = obj["spec"]
        if spec.get("type") == "ExternalName":
            return
        if not spec.get("clusterIP"):
            # 10.96.0.0/12, the kubeadm default service range; .1 is the `kubernetes` service.
            self._next_ip += 1
            n = self._next_ip
            spec["clusterIP"] = f"10.{96 + (n >> 16) % 16}.{(n >> 8) & 255}.{n & 255}"
        spec.setdefault("clusterIPs", [spec["clusterIP"]])

    def _admit(
        self, rt: ResourceType, obj: JSON, old: JSON | None, opts: WriteOptions, version: str
    ) -> list[str]:
        """Prune, default and validate; 422 with every cause, like the registries' strategies."""
        meta.prune_meta(obj)
        schema = None if rt.builtin else (rt.schemas.get(version or rt.storage_version) or {})
        warnings, causes = _check_fields(rt, obj, opts, schema)
        if schema is None:
            strategy = kinds.STRATEGIES.get(rt.key)
            if rt.key == "customresourcedefinitions.apiextensions.k8s.io":
                strategy = crds.prepare
            try:
                causes += strategy(obj, old) if strategy is not None else []
            except (AttributeError, TypeError, KeyError, ValueError) as exc:
                # A field of the wrong JSON type: the typed decoder would have refused it.
                raise errors.bad_request(
                    f'{rt.kind} in version "{rt.storage_version}" cannot be handled: '
                    f"malformed object: {exc}"
                ) from exc
        rule = meta.NAME_RULE_BY_RESOURCE.get(rt.key, "subdomain")
        causes = meta.validate_meta(obj["metadata"], rule) + causes
        causes += limits.check_object(rt.kind, obj)
        if causes:
            raise errors.invalid(rt.kind, rt.group, obj["metadata"].get("name", ""), causes)
        return warnings

    def _record(
        self,
        obj: JSON,
        old: JSON | None,
        rt: ResourceType,
        opts: WriteOptions,
        operation: str,
        subresource: str,
        version: str,
        changes: JSON | None = None,
    ) -> None:
        if not opts.manager:
            return
        if changes is None:
            changes = fields.fields_of(obj) if operation == "Apply" else fields.changed(old, obj)
        entries = obj["metadata"].get("managedFields") or []
        entries = fields.record(
            entries,
            opts.manager,
            operation,
            rt.api_version(version),
            changes,
            subresource,
            meta.now(),
        )
        if entries:
            obj["metadata"]["managedFields"] = entries
        else:
            obj["metadata"].pop("managedFields", None)

    def _commit(self, rt: ResourceType, obj: JSON, old: JSON | None, kind: str) -> JSON:
        """Store (or drop, for DELETED) with the next resourceVersion and wake the watches."""
        self._rv += 1
        if kind == "DELETED":
            obj = {**obj, "metadata": {**obj["metadata"], "resourceVersion": str(self._rv)}}
            self._objects[rt.key].pop(key_of(rt, obj), None)
        else:
            obj["metadata"]["resourceVersion"] = str(self._rv)
            self._objects[rt.key][key_of(rt, obj)] = obj
        namespace = obj["metadata"].get("namespace", "")
        self.history.append(Event(self._rv, kind, rt.key, namespace, obj, old))
        self.changed.notify_all()
        if rt.key == "customresourcedefinitions.apiextensions.k8s.io" and kind != "DELETED":
            self.registry.add(crds.resource_type(obj))
        return obj

    # -- watching ----------------------------------------------------------------------------

    def watch(self, req: WatchRequest) -> Generator[tuple[str, JSON], None, None]:
        """Events for one watch (see `watches.stream`)."""
        return watches.stream(self, req)

    def compact(self) -> None:
        """Forget the whole history (a test knob): every watch from an older RV then gets 410."""
        with self.lock:
            self.history.compact()

    def close(self) -> None:
        """End every open watch."""
        with self.lock:
            self.closed = True
            self.changed.notify_all()


def _spec_of(rt: ResourceType, obj: JSON) -> JSON:
    skip = ("metadata", "status") if rt.status_subresource else ("metadata",)
    return {k: v for k, v in obj.items() if k not in skip and k not in ("apiVersion", "kind")}


def _check_fields(
    rt: ResourceType, obj: JSON, opts: WriteOptions, schema: JSON | None
) -> tuple[list[str], list[Cause]]:
    """Prune unknown fields and check the others against the CRD schema or the built-in model.

    Returns the warnings for pruned fields and the schema violations of a custom resource. A
    built-in field of the wrong JSON type fails decoding on a real server: a 400 here too.
    """
    known = schema if schema is not None else typed.schema(rt.key)
    if known is None:
        return [], []
    pruned = schemas.prune(known, obj)
    if pruned and opts.field_validation == "Strict":
        raise errors.bad_request(
            "strict decoding error: " + ", ".join(f'unknown field "{p}"' for p in pruned)
        )
    warnings = [] if opts.field_validation == "Ignore" else [f'unknown field "{p}"' for p in pruned]
    if schema is not None:
        schemas.apply_defaults(schema, obj)
    causes = schemas.validate(known, {k: v for k, v in obj.items() if k != "metadata"})
    if causes and schema is None:
        raise DecodeError(
            400,
            "BadRequest",
            f'{rt.kind} in version "{rt.storage_version}" cannot be handled as a {rt.kind}: '
            f"{causes[0].field}: {causes[0].message}",
        )
    return warnings, causes


def _checked_body(rt: ResourceType, body: Any, version: str, require_type: bool = False) -> JSON:
    """A copy of the request body after the checks the decoder does: an object of the right kind."""
    if not isinstance(body, dict):
        raise errors.bad_request(f"the body of the request must be a {rt.kind} object")
    api_version = rt.api_version(version)
    if not rt.builtin or require_type:
        for field_name in ("apiVersion", "kind"):
            if not body.get(field_name):
                raise errors.bad_request(
                    f"Object '{field_name[0].upper()}{field_name[1:]}' is "
                    "missing in the request body"
                )
    if body.get("kind") not in (None, "", rt.kind):
        raise errors.bad_request(
            f'{body["kind"]} in version "{version or rt.storage_version}" '
            f"cannot be handled as a {rt.kind}: the kind does not match"
        )
    if body.get("apiVersion") not in (None, "", api_version):
        raise errors.bad_request(
            f"the API version in the data ({body['apiVersion']}) does not "
            f"match the expected API version ({api_version})"
        )
    if not isinstance(body.get("metadata", {}), dict):
        raise errors.bad_request("metadata must be an object")
    problem = meta.type_errors(body.get("metadata") or {})
    if problem:
        raise errors.bad_request(problem)
    obj = clone(body)
    obj["apiVersion"] = rt.api_version()
    obj["kind"] = rt.kind
    return obj


def _check_identity(rt: ResourceType, obj: JSON, name: str, namespace: str) -> None:
    obj_meta = obj.get("metadata") or {}
    if obj_meta.get("name") not in (None, name):
        raise errors.bad_request(
            f"the name of the object ({obj_meta.get('name')}) does not match "
            f"the name on the URL ({name})"
        )
    if rt.namespaced and obj_meta.get("namespace") not in (None, "", namespace):
        raise errors.bad_request(
            "the namespace of the provided object does not match the namespace sent on the request"
        )
