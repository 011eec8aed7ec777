"""The object store: one global resourceVersion, optimistic concurrency and a bounded event history."""

from __future__ import annotations

import bisect
import collections
import pickle
import threading
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import Any

from canary.sandbox import crds, errors, fields, kinds, meta, schemas
from canary.sandbox.errors import ApiError, Cause
from canary.sandbox.resources import Registry, ResourceType

JSON = dict[str, Any]
Key = tuple[str, str]  # (namespace, name); namespace is "" for cluster-scoped objects

DEFAULT_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")


def clone(obj: JSON) -> JSON:
    """A deep copy of a JSON document; pickle is the fastest deep copy in the standard library."""
    copied: JSON = pickle.loads(pickle.dumps(obj, pickle.HIGHEST_PROTOCOL))
    return copied


@dataclass(frozen=True)
class WriteOptions:
    """How a write was asked for: who writes, and the `dryRun` / `fieldValidation` parameters."""

    manager: str = ""
    dry_run: bool = False
    field_validation: str = "Warn"
    """`Ignore`, `Warn` (a `Warning` header per pruned field) or `Strict` (400 on unknown fields)."""
    apply: bool = False
    """A server-side apply: managedFields record the operation as `Apply`."""


@dataclass
class Result:
    """What a write answers: the object (or a Status), the HTTP code and any warnings."""

    body: JSON
    code: int = 200
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Event:
    """One change in the history that watches replay."""

    rv: int
    type: str
    resource: str
    namespace: str
    obj: JSON
    old: JSON | None


@dataclass
class WatchRequest:
    """A watch: which objects, from which resourceVersion (None: current state first), how long."""

    rt: ResourceType
    namespace: str
    match: Callable[[JSON], bool]
    since: int | None
    timeout: float
    bookmarks: bool = False
    version: str = ""
    alive: Callable[[], bool] | None = None
    """Checked about once a second while idle: False (the client hung up) ends the watch."""


