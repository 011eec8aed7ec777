"""Deployments, config copies and Services: ensure the primary, copy configs, scale, promote, revert."""

from __future__ import annotations

from typing import Any

from canary.api.canary import Canary
from canary.kube import objects, takeover
from canary.kube.cache import metadata_of
from canary.kube.client import (
    JSON_PATCH,
    MERGE_PATCH,
    Kube,
    cached_read,
    is_conflict,
    raw,
    read,
    written,
)
from canary.kube.names import Names, is_owned_by
from canary.kube.patches import conditional, merge_diff
from canary.kube.revision import (
    ConfigRefs,
    config_checksum,
    config_refs,
    is_tracked_secret,
    tracked_key,
    tracking_enabled,
)

JSON = dict[str, Any]
CONFLICT_RETRIES = 5


class ForeignObject(RuntimeError):
    """An object the controller would create exists and is controlled by something else.

    Never overwritten: someone allowed to create Canaries but not to update Secrets must not be
    able to make the controller overwrite a Secret named `<x>-primary`.
    """


def _refuse_foreign(kind: str, live: JSON | None, canary: Canary) -> None:
    if live is not None and not is_owned_by(live, canary):
        name = live.get("metadata", {}).get("name", "")
        raise ForeignObject(f"{kind} {name} exists and is not owned by this Canary")


def check_owned(kube: Kube, canary: Canary, configs: dict[str, JSON]) -> None:
    """ForeignObject when a `-primary` Deployment or config copy this Canary would write belongs
    to someone else (the primary HPA: `autoscalers.read_primary_autoscaler`).

    Checked before the first write of an initialisation or promotion, so that a refusal leaves
    nothing half-done (the writes check again, against a race).
    """
    names = Names.of(canary)
    _refuse_foreign("deployment", read_deployment(kube, names.namespace, names.primary), canary)
    for config in configs.values():
        copy_name = objects.config_copy(canary, config)["metadata"]["name"]
        live = _config_metadata(kube, config["kind"], names.namespace, copy_name)
        _refuse_foreign(config["kind"].lower(), live, canary)


def _plural(kind: str) -> str:
    return "configmaps" if kind == "ConfigMap" else "secrets"


def _config_metadata(kube: Kube, kind: str, namespace: str, name: str) -> JSON | None:
    """A ConfigMap's or Secret's metadata (its ownerReferences say whose it is): from the
    metadata-only watch when it has listed the namespace, else one GET."""
    store = kube.cache.get(metadata_of(_plural(kind)))
    if store is not None:
        known, meta = store.lookup(namespace, name)
        if known:
            return meta
    return read(_config_calls(kube, kind)[0], name, namespace)


def read_deployment(kube: Kube, namespace: str, name: str) -> JSON | None:
    """The Deployment, from the cache when it holds the namespace (see cached_read)."""
    return cached_read(
        kube, "deployments", namespace, name, kube.apps.read_namespaced_deployment, name, namespace
    )


DIGEST = "canary.dev/checksum"
"""The key, in a Secret as `_read_config` remembers it, of its data's checksum (`config_checksum`,
the value `status.trackedConfigs` already publishes); the data itself is never held."""


def _digest_only(secret: JSON) -> JSON:
    """What is kept of a Secret between reconciles: kind, metadata, type and checksum."""
    kept: JSON = {k: secret[k] for k in ("apiVersion", "kind", "metadata", "type") if k in secret}
    kept[DIGEST] = config_checksum(secret)
    return kept


def _read_config(kube: Kube, namespace: str, kind: str, name: str) -> JSON | None:
    """A tracked config, read with GET unless the metadata-only watch answers for it.

    That watch says whether the config exists and at which version: an absent one costs no
    request, and one read earlier at the same version is reused: a ConfigMap whole, a Secret as
    its checksum only (`DIGEST`, no data: `copy_configs` reads it when it copies it).
    """
    plural = "configmaps" if kind == "configmap" else "secrets"
    known, kept = kube.cache.kept(plural, namespace, name)
    if known:
        return kept
    call = (
        kube.core.read_namespaced_config_map
        if kind == "configmap"
        else kube.core.read_namespaced_secret
    )
    config = read(call, name, namespace)
    if config is not None:
        config.setdefault("kind", "ConfigMap" if kind == "configmap" else "Secret")
        kube.cache.keep(plural, config if kind == "configmap" else _digest_only(config))
    return config


