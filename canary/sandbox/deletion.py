"""Deletion as the API server and the controllers around it do it: finalizers, GC, namespaces."""

from __future__ import annotations

import threading
from collections.abc import Callable

from canary.sandbox import errors, meta
from canary.sandbox.errors import ApiError
from canary.sandbox.objects import JSON, Key, Result, as_version, clone, key_of
from canary.sandbox.resources import Registry, ResourceType

# Registries with `ReturnDeletedObject: true` answer a DELETE with the object, others with a Status.
RETURNS_DELETED = frozenset({"pods", "serviceaccounts"})


class Deletion:
    """The deleting half of the store: DELETE, and what the garbage collector and the namespace
    controller would do next, done at once and under the store's lock.
    """

    registry: Registry
    lock: threading.RLock
    _rv: int
    _objects: dict[str, dict[Key, JSON]]

    def list_objects(self, rt: ResourceType, namespace: str, match: Callable[[JSON], bool],
                     version: str = "") -> tuple[list[JSON], int]:  # fmt: skip
        raise NotImplementedError

    def _commit(self, rt: ResourceType, obj: JSON, old: JSON | None, kind: str) -> JSON:
        raise NotImplementedError

    def _existing(self, rt: ResourceType, namespace: str, name: str) -> JSON:
        raise NotImplementedError

    def _rt_by_key(self, key: str) -> ResourceType:
        raise NotImplementedError

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
        with self.lock:
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
                return Result(as_version(rt, old, ""), 200)
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
        with self.lock:
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
            current = self._objects[rt.key].get(key_of(rt, stored))
            return Result(current or stored, 200)
        final = self._remove(rt, obj)
        return Result(final if rt.key in RETURNS_DELETED else success(rt, obj), 200)

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
            if not objects:
                continue
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
            self._objects.pop(rt.key, None)
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


def success(rt: ResourceType, obj: JSON) -> JSON:
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