class Store:
    """All objects of all kinds, behind one lock; every change bumps the global resourceVersion."""

    def __init__(
        self,
        registry: Registry | None = None,
        history: int = 10_000,
        bookmark_interval: float = 60.0,
    ) -> None:
        self.registry = registry or Registry()
        self.bookmark_interval = bookmark_interval
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._rv = 0
        self._objects: dict[str, dict[Key, JSON]] = collections.defaultdict(dict)
        self._events: collections.deque[Event] = collections.deque(maxlen=max(history, 1))
        self._compacted = 0  # the newest resourceVersion no longer in the history
        self._next_ip = 10
        self._closed = False
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
        with self._lock:
            obj = self._objects[rt.key].get((namespace, name))
        if obj is None:
            raise errors.not_found(rt.plural, rt.group, name)
        return _as_version(rt, obj, version)

    def list_objects(
        self, rt: ResourceType, namespace: str, match: Callable[[JSON], bool], version: str = ""
    ) -> tuple[list[JSON], int]:
        """Matching objects sorted by namespace and name (etcd key order), and the list's RV."""
        with self._lock:
            items = [
                obj
                for key, obj in self._objects[rt.key].items()
                if (not namespace or key[0] == namespace) and match(obj)
            ]
            rv = self._rv
        items.sort(key=lambda o: (o["metadata"].get("namespace", ""), o["metadata"]["name"]))
        return [_as_version(rt, obj, version) for obj in items], rv

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
        with self._lock:
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
                return Result(_as_version(rt, obj, version), 201, warnings)
            stored = self._commit(rt, obj, None, "ADDED")
        return Result(_as_version(rt, stored, version), 201, warnings)

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
        with self._lock:
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
        from canary.sandbox import patches

        if content_type == patches.STRATEGIC and not rt.builtin:
            raise errors.unsupported_media_type(
                content_type, [patches.JSON_PATCH, patches.MERGE, patches.APPLY]
            )
        with self._lock:
            key = (namespace if rt.namespaced else "", name)
            old = self._objects[rt.key].get(key)
            if content_type == patches.APPLY:
                return self._apply(rt, namespace, name, old, patch, opts, version, subresource)
            if old is None:
                raise errors.not_found(rt.plural, rt.group, name)
            current = _as_version(rt, clone(old), version)
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
            return self._replace(rt, old, patched, opts, version, subresource, "Update")

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
        from canary.sandbox import patches

        if not opts.manager:
            raise errors.bad_request("PATCH /apply requires fieldManager to be set")
        config = _checked_body(rt, config, version, require_type=True)
        _check_identity(rt, config, name, namespace)
        applied = fields.fields_of(config)
        if old is None:
            if subresource:
                raise errors.not_found(rt.plural, rt.group, name)
            return self.create(rt, namespace, config, opts, version)
        current = _as_version(rt, clone(old), version)
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
            return Result(_as_version(rt, old, version), 200, warnings)
        changes = applied if applied is not None else fields.changed(old, new)
        self._record(new, old, rt, opts, operation, subresource, version, changes)
        if opts.dry_run:
            return Result(_as_version(rt, new, version), 200, warnings)
        if "deletionTimestamp" in new_meta and not new_meta.get("finalizers"):
            return Result(_as_version(rt, self._remove(rt, new), version), 200, warnings)
        stored = self._commit(rt, new, old, "MODIFIED")
        return Result(_as_version(rt, stored, version), 200, warnings)

    # -- deleting ----------------------------------------------------------------------------

    def delete(
        self,
        rt: ResourceType,
        namespace: str,
        name: str,
        options: JSON | None = None,
        dry_run: bool = False,
    ) -> Result:
        """DELETE: finalizers delay removal; dependents go as the garbage collector would take them."""
        options = options or {}
        with self._lock:
            old = self._existing(rt, namespace, name)
            pre = options.get("preconditions") or {}
            for field_name, ours in (
                ("uid", old["metadata"]["uid"]),
                ("resourceVersion", old["metadata"]["resourceVersion"]),
            ):
                if pre.get(field_name) and pre[field_name] != ours:
                    raise errors.conflict(
                        rt.plural,
                        rt.group,
                        name,
                        f"Precondition failed: {field_name[0].upper()}"
                        f"{field_name[1:]} in precondition: {pre[field_name]}, "
                        f"{field_name} in object meta: {ours}",
                    )
            if dry_run:
                return Result(_as_version(rt, old, ""), 200)
            policy = options.get("propagationPolicy") or "Background"
            if options.get("orphanDependents") is True:
                policy = "Orphan"
            return self._delete(rt, old, policy)

    def delete_collection(
        self,
        rt: ResourceType,
        namespace: str,
        match: Callable[[JSON], bool],
        options: JSON | None = None,
    ) -> JSON:
        items, _ = self.list_objects(rt, namespace, match)
        for obj in items:
            try:
                self.delete(
                    rt, obj["metadata"].get("namespace", ""), obj["metadata"]["name"], options
                )
            except ApiError as exc:
                if exc.code != 404:  # deleted meanwhile, e.g. by the garbage collector
                    raise
        with self._lock:
            rv = self._rv
        return {
            "kind": rt.list_kind,
            "apiVersion": rt.api_version(),
            "metadata": {"resourceVersion": str(rv)},
            "items": items,
        }

    def _delete(self, rt: ResourceType, obj: JSON, policy: str) -> Result:
        obj_meta = obj["metadata"]
        if "deletionTimestamp" in obj_meta:
            return Result(obj, 200)
        uid = obj_meta["uid"]
        if policy == "Orphan":
            self._orphan(uid)
        finalizers = list(obj_meta.get("finalizers") or [])
        if policy == "Foreground" and self._dependents(uid):
            finalizers.append("foregroundDeletion")
        if rt.key == "namespaces" or finalizers:
            new = clone(obj)
            new["metadata"]["deletionTimestamp"] = meta.now()
            new["metadata"]["deletionGracePeriodSeconds"] = 0
            new["metadata"]["finalizers"] = finalizers
            if not finalizers:
                del new["metadata"]["finalizers"]
            if rt.generation:
                new["metadata"]["generation"] = obj_meta.get("generation", 0) + 1
            if rt.key == "namespaces":
                new["status"] = {"phase": "Terminating"}
            stored = self._commit(rt, new, obj, "MODIFIED")
            if rt.key == "namespaces":
                self._empty_namespace(obj_meta["name"])
            elif policy == "Foreground":
                for dep_rt, dep in self._dependents(uid):
                    self._delete(dep_rt, dep, "Background")
            current = self._objects[rt.key].get(_key(rt, stored))
            return Result(current or stored, 200)
        self._remove(rt, obj)
        return Result(_success(rt, obj), 200)

    def _remove(self, rt: ResourceType, obj: JSON) -> JSON:
        """Take the object out of the store, then do what its removal implies for other objects."""
        final = self._commit(rt, obj, obj, "DELETED")
        obj_meta = final["metadata"]
        uid = obj_meta["uid"]
        for dep_rt, dep in self._dependents(uid):
            others = [r for r in dep["metadata"]["ownerReferences"] if r.get("uid") != uid]
            if any(self._uid_exists(r.get("uid", "")) for r in others):
                self._set_owner_refs(dep_rt, dep, others)
            else:
                self._delete(dep_rt, dep, "Background")
        for ref in obj_meta.get("ownerReferences") or []:
            self._finish_foreground(ref.get("uid", ""))
        namespace = obj_meta.get("namespace")
        if namespace:
            self._finish_namespace(namespace)
        if rt.key == "customresourcedefinitions.apiextensions.k8s.io":
            self._drop_crd(final)
        return final

    def _finish_foreground(self, owner_uid: str) -> None:
        for rt_key, objects in self._objects.items():
            for obj in list(objects.values()):
                obj_meta = obj["metadata"]
                if obj_meta["uid"] != owner_uid:
                    continue
                finalizers = obj_meta.get("finalizers") or []
                if "foregroundDeletion" in finalizers and not self._dependents(owner_uid):
                    new = clone(obj)
                    new["metadata"]["finalizers"] = [
                        f for f in finalizers if f != "foregroundDeletion"
                    ]
                    rt = self._rt_by_key(rt_key)
                    if new["metadata"]["finalizers"]:
                        self._commit(rt, new, obj, "MODIFIED")
                    else:
                        self._remove(rt, new)
                return

    def _empty_namespace(self, namespace: str) -> None:
        for rt_key, objects in list(self._objects.items()):
            rt = self._rt_by_key(rt_key)
            for key in list(objects):
                if key[0] == namespace and rt.namespaced and key in objects:
                    self._delete(rt, objects[key], "Background")
        self._finish_namespace(namespace)

    def _finish_namespace(self, namespace: str) -> None:
        ns = self._objects["namespaces"].get(("", namespace))
        if ns is None or "deletionTimestamp" not in ns["metadata"]:
            return
        if any(
            key[0] == namespace
            for rt_key, objects in self._objects.items()
            if rt_key != "namespaces"
            for key in objects
        ):
            return
        self._commit(self._rt_by_key("namespaces"), ns, ns, "DELETED")

    def _drop_crd(self, crd: JSON) -> None:
        spec = crd["spec"]
        rt = next(
            (
                r
                for r in self.registry.all()
                if not r.builtin
                and r.group == spec["group"]
                and r.plural == spec["names"]["plural"]
            ),
            None,
        )
        if rt is not None:
            for obj in list(self._objects[rt.key].values()):
                self._commit(rt, obj, obj, "DELETED")
            self.registry.remove(rt.group, rt.plural)

    def _dependents(self, uid: str) -> list[tuple[ResourceType, JSON]]:
        found = []
        for rt_key, objects in self._objects.items():
            for obj in objects.values():
                refs = obj["metadata"].get("ownerReferences")
                if refs and any(r.get("uid") == uid for r in refs):
                    found.append((self._rt_by_key(rt_key), obj))
        return found

    def _uid_exists(self, uid: str) -> bool:
        return any(
            obj["metadata"]["uid"] == uid
            for objects in self._objects.values()
            for obj in objects.values()
        )

    def _orphan(self, uid: str) -> None:
        for rt, dep in self._dependents(uid):
            self._set_owner_refs(
                rt, dep, [r for r in dep["metadata"]["ownerReferences"] if r.get("uid") != uid]
            )

    def _set_owner_refs(self, rt: ResourceType, obj: JSON, refs: list[JSON]) -> None:
        new = clone(obj)
        if refs:
            new["metadata"]["ownerReferences"] = refs
        else:
            del new["metadata"]["ownerReferences"]
        self._commit(rt, new, obj, "MODIFIED")

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
        causes: list[Cause] = []
        warnings: list[str] = []
        if not rt.builtin:
            schema = rt.schemas.get(version or rt.storage_version) or {}
            pruned = schemas.prune(schema, obj)
            if pruned and opts.field_validation == "Strict":
                raise errors.bad_request(
                    "strict decoding error: " + ", ".join(f'unknown field "{p}"' for p in pruned)
                )
            if opts.field_validation != "Ignore":
                warnings = [f'unknown field "{p}"' for p in pruned]
            schemas.apply_defaults(schema, obj)
            causes += schemas.validate(schema, {k: v for k, v in obj.items() if k != "metadata"})
        elif rt.key == "customresourcedefinitions.apiextensions.k8s.io":
            causes += crds.prepare(obj, old)
        else:
            strategy = kinds.STRATEGIES.get(rt.key)
            if strategy is not None:
                causes += strategy(obj, old)
        rule = meta.NAME_RULE_BY_RESOURCE.get(rt.key, "subdomain")
        causes = meta.validate_meta(obj["metadata"], rule) + causes
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
            self._objects[rt.key].pop(_key(rt, obj), None)
        else:
            obj["metadata"]["resourceVersion"] = str(self._rv)
            self._objects[rt.key][_key(rt, obj)] = obj
        if len(self._events) == self._events.maxlen:
            self._compacted = self._events[0].rv
        namespace = obj["metadata"].get("namespace", "")
        self._events.append(Event(self._rv, kind, rt.key, namespace, obj, old))
        self._changed.notify_all()
        if rt.key == "customresourcedefinitions.apiextensions.k8s.io" and kind != "DELETED":
            self.registry.add(crds.resource_type(obj))
        return obj

    # -- watching ----------------------------------------------------------------------------

    def watch(self, req: WatchRequest) -> Generator[tuple[str, JSON], None, None]:
        """Yield (type, object) from `req.since` on, until the timeout or `close()`.

        Without a start resourceVersion the watch first replays the current state as ADDED. A
        start older than the retained history yields one ERROR event with a 410 Expired Status.
        Nothing is yielded with the lock held: a slow client must not stall the writers.
        """
        deadline = time.monotonic() + req.timeout
        if req.since is None:
            initial, cursor = self.list_objects(req.rt, req.namespace, req.match, req.version)
            for obj in initial:
                yield "ADDED", obj
        else:
            cursor = req.since
        last_sent = time.monotonic()
        while True:
            bookmark = False
            with self._lock:
                if self._closed:
                    return
                if cursor < self._compacted:
                    expired = errors.expired(cursor, self._compacted + 1)
                    batch = None
                else:
                    batch = self._events_after(cursor)
                    if not batch:
                        remaining = deadline - time.monotonic()
                        if remaining <= 0:
                            break
                        if req.bookmarks:
                            remaining = min(remaining, self.bookmark_interval)
                        woken = self._changed.wait(min(remaining, 1.0))
                        if not woken and req.alive is not None and not req.alive():
                            return
                        quiet = time.monotonic() - last_sent >= self.bookmark_interval
                        if req.bookmarks and quiet and not self._events_after(cursor):
                            cursor, bookmark = self._rv, True
            if batch is None:
                yield "ERROR", expired.status()
                return
            if bookmark:
                last_sent = time.monotonic()
                yield "BOOKMARK", _bookmark(req.rt, cursor, req.version)
            for event in batch:
                cursor = event.rv
                out = _filter(req, event)
                if out is not None:
                    last_sent = time.monotonic()
                    yield out
        if req.bookmarks:
            # Like the watch cache, tell the client how far it got before the stream ends.
            yield "BOOKMARK", _bookmark(req.rt, cursor, req.version)

    def _events_after(self, rv: int) -> list[Event]:
        events = self._events
        if not events or events[-1].rv <= rv:
            return []
        start = bisect.bisect_right(events, rv, key=lambda e: e.rv)
        return [events[i] for i in range(start, len(events))]

    def compact(self) -> None:
        """Forget the whole history (a test knob): every watch from an older RV then gets 410."""
        with self._lock:
            if self._events:
                self._compacted = self._events[-1].rv
            self._events.clear()

    def close(self) -> None:
        """End every open watch."""
        with self._lock:
            self._closed = True
            self._changed.notify_all()