def tracked_configs(kube: Kube, target: JSON) -> tuple[ConfigRefs, dict[str, JSON]]:
    """The configs of the target that exist and are tracked, by `kind/name` key."""
    if not tracking_enabled(target):
        return ConfigRefs(), {}
    namespace = target["metadata"]["namespace"]
    refs = config_refs(target["spec"]["template"])
    found: dict[str, JSON] = {}
    for kind, names in (("configmap", refs.config_maps), ("secret", refs.secrets)):
        for name in sorted(names):
            config = _read_config(kube, namespace, kind, name)
            if config is not None and (kind == "configmap" or is_tracked_secret(config)):
                found[tracked_key(kind, name)] = config
    return ConfigRefs(
        config_maps=frozenset(k.split("/", 1)[1] for k in found if k.startswith("configmap/")),
        secrets=frozenset(k.split("/", 1)[1] for k in found if k.startswith("secret/")),
    ), found


def checksums(configs: dict[str, JSON]) -> dict[str, str]:
    return {
        key: str(config.get(DIGEST) or config_checksum(config)) for key, config in configs.items()
    }


def copy_configs(kube: Kube, canary: Canary, configs: dict[str, JSON]) -> None:
    """Create or update the `-primary` copy of every tracked config; a Secret known only by its
    checksum is read first (one GET: its data is needed only here)."""
    for config in configs.values():
        if DIGEST in config:
            meta = config["metadata"]
            full = read(kube.core.read_namespaced_secret, meta["name"], meta["namespace"])
            if full is None:
                continue  # deleted meanwhile: the next reconcile no longer tracks it
            config = {**full, "kind": "Secret"}
        desired = objects.config_copy(canary, config)
        _create_or_update(kube, canary, desired)


def _config_calls(kube: Kube, kind: str) -> tuple[Any, Any, Any]:
    if kind == "ConfigMap":
        return (
            kube.core.read_namespaced_config_map,
            kube.core.create_namespaced_config_map,
            kube.core.patch_namespaced_config_map,
        )
    return (
        kube.core.read_namespaced_secret,
        kube.core.create_namespaced_secret,
        kube.core.patch_namespaced_secret,
    )


COPIED = ("data", "binaryData")
"""What a config copy takes from its source at each promotion (type and immutable stay)."""


def _live_copy(kube: Kube, kind: str, namespace: str, name: str, fresh: bool) -> JSON | None:
    """A config copy as it is: a ConfigMap from what `Cache.kept` holds at the version its watch
    last reported (our own writes keep their answers), else, or when `fresh` (after a 409), or
    for a Secret (whose data is never held), one GET."""
    plural = _plural(kind)
    if kind == "ConfigMap" and not fresh:
        known, kept = kube.cache.kept(plural, namespace, name)
        if known:
            return kept
    live = read(_config_calls(kube, kind)[0], name, namespace)
    _keep_copy(kube, kind, live)
    return live


def _keep_copy(kube: Kube, kind: str, answer: JSON | None) -> None:
    """Read-your-writes for a copy we wrote or read: its metadata in the metadata-only store
    (so that the next look does not wait for the watch), and a ConfigMap's content."""
    if not answer or not answer.get("metadata"):
        return
    store = kube.cache.get(metadata_of(_plural(kind)))
    if store is not None:
        store.remember({"metadata": answer["metadata"]})
    if kind == "ConfigMap":
        kube.cache.keep(_plural(kind), answer)


def _create_or_update(kube: Kube, canary: Canary, desired: JSON) -> None:
    _, creator, patcher = _config_calls(kube, desired["kind"])
    kind = desired["kind"]
    name, namespace = desired["metadata"]["name"], desired["metadata"]["namespace"]
    for attempt in range(CONFLICT_RETRIES):
        live = _live_copy(kube, kind, namespace, name, fresh=attempt > 0)
        if live is None:
            _keep_copy(kube, kind, raw(creator, namespace, desired))
            return
        _refuse_foreign(desired["kind"].lower(), live, canary)
        if all(live.get(k) == desired.get(k) for k in COPIED):
            return
        labels = (live.get("metadata") or {}).get("labels") or {}
        change = merge_diff(
            {"metadata": {"labels": labels}, **{k: live.get(k) for k in COPIED}},
            {"metadata": {"labels": desired["metadata"].get("labels") or {}}}
            | {k: desired.get(k) for k in COPIED},
        )
        try:
            answer = raw(
                patcher, name, namespace, conditional(change, live), _content_type=MERGE_PATCH
            )
            _keep_copy(kube, kind, answer)
            return
        except Exception as error:
            if not is_conflict(error):
                raise
    raise RuntimeError(f"gave up updating {desired['kind']} {name} after repeated conflicts")


