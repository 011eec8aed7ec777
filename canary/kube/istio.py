"""The Istio TrafficRouter: DestinationRules and a VirtualService whose weights and mirror move alone."""

from __future__ import annotations

import copy
from typing import Any

from canary.api.canary import Canary
from canary.engine.types import ALL_PRIMARY, Routes
from canary.kube import objects, takeover
from canary.kube.client import (
    ISTIO_GROUP,
    ISTIO_VERSION,
    JSON_PATCH,
    Kube,
    cached_read,
    is_conflict,
    written,
)
from canary.kube.names import AB_ROUTE_NAME, WEIGHTED_ROUTE_NAME, Names, is_owned_by

JSON = dict[str, Any]
CONFLICT_RETRIES = 5
TRAFFIC_KEYS = frozenset({"route", "mirror", "mirrorPercentage"})
"""Fields of our HTTP route that belong to set_routes(); reconcile() never changes them."""


def _route_index(http: list[JSON], name: str) -> int | None:
    return next((i for i, r in enumerate(http) if r.get("name") == name), None)


def _weights(route: JSON, names: Names) -> tuple[int, int] | None:
    by_host = {
        d.get("destination", {}).get("host"): d.get("weight", 0) for d in route.get("route") or []
    }
    if names.primary_service not in by_host or names.canary_service not in by_host:
        return None
    return int(by_host[names.primary_service] or 0), int(by_host[names.canary_service] or 0)


def _mirror_percent(route: JSON, names: Names) -> int:
    if (route.get("mirror") or {}).get("host") != names.canary_service:
        return 0
    percentage = route.get("mirrorPercentage")
    # Istio mirrors everything when mirrorPercentage is absent.
    return 100 if percentage is None else round(float(percentage.get("value", 0)))


def _pointer(index: int, *parts: object) -> str:
    return "/".join(["/spec/http", str(index), *map(str, parts)])