def _key(rt: ResourceType, obj: JSON) -> Key:
    return (obj["metadata"].get("namespace", "") if rt.namespaced else "", obj["metadata"]["name"])


def _spec_of(rt: ResourceType, obj: JSON) -> JSON:
    skip = ("metadata", "status") if rt.status_subresource else ("metadata",)
    return {k: v for k, v in obj.items() if k not in skip and k not in ("apiVersion", "kind")}


def _as_version(rt: ResourceType, obj: JSON, version: str) -> JSON:
    """The object as served at `version`: without conversion webhooks only apiVersion differs."""
    if not version or version == rt.storage_version:
        return obj
    return {**obj, "apiVersion": rt.api_version(version)}


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


def _success(rt: ResourceType, obj: JSON) -> JSON:
    details = {"name": obj["metadata"]["name"], "kind": rt.plural, "uid": obj["metadata"]["uid"]}
    if rt.group:
        details["group"] = rt.group
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Success",
        "details": details,
    }


def _bookmark(rt: ResourceType, rv: int, version: str) -> JSON:
    return {
        "kind": rt.kind,
        "apiVersion": rt.api_version(version),
        "metadata": {"resourceVersion": str(rv)},
    }


def _filter(req: WatchRequest, event: Event) -> tuple[str, JSON] | None:
    """The event as this watch sees it: leaving the selector is DELETED, entering it ADDED."""
    if event.resource != req.rt.key or (req.namespace and event.namespace != req.namespace):
        return None
    now_matches = req.match(event.obj)
    if event.type in ("ADDED", "DELETED"):
        return (event.type, _as_version(req.rt, event.obj, req.version)) if now_matches else None
    was_matching = event.old is not None and req.match(event.old)
    if now_matches:
        kind = "MODIFIED" if was_matching else "ADDED"
    elif was_matching:
        kind = "DELETED"
    else:
        return None
    return kind, _as_version(req.rt, event.obj, req.version)