def desired_replicas(target: JSON, primary: JSON | None) -> int:
    """Replicas for a side that scales up: the target's own if set, else the primary's, else 1."""
    replicas = target.get("spec", {}).get("replicas", 1)
    if replicas and replicas > 0:
        return int(replicas)
    if primary is not None and primary.get("spec", {}).get("replicas"):
        return int(primary["spec"]["replicas"])
    return 1


def scale_up_replicas(target: JSON, primary: JSON | None, autoscaler: JSON | None) -> int:
    """Flagger's ScaleFromZero count for the target of a run.

    The target's own replicas if above 0; else, without an HPA, the primary's; else, with one,
    its minReplicas if above 1; else 1.
    """
    if autoscaler is None:
        return desired_replicas(target, primary)
    replicas = target.get("spec", {}).get("replicas")
    if replicas and replicas > 0:
        return int(replicas)
    # With an HPA the primary's count follows its load, not what a canary should start with.
    low = (autoscaler.get("spec") or {}).get("minReplicas") or 1
    return int(low) if low > 1 else 1


def ensure_primary(
    kube: Kube, canary: Canary, target: JSON, renamed: ConfigRefs, revision: str
) -> None:
    """Create the primary from the target when it does not exist; an existing one is left alone."""
    names = Names.of(canary)
    live = read_deployment(kube, names.namespace, names.primary)
    if live is not None:
        _refuse_foreign("deployment", live, canary)
        return
    replicas = desired_replicas(target, None)
    body = objects.primary_deployment(canary, target, renamed, revision, replicas)
    written(
        kube,
        "deployments",
        names.namespace,
        names.primary,
        kube.apps.create_namespaced_deployment,
        names.namespace,
        body,
    )


def promote(
    kube: Kube,
    canary: Canary,
    target: JSON,
    renamed: ConfigRefs,
    revision: str,
    autoscaled: bool = False,
) -> None:
    """Copy the target's template and rollout settings to the primary.

    Replicas are copied too, unless the primary has an HPA (`autoscaled`), which owns them.
    """
    names = Names.of(canary)
    for _ in range(CONFLICT_RETRIES):
        live = read_deployment(kube, names.namespace, names.primary)
        if live is None:
            ensure_primary(kube, canary, target, renamed, revision)
            return
        _refuse_foreign("deployment", live, canary)
        replicas = desired_replicas(target, live)
        spec = objects.primary_deployment_spec(target, renamed, revision, replicas)
        if autoscaled:
            del spec["replicas"]
        if _covers(live.get("spec"), spec):
            return
        # A merge patch, not a strategic one: a strategic merge would merge containers, env and
        # volumes by name and so keep those the target dropped; this one replaces lists whole.
        live_spec = live.get("spec") or {}
        change = merge_diff({"spec": {k: live_spec.get(k) for k in spec}}, {"spec": spec})
        try:
            written(
                kube,
                "deployments",
                names.namespace,
                names.primary,
                kube.apps.patch_namespaced_deployment,
                names.primary,
                names.namespace,
                conditional(change, live),
                _content_type=MERGE_PATCH,
            )
            return
        except Exception as error:
            if not is_conflict(error):
                raise
    raise RuntimeError(f"gave up promoting {names.primary} after repeated conflicts")


def scale(kube: Kube, deployment: JSON, replicas: int) -> None:
    """Set the replicas of the Deployment as read (a 409 if it changed since)."""
    meta = deployment["metadata"]
    written(
        kube,
        "deployments",
        meta["namespace"],
        meta["name"],
        kube.apps.patch_namespaced_deployment,
        meta["name"],
        meta["namespace"],
        {"metadata": {"resourceVersion": meta["resourceVersion"]}, "spec": {"replicas": replicas}},
        _content_type=MERGE_PATCH,
    )


def scale_target(kube: Kube, canary: Canary, up: bool, autoscaler: JSON | None = None) -> None:
    """Scale the target up for a run (Flagger's ScaleFromZero) or to zero between runs.

    `autoscaler` is the target's HPA, when it has one: its minReplicas is then a source of the
    count (see scale_up_replicas).

    A 409 (the Deployment controller wrote the target's status meanwhile, say) costs one GET of
    the target and another try in the same reconcile, instead of failing it.
    """
    names = Names.of(canary)
    for _ in range(CONFLICT_RETRIES):
        target = read_deployment(kube, names.namespace, names.target)
        if target is None:
            return
        replicas = 0
        if up:
            primary = read_deployment(kube, names.namespace, names.primary)
            replicas = scale_up_replicas(target, primary, autoscaler)
        if target["spec"].get("replicas") == replicas:
            return
        try:
            scale(kube, target, replicas)
            return
        except Exception as error:
            if not is_conflict(error):
                raise
    raise RuntimeError(f"gave up scaling {names.target} after repeated conflicts")