class IstioRouter:
    """Routes a Canary's traffic with Istio; satisfies canary.protocols.TrafficRouter."""

    def __init__(self, kube: Kube) -> None:
        self.kube = kube

    # Reading

    def _read(self, plural: str, namespace: str, name: str) -> JSON | None:
        return cached_read(
            self.kube,
            plural,
            namespace,
            name,
            self.kube.custom.get_namespaced_custom_object,
            ISTIO_GROUP,
            ISTIO_VERSION,
            namespace,
            plural,
            name,
        )

    def _patch(self, plural: str, namespace: str, name: str, ops: list[JSON]) -> JSON:
        return written(
            self.kube,
            plural,
            namespace,
            name,
            self.kube.custom.patch_namespaced_custom_object,
            ISTIO_GROUP,
            ISTIO_VERSION,
            namespace,
            plural,
            name,
            ops,
            _content_type=JSON_PATCH,
        )

    def _create(self, plural: str, namespace: str, body: JSON) -> JSON:
        return written(
            self.kube,
            plural,
            namespace,
            body["metadata"]["name"],
            self.kube.custom.create_namespaced_custom_object,
            ISTIO_GROUP,
            ISTIO_VERSION,
            namespace,
            plural,
            body,
        )

    def get_routes(self, canary: Canary) -> Routes | None:
        """The weights and mirror of the live VirtualService; None when our route is not there."""
        names = Names.of(canary)
        vs = self._read("virtualservices", names.namespace, names.virtual_service)
        return None if vs is None else self._routes_of(vs, names)

    @staticmethod
    def _routes_of(vs: JSON, names: Names) -> Routes | None:
        http = vs.get("spec", {}).get("http") or []
        index = _route_index(http, WEIGHTED_ROUTE_NAME)
        weights = _weights(http[index], names) if index is not None else None
        if index is None or weights is None or sum(weights) != 100:
            return None
        ab = _route_index(http, AB_ROUTE_NAME) is not None
        return Routes(*weights, mirror=_mirror_percent(http[index], names), ab_testing=ab)

    # Reconciling the objects

    def reconcile(self, canary: Canary) -> None:
        """Create or update the DestinationRules and the VirtualService; weights and mirror stay."""
        for rule in objects.destination_rules(canary):
            self._reconcile_rule(canary, rule)
        self._reconcile_virtual_service(canary)

    def _reconcile_rule(self, canary: Canary, desired: JSON) -> None:
        namespace, name = desired["metadata"]["namespace"], desired["metadata"]["name"]
        live = self._read("destinationrules", namespace, name)
        if live is None:
            self._create("destinationrules", namespace, desired)
            return
        if live.get("spec") == desired["spec"]:
            return
        ops: list[JSON] = [_precondition(live)]
        if not is_owned_by(live, canary):
            ops += takeover.record_ops(live, takeover.record_spec(live))
        ops.append(
            {
                "op": "replace" if "spec" in live else "add",
                "path": "/spec",
                "value": desired["spec"],
            }
        )
        self._patch("destinationrules", namespace, name, ops)

    def _reconcile_virtual_service(self, canary: Canary) -> None:
        names = Names.of(canary)
        for _ in range(CONFLICT_RETRIES):
            live = self._read("virtualservices", names.namespace, names.virtual_service)
            try:
                if live is None:
                    self._create(
                        "virtualservices",
                        names.namespace,
                        objects.virtual_service(canary, ALL_PRIMARY),
                    )
                else:
                    self._update_virtual_service(canary, live)
                return
            except Exception as error:
                if not is_conflict(error):
                    raise
        raise RuntimeError(
            f"gave up updating VirtualService {names.virtual_service} after repeated conflicts"
        )

    def _update_virtual_service(self, canary: Canary, live: JSON) -> None:
        """Bring hosts, gateways and our routes' options up to date; everything else stays."""
        names = Names.of(canary)
        spec = live.get("spec") or {}
        ours = self._routes_of(live, names)
        ops: list[JSON] = []
        if ours is None:
            # Not ours yet (taken over, or our route was removed): our routes replace the http list.
            if not is_owned_by(live, canary):
                ops += takeover.record_ops(live, takeover.record_spec(live))
            ops.append(
                {
                    "op": "add",
                    "path": "/spec/http",
                    "value": objects.http_routes(canary, ALL_PRIMARY),
                }
            )
        else:
            ops += self._route_option_ops(canary, spec["http"], ours)
        for field, value in (
            ("hosts", objects.virtual_service_hosts(canary)),
            ("gateways", list(canary.spec.service.gateways)),
        ):
            if spec.get(field) != value:
                ops.append({"op": "add", "path": f"/spec/{field}", "value": value})
        if ops:
            self._patch(
                "virtualservices",
                names.namespace,
                names.virtual_service,
                [_precondition(live), *ops],
            )

    def _route_option_ops(self, canary: Canary, http: list[JSON], ours: Routes) -> list[JSON]:
        """Replace our routes' non-traffic fields where they differ, keeping other tools' fields."""
        wanted = {r["name"]: r for r in objects.http_routes(canary, ours)}
        ops: list[JSON] = []
        for index, route in enumerate(http):
            desired = wanted.get(route.get("name", ""))
            if desired is None:
                continue
            for key in objects.ROUTE_OPTION_KEYS:
                if key in desired and route.get(key) != desired[key]:
                    ops.append({"op": "add", "path": _pointer(index, key), "value": desired[key]})
                elif key not in desired and key in route:
                    ops.append({"op": "remove", "path": _pointer(index, key)})
            if route.get("name") == AB_ROUTE_NAME and route.get("route") != desired["route"]:
                ops.append(
                    {"op": "add", "path": _pointer(index, "route"), "value": desired["route"]}
                )
        return ops

    # Moving traffic

    def set_routes(self, canary: Canary, routes: Routes) -> None:
        """Patch only the weights, the mirror and the A/B route, conditional on the resourceVersion."""
        names = Names.of(canary)
        for _ in range(CONFLICT_RETRIES):
            live = self._read("virtualservices", names.namespace, names.virtual_service)
            if live is None or self._routes_of(live, names) is None:
                self.reconcile(canary)
                continue
            ops = self._traffic_ops(canary, live, routes)
            if not ops:
                return
            try:
                self._patch(
                    "virtualservices",
                    names.namespace,
                    names.virtual_service,
                    [_precondition(live), *ops],
                )
                return
            except Exception as error:
                if not is_conflict(error):
                    raise
        raise RuntimeError(
            f"gave up setting routes on {names.virtual_service} after repeated conflicts"
        )

    def _traffic_ops(self, canary: Canary, live: JSON, routes: Routes) -> list[JSON]:
        names = Names.of(canary)
        http = live["spec"]["http"]
        index = _route_index(http, WEIGHTED_ROUTE_NAME)
        assert index is not None
        route = http[index]
        ops: list[JSON] = []
        weights = {names.primary_service: routes.primary, names.canary_service: routes.canary}
        for position, destination in enumerate(route.get("route") or []):
            weight = weights.get(destination.get("destination", {}).get("host"))
            if weight is not None and destination.get("weight") != weight:
                ops.append(
                    {
                        "op": "add",
                        "path": _pointer(index, "route", position, "weight"),
                        "value": weight,
                    }
                )
        mirror = objects.mirror_fields(canary, routes.mirror)
        for key in ("mirror", "mirrorPercentage"):
            if key in mirror and route.get(key) != mirror[key]:
                ops.append({"op": "add", "path": _pointer(index, key), "value": mirror[key]})
            elif key not in mirror and key in route:
                ops.append({"op": "remove", "path": _pointer(index, key)})
        ab_index = _route_index(http, AB_ROUTE_NAME)
        if routes.ab_testing and ab_index is None:
            ops.append({"op": "add", "path": _pointer(index), "value": objects.ab_route(canary)})
        elif not routes.ab_testing and ab_index is not None:
            # Removing shifts later routes, so it must come after every op on the weighted route.
            ops.append({"op": "remove", "path": _pointer(ab_index)})
        return ops

    # Restoring

    def revert(self, canary: Canary) -> None:
        """Put back the spec of every taken-over Istio object; ours are left to the garbage collector."""
        names = Names.of(canary)
        for plural, name in (
            ("virtualservices", names.virtual_service),
            ("destinationrules", names.primary_rule),
            ("destinationrules", names.canary_rule),
        ):
            self._restore(plural, names.namespace, name)

    def _restore(self, plural: str, namespace: str, name: str) -> None:
        live = self._read(plural, namespace, name)
        original = takeover.original_of(live) if live is not None else None
        if live is None or original is None:
            return
        ops = [
            _precondition(live),
            {"op": "replace", "path": "/spec", "value": copy.deepcopy(original)},
            {"op": "remove", "path": takeover.annotation_path()},
        ]
        self._patch(plural, namespace, name, ops)


def _precondition(live: JSON) -> JSON:
    """Carrying the read resourceVersion turns a concurrent change into a 409 instead of a mix."""
    return {
        "op": "replace",
        "path": "/metadata/resourceVersion",
        "value": live["metadata"]["resourceVersion"],
    }