def restore_target(kube: Kube, canary: Canary) -> None:
    """Give the target the primary's replicas again, as it was before the Canary took it over."""
    names = Names.of(canary)
    target = read_deployment(kube, names.namespace, names.target)
    if target is None:
        return
    primary = read_deployment(kube, names.namespace, names.primary)
    replicas = int((primary or {}).get("spec", {}).get("replicas") or 1)
    if not target["spec"].get("replicas"):
        scale(kube, target, replicas)


# Services


def _precondition(live: JSON) -> JSON:
    return {
        "op": "replace",
        "path": "/metadata/resourceVersion",
        "value": live["metadata"]["resourceVersion"],
    }


def _covers(live: Any, desired: Any) -> bool:
    """Equal wherever `desired` says something: the server adds defaults (nodePort, protocol...)."""
    if isinstance(desired, dict):
        return isinstance(live, dict) and all(_covers(live.get(k), v) for k, v in desired.items())
    if isinstance(desired, list):
        return (
            isinstance(live, list)
            and len(live) == len(desired)
            and all(_covers(a, b) for a, b in zip(live, desired, strict=True))
        )
    return bool(live == desired)


def _replace(spec: JSON, field: str, value: Any) -> JSON:
    return {"op": "replace" if field in spec else "add", "path": f"/spec/{field}", "value": value}


def _service_ops(live: JSON, desired: JSON) -> list[JSON]:
    spec, wanted = live.get("spec") or {}, desired["spec"]
    ops = []
    if spec.get("selector") != wanted["selector"]:
        ops.append(_replace(spec, "selector", wanted["selector"]))
    if not _covers(spec.get("ports"), wanted["ports"]):
        ops.append(_replace(spec, "ports", wanted["ports"]))
    return ops


def ensure_services(kube: Kube, canary: Canary, target: JSON) -> None:
    """Create the three Services, or bring an existing one to the desired selector and ports.

    A Service that exists and is not owned by this Canary is taken over: its selector and ports
    are recorded in an annotation first, so that revertOnDeletion can put them back.
    """
    for desired in objects.services(canary, target):
        _ensure_service(kube, canary, desired)


def _ensure_service(kube: Kube, canary: Canary, desired: JSON) -> None:
    name, namespace = desired["metadata"]["name"], desired["metadata"]["namespace"]
    live = _read_service(kube, namespace, name)
    if live is None:
        written(
            kube,
            "services",
            namespace,
            name,
            kube.core.create_namespaced_service,
            namespace,
            desired,
        )
        return
    ops = _service_ops(live, desired)
    if not ops:
        return
    if not is_owned_by(live, canary):
        ops = takeover.record_ops(live, takeover.record_for_service(live)) + ops
    # The resourceVersion makes the patch conditional: a concurrent change is a 409, not a mix.
    ops.insert(0, _precondition(live))
    _patch_service(kube, namespace, name, ops)


def restore_services(kube: Kube, canary: Canary) -> None:
    """Put back the selector and ports of every taken-over Service, and forget the record."""
    names = Names.of(canary)
    for name in (names.apex, names.primary_service, names.canary_service):
        live = _read_service(kube, names.namespace, name)
        original = takeover.original_of(live) if live is not None else None
        if live is None or original is None:
            continue
        ops = [_precondition(live)]
        ops += [_replace(live["spec"], field, value) for field, value in original.items()]
        ops.append({"op": "remove", "path": takeover.annotation_path()})
        _patch_service(kube, names.namespace, name, ops)


def _read_service(kube: Kube, namespace: str, name: str) -> JSON | None:
    return cached_read(
        kube, "services", namespace, name, kube.core.read_namespaced_service, name, namespace
    )


def _patch_service(kube: Kube, namespace: str, name: str, ops: list[JSON]) -> None:
    """A JSON patch whose first op carries the resourceVersion read (a 409 if it moved since)."""
    written(
        kube,
        "services",
        namespace,
        name,
        kube.core.patch_namespaced_service,
        name,
        namespace,
        ops,
        _content_type=JSON_PATCH,
    )
