"""Istio VirtualServices and DestinationRules to Envoy clusters and a listener, as istiod would.

A pure function (no I/O): `translate(world, previous=...)` takes the emulator's objects as plain
dicts and returns Envoy v3 resources (JSON-ready dicts) plus the VirtualServices it could not
honour. The adapter (`canary.playground.mesh`) writes the result to Envoy's file xDS.

API:
    world = World(services=[...], pods=[...], destination_rules=[...], virtual_services=[...])
    result = translate(world, LogPaths(access, upstream), listen_port=15001,
                       rds_path="/work/rds/rds.json", previous=last_result.applied)
    result.clusters       # list of envoy.config.cluster.v3.Cluster dicts (CDS resources)
    result.listener       # one envoy.config.listener.v3.Listener dict (LDS resource)
    result.route_config   # the envoy.config.route.v3.RouteConfiguration "mesh" (RDS resource)
    result.applied        # {(namespace, name): VirtualHosts} honoured this pass (or kept from before)
    result.problems       # [Problem(namespace, name, message)]: VirtualServices not (re)applied

Rules follow istiod (`pilot/pkg/networking/core/route/route.go`, `retry/retry.go`; see
docs/internals/playground.md for the table): one destination is a bare `cluster`, weight-0
destinations are dropped, `mirrorPercentage` is a numerator of value x 10000 over a MILLION (absent:
100 %, 0: no mirror), the route timeout is 0 (none) when unset, no `retries` means Istio's default
policy and `attempts: 0` means none. A VirtualService that uses a field this translator does not
implement is reported as a Problem and left out (its previously applied form, if any, is kept):
never half-applied.

Cluster names are Istio's `outbound|<port>|<subset>|<host>` with the host written
`<service>|<namespace>` instead of the FQDN, so that Envoy's stat tag regex, which stops at the first
dot, keeps the whole name (reference note, pitfall 7). Endpoints are the Ready Pods selected by the
Service (and the subset's labels) at `127.0.0.1:<playground.canary.dev/port>`; each carries
`filter_metadata.istio.workload = "<workload>;<namespace>;<app>;<version>;Kubernetes"` like Istio's
endpoint metadata, which the access logs print for the telemetry.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from canary.api.common import parse_duration

JSON = dict[str, Any]

PORT_ANNOTATION = "playground.canary.dev/port"
WORKLOAD_ANNOTATION = "playground.canary.dev/workload"
MIRROR_HEADER = "x-canary-mirror"
DOMAIN_SUFFIX = "svc.cluster.local"
MILLION = 1_000_000

LISTENER_TYPE = "type.googleapis.com/envoy.config.listener.v3.Listener"
CLUSTER_TYPE = "type.googleapis.com/envoy.config.cluster.v3.Cluster"
ROUTE_CONFIG_TYPE = "type.googleapis.com/envoy.config.route.v3.RouteConfiguration"
HCM_TYPE = (
    "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3."
    "HttpConnectionManager"
)
ROUTER_TYPE = "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"
FILE_LOG_TYPE = "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog"
PREVIOUS_HOSTS_TYPE = (
    "type.googleapis.com/envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate"
)

DEFAULT_RETRY_ON = "connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes"
"""Istio's mesh-wide default `retry_on` (`retry.DefaultPolicy`)."""

LOG_FORMAT: Mapping[str, str] = {
    "start_time": "%START_TIME(%s.%3f)%",
    "authority": "%REQ(:AUTHORITY)%",
    "method": "%REQ(:METHOD)%",
    "path": "%REQ(X-ENVOY-ORIGINAL-PATH?:PATH)%",
    "protocol": "%PROTOCOL%",
    "response_code": "%RESPONSE_CODE%",
    "response_flags": "%RESPONSE_FLAGS%",
    "duration_ms": "%DURATION%",
    "upstream_cluster": "%UPSTREAM_CLUSTER_RAW%",
    "upstream_host": "%UPSTREAM_HOST%",
    "upstream_workload": "%UPSTREAM_METADATA(istio:workload)%",
    "request_id": "%REQ(X-REQUEST-ID)%",
    "mirror": f"%REQ({MIRROR_HEADER.upper()})%",
    "app_version": "%RESP(X-APP-VERSION)%",
    "user_agent": "%REQ(USER-AGENT)%",
}
"""One JSON object per line in both logs (the router's upstream log also sees mirrored requests)."""

_ROUTE_KEYS = frozenset(
    {"name", "match", "route", "mirror", "mirrorPercentage", "mirrors", "mirror_percent"}
    | {"mirrorPercent", "timeout", "retries", "headers", "rewrite"}
)
_MATCH_KEYS = frozenset(
    {"name", "uri", "headers", "withoutHeaders", "queryParams", "method", "authority"}
    | {"scheme", "ignoreUriCase"}
)
_SPEC_KEYS = frozenset({"hosts", "gateways", "http", "exportTo"})


class Unsupported(ValueError):
    """A VirtualService field the translator cannot honour; the message names the field."""


@dataclass(frozen=True)
class World:
    """Everything the translation reads, as the API returns it (plain dicts)."""

    services: Sequence[JSON] = ()
    pods: Sequence[JSON] = ()
    destination_rules: Sequence[JSON] = ()
    virtual_services: Sequence[JSON] = ()


@dataclass(frozen=True)
class LogPaths:
    """Where Envoy writes the downstream access log and the router's upstream log."""

    access: str
    upstream: str


@dataclass(frozen=True)
class ClusterKey:
    """One outbound cluster: a Service (namespace, name), its port and an optional subset."""

    namespace: str
    service: str
    port: int
    subset: str = ""

    @property
    def name(self) -> str:
        return f"outbound|{self.port}|{self.subset}|{self.service}|{self.namespace}"


@dataclass(frozen=True)
class VirtualHosts:
    """One VirtualService's translation: Envoy virtual hosts and the clusters they name."""

    virtual_hosts: tuple[JSON, ...]
    clusters: frozenset[ClusterKey]
    domains: frozenset[str]


@dataclass(frozen=True)
class Problem:
    """An object not (or not wholly) applied, and why; `message` names the object and field."""

    namespace: str
    name: str
    message: str
    kind: str = "VirtualService"


@dataclass(frozen=True)
class Translation:
    clusters: list[JSON]
    listener: JSON
    route_config: JSON
    """The RouteConfiguration `mesh` (RDS resource; inline in the listener when no rds_path)."""
    applied: dict[tuple[str, str], VirtualHosts]
    problems: list[Problem] = field(default_factory=list)


def translate(
    world: World,
    logs: LogPaths,
    *,
    listen_port: int,
    rds_path: str | None = None,
    previous: Mapping[tuple[str, str], VirtualHosts] | None = None,
) -> Translation:
    """The Envoy resources for `world`; the listener reads its routes from the RDS file
    `rds_path` (watched), or holds them inline when it is None.

    A VirtualService that cannot be honoured (unsupported field, unknown subset, a host already
    claimed by an older VirtualService) is listed in `problems` and, when `previous` holds its last
    honoured translation, that one stays in force; otherwise it is left out entirely.
    """
    previous = previous or {}
    applied: dict[tuple[str, str], VirtualHosts] = {}
    problems: list[Problem] = []
    claimed: dict[str, tuple[str, str]] = {}
    for vs in sorted(world.virtual_services, key=_age_key):
        key = (vs["metadata"].get("namespace", "default"), vs["metadata"]["name"])
        hosts, message = _honour(vs, world, key, claimed)
        if hosts is None:
            problems.append(Problem(key[0], key[1], message))
            kept = previous.get(key)
            if kept is None or any(claimed.get(d, key) != key for d in kept.domains):
                continue
            hosts = kept
        applied[key] = hosts
        for domain in hosts.domains:
            claimed[domain] = key
    keys = {c for hosts in applied.values() for c in hosts.clusters}
    clusters = [build_cluster(k, world) for k in sorted(keys, key=lambda k: k.name)]
    virtual_hosts = [vh for hosts in applied.values() for vh in hosts.virtual_hosts]
    routes = route_configuration(virtual_hosts)
    listener = build_listener(routes, logs, listen_port, rds_path)
    return Translation(clusters, listener, routes, applied, problems)


def ignored_policies(world: World) -> list[Problem]:
    """DestinationRules whose traffic policies the mesh does not apply (their subsets it does)."""
    found: list[Problem] = []
    for rule in world.destination_rules:
        meta, spec = rule.get("metadata") or {}, rule.get("spec") or {}
        if not isinstance(spec, dict):
            continue
        listed = spec.get("subsets")
        subsets: list[Any] = listed if isinstance(listed, list) else []
        paths = ["spec.trafficPolicy"] if spec.get("trafficPolicy") else []
        paths += [
            f"spec.subsets[{i}].trafficPolicy"
            for i, subset in enumerate(subsets)
            if isinstance(subset, dict) and subset.get("trafficPolicy")
        ]
        if paths:
            namespace, name = meta.get("namespace", "default"), meta.get("name", "")
            message = (
                f"DestinationRule {namespace}/{name}: {', '.join(paths)} is not applied by the "
                "playground mesh (its subsets are)"
            )
            found.append(Problem(namespace, name, message, kind="DestinationRule"))
    return found


def _honour(
    vs: JSON, world: World, key: tuple[str, str], claimed: Mapping[str, tuple[str, str]]
) -> tuple[VirtualHosts | None, str]:
    """(translation, "") or (None, why it cannot be honoured)."""
    where = f"VirtualService {key[0]}/{key[1]}"
    try:
        if not isinstance(vs.get("spec") or {}, dict):
            raise Unsupported("spec must be an object")
        hosts = translate_virtual_service(vs, world)
        _check_domains(hosts, key, claimed)
    except Unsupported as error:
        return None, f"{where}: {error}"
    except (TypeError, AttributeError, KeyError, ValueError) as error:
        # A malformed object (no schema enforced it): refused like an unsupported one.
        return None, f"{where}: malformed spec ({error!r})"
    return hosts, ""


def _age_key(vs: JSON) -> tuple[str, str, str]:
    meta = vs["metadata"]
    return (meta.get("creationTimestamp", ""), meta.get("namespace", ""), meta["name"])


def _check_domains(
    hosts: VirtualHosts, key: tuple[str, str], claimed: Mapping[str, tuple[str, str]]
) -> None:
    for domain in sorted(hosts.domains):
        owner = claimed.get(domain)
        if owner is not None and owner != key:
            raise Unsupported(
                f"host {domain!r} is already routed by VirtualService {owner[0]}/{owner[1]}"
            )


# VirtualService -> virtual hosts and routes


def translate_virtual_service(vs: JSON, world: World) -> VirtualHosts:
    """One VirtualService's virtual host (all its hosts as domains); Unsupported names the field."""
    meta, spec = vs["metadata"], vs.get("spec") or {}
    namespace = meta.get("namespace", "default")
    _only(spec, _SPEC_KEYS, "spec")
    hosts = spec.get("hosts") or []
    if not hosts:
        raise Unsupported("spec.hosts is empty")
    domains: set[str] = set()
    for host in hosts:
        if "*" in host:
            raise Unsupported(f"spec.hosts: wildcard host {host!r} is not supported")
        domains.update(host_domains(host, namespace))
    routes: list[JSON] = []
    clusters: set[ClusterKey] = set()
    for index, http in enumerate(spec.get("http") or []):
        path = f"spec.http[{index}]"
        try:
            built, used = translate_http_route(http, namespace, world)
        except Unsupported as error:
            raise Unsupported(f"{path}.{error}") from None
        routes.extend(built)
        clusters.update(used)
    virtual_host = {
        "name": f"{meta['name']}.{namespace}",
        "domains": sorted(domains),
        "routes": routes,
    }
    return VirtualHosts((virtual_host,), frozenset(clusters), frozenset(domains))


def host_domains(host: str, namespace: str) -> list[str]:
    """The Host header values that reach a VirtualService host, as a sidecar's domains list."""
    service, service_namespace = resolve_host(host, namespace)
    if service_namespace is None:
        return [host]
    fqdn = f"{service}.{service_namespace}.{DOMAIN_SUFFIX}"
    forms = [fqdn, f"{service}.{service_namespace}", f"{service}.{service_namespace}.svc"]
    if service_namespace == namespace:
        forms.append(service)
    return forms


def resolve_host(host: str, namespace: str) -> tuple[str, str | None]:
    """(service, namespace) of a short name, `<svc>.<ns>` or an FQDN; namespace None if external."""
    if "." not in host:
        return host, namespace
    parts = host.split(".")
    if len(parts) == 2 or (len(parts) >= 3 and ".".join(parts[2:]) in ("svc", DOMAIN_SUFFIX)):
        return parts[0], parts[1]
    return host, None


def _only(obj: Mapping[str, Any], allowed: frozenset[str], path: str) -> None:
    extra = sorted(set(obj) - allowed)
    if extra:
        where = f"{path}.{extra[0]}" if path else extra[0]
        raise Unsupported(f"{where} is not supported by the playground mesh")


def translate_http_route(
    http: JSON, namespace: str, world: World
) -> tuple[list[JSON], set[ClusterKey]]:
    """One HTTPRoute: an Envoy route per `match` entry (one `prefix: /` route without match)."""
    extra = sorted(set(http) - _ROUTE_KEYS)
    if extra:
        raise Unsupported(f"{extra[0]} is not supported by the playground mesh")
    destinations = http.get("route") or []
    if not destinations:
        raise Unsupported("route: no destination (redirect/directResponse are not supported)")
    clusters: set[ClusterKey] = set()
    action = route_action(http, namespace, world, clusters)
    matches = http.get("match") or [{}]
    routes: list[JSON] = []
    for index, match in enumerate(matches):
        try:
            envoy_match = route_match(match)
        except Unsupported as error:
            raise Unsupported(f"match[{index}].{error}") from None
        route: JSON = {"match": envoy_match, "route": action}
        if http.get("name"):
            route["name"] = http["name"]
        headers = http.get("headers")
        if headers:
            route.update(header_operations(headers))
        routes.append(route)
    return routes, clusters


def route_action(http: JSON, namespace: str, world: World, clusters: set[ClusterKey]) -> JSON:
    """RouteAction: destinations, timeout, retries, mirrors and rewrites of one HTTPRoute."""
    action: JSON = cluster_specifier(http["route"], namespace, world, clusters)
    timeout = http.get("timeout")
    action["timeout"] = envoy_duration(timeout, "timeout") if timeout else "0s"
    retry = retry_policy(http.get("retries"))
    if retry is not None:
        action["retry_policy"] = retry
    mirrors = mirror_policies(http, namespace, world, clusters)
    if mirrors:
        action["request_mirror_policies"] = mirrors
    rewrite = http.get("rewrite")
    if rewrite:
        _only(rewrite, frozenset({"uri", "authority"}), "rewrite")
        if rewrite.get("uri"):
            action["prefix_rewrite"] = rewrite["uri"]
        if rewrite.get("authority"):
            action["host_rewrite_literal"] = rewrite["authority"]
    return action


def cluster_specifier(
    destinations: Sequence[JSON], namespace: str, world: World, clusters: set[ClusterKey]
) -> JSON:
    """Istio's rule: one destination is a bare `cluster` (weight ignored); with more, weight-0
    entries are dropped and the rest become `weighted_clusters` (relative weights, no total)."""
    keys: list[tuple[ClusterKey, int]] = []
    for index, entry in enumerate(destinations):
        _only(entry, frozenset({"destination", "weight"}), f"route[{index}]")
        weight = entry.get("weight", 0 if len(destinations) > 1 else 100)
        if not isinstance(weight, int) or weight < 0:
            raise Unsupported(f"route[{index}].weight must be a whole number >= 0, got {weight!r}")
        key = cluster_key(entry.get("destination") or {}, namespace, world, f"route[{index}]")
        keys.append((key, weight))
    if len(keys) == 1:
        clusters.add(keys[0][0])
        return {"cluster": keys[0][0].name}
    kept = [(key, weight) for key, weight in keys if weight > 0]
    if not kept:
        raise Unsupported("route: the weights sum to 0")
    clusters.update(key for key, _ in kept)
    if len(kept) == 1:
        return {"cluster": kept[0][0].name}
    return {
        "weighted_clusters": {
            "clusters": [{"name": key.name, "weight": weight} for key, weight in kept]
        }
    }


def cluster_key(destination: JSON, namespace: str, world: World, path: str) -> ClusterKey:
    """The cluster of a Destination {host, subset, port}; Unsupported for an unknown subset."""
    _only(destination, frozenset({"host", "subset", "port"}), f"{path}.destination")
    host = destination.get("host")
    if not host:
        raise Unsupported(f"{path}.destination.host is required")
    service, service_namespace = resolve_host(host, namespace)
    if service_namespace is None:
        raise Unsupported(f"{path}.destination.host {host!r}: only cluster Services are supported")
    port = (destination.get("port") or {}).get("number") or _service_port(
        world, service_namespace, service
    )
    subset = destination.get("subset") or ""
    if subset and subset_labels(world, service_namespace, service, subset) is None:
        raise Unsupported(
            f"{path}.destination.subset {subset!r}: no DestinationRule for {host} defines it"
        )
    return ClusterKey(service_namespace, service, int(port), subset)


def _service_port(world: World, namespace: str, name: str) -> int:
    service = _find(world.services, namespace, name)
    ports = ((service or {}).get("spec") or {}).get("ports") or []
    return int(ports[0].get("port", 80)) if ports else 80


def _find(objects: Iterable[JSON], namespace: str, name: str) -> JSON | None:
    for obj in objects:
        meta = obj.get("metadata") or {}
        if meta.get("name") == name and meta.get("namespace", "default") == namespace:
            return obj
    return None


def subset_labels(world: World, namespace: str, service: str, subset: str) -> dict[str, str] | None:
    """The labels of a DestinationRule subset for this Service; None when none defines it."""
    for rule in world.destination_rules:
        rule_ns = rule["metadata"].get("namespace", "default")
        host = (rule.get("spec") or {}).get("host", "")
        if resolve_host(host, rule_ns) != (service, namespace):
            continue
        for entry in rule["spec"].get("subsets") or []:
            if entry.get("name") == subset:
                return dict(entry.get("labels") or {})
    return None


def route_match(match: JSON) -> JSON:
    """HTTPMatchRequest -> RouteMatch (istiod's TranslateRouteMatch for the fields listed)."""
    _only(match, _MATCH_KEYS, "")
    out: JSON = {}
    uri = match.get("uri")
    if uri:
        kind, value = _string_match_kind(uri, "uri")
        out[{"exact": "path", "prefix": "prefix", "regex": "safe_regex"}[kind]] = (
            {"regex": value} if kind == "regex" else value
        )
    else:
        out["prefix"] = "/"
    if match.get("ignoreUriCase"):
        out["case_sensitive"] = False
    headers: list[JSON] = []
    for name, spec in (match.get("headers") or {}).items():
        headers.append(header_matcher(name, spec, invert=False))
    for name, spec in (match.get("withoutHeaders") or {}).items():
        headers.append(header_matcher(name, spec, invert=True))
    for pseudo in ("method", "authority", "scheme"):
        if match.get(pseudo):
            headers.append(header_matcher(f":{pseudo}", match[pseudo], invert=False))
    if headers:
        out["headers"] = sorted(headers, key=lambda h: str(h["name"]))
    params = [_query_matcher(name, spec) for name, spec in (match.get("queryParams") or {}).items()]
    if params:
        out["query_parameters"] = params
    return out


def _string_match_kind(spec: JSON, path: str) -> tuple[str, str]:
    if not isinstance(spec, dict) or len(spec) != 1:
        raise Unsupported(f"{path}: give exactly one of exact, prefix, regex")
    ((kind, value),) = spec.items()
    if kind not in ("exact", "prefix", "regex") or not isinstance(value, str):
        raise Unsupported(f"{path}.{kind} is not supported (exact, prefix or regex)")
    return kind, value


def header_matcher(name: str, spec: JSON, *, invert: bool) -> JSON:
    """A HeaderMatcher; Istio turns regex `*` and an empty StringMatch into `present_match`."""
    matcher: JSON = {"name": name.lower()}
    if not spec or spec == {"regex": "*"}:
        matcher["present_match"] = True
    else:
        kind, value = _string_match_kind(spec, f"headers.{name}")
        matcher["string_match"] = (
            {"safe_regex": {"regex": value}} if kind == "regex" else {kind: value}
        )
    if invert:
        matcher["invert_match"] = True
    return matcher


def _query_matcher(name: str, spec: JSON) -> JSON:
    if not spec:
        return {"name": name, "present_match": True}
    kind, value = _string_match_kind(spec, f"queryParams.{name}")
    string_match = {"safe_regex": {"regex": value}} if kind == "regex" else {kind: value}
    return {"name": name, "string_match": string_match}


def header_operations(headers: JSON) -> JSON:
    """HTTPRoute.headers: request/response set (overwrite), add (append) and remove."""
    _only(headers, frozenset({"request", "response"}), "headers")
    out: JSON = {}
    for side, prefix in (("request", "request"), ("response", "response")):
        ops = headers.get(side) or {}
        _only(ops, frozenset({"set", "add", "remove"}), f"headers.{side}")
        add = [
            _header_value(k, v, "OVERWRITE_IF_EXISTS_OR_ADD")
            for k, v in (ops.get("set") or {}).items()
        ] + [
            _header_value(k, v, "APPEND_IF_EXISTS_OR_ADD")
            for k, v in (ops.get("add") or {}).items()
        ]
        if add:
            out[f"{prefix}_headers_to_add"] = add
        if ops.get("remove"):
            out[f"{prefix}_headers_to_remove"] = list(ops["remove"])
    return out


def _header_value(key: str, value: str, action: str) -> JSON:
    return {"header": {"key": key, "value": str(value)}, "append_action": action}


def envoy_duration(text: str, path: str) -> str:
    """An Istio duration (`5s`, `1.5s`, `250ms`, `1m`) as a protobuf JSON Duration (`0.25s`)."""
    try:
        seconds = parse_duration(str(text))
    except ValueError as error:
        raise Unsupported(f"{path}: {error}") from None
    return f"{seconds:.9f}".rstrip("0").rstrip(".") + "s"


def retry_policy(retries: JSON | None) -> JSON | None:
    """istiod's ConvertPolicy: absent -> the mesh default, attempts 0 -> None, else the given
    attempts/retryOn/perTryTimeout on top of the default (previous_hosts, 5 host selections)."""
    policy: JSON = {
        "retry_on": DEFAULT_RETRY_ON,
        "num_retries": 2,
        "retry_host_predicate": [
            {
                "name": "envoy.retry_host_predicates.previous_hosts",
                "typed_config": {"@type": PREVIOUS_HOSTS_TYPE},
            }
        ],
        "host_selection_retry_max_attempts": 5,
    }
    if retries is None:
        return policy
    allowed = {"attempts", "retryOn", "perTryTimeout", "retryRemoteLocalities", "backoff"}
    _only(retries, frozenset(allowed), "retries")
    attempts = retries.get("attempts", 0)
    if not isinstance(attempts, int) or attempts < 0:
        raise Unsupported(f"retries.attempts must be a whole number >= 0, got {attempts!r}")
    if attempts == 0:
        return None
    policy["num_retries"] = attempts
    if retries.get("retryOn"):
        conditions: list[str] = []
        codes: list[int] = []
        for item in str(retries["retryOn"]).split(","):
            item = item.strip()
            if item.isdigit():
                codes.append(int(item))
            elif item:
                conditions.append(item)
        if codes:
            policy["retriable_status_codes"] = codes
            if "retriable-status-codes" not in conditions:
                conditions.append("retriable-status-codes")
        policy["retry_on"] = ",".join(conditions)
    if retries.get("perTryTimeout"):
        policy["per_try_timeout"] = envoy_duration(
            retries["perTryTimeout"], "retries.perTryTimeout"
        )
    if retries.get("backoff"):
        policy["retry_back_off"] = {
            "base_interval": envoy_duration(retries["backoff"], "retries.backoff")
        }
    if retries.get("retryRemoteLocalities"):
        raise Unsupported("retries.retryRemoteLocalities is not supported by the playground mesh")
    return policy


def mirror_policies(
    http: JSON, namespace: str, world: World, clusters: set[ClusterKey]
) -> list[JSON]:
    """`mirror` + `mirrorPercentage` (or `mirrors[]`) -> request_mirror_policies.

    Percentages become value x 10000 over MILLION; absent means 100 %, an explicit 0 no policy.
    Mirrored requests get `x-canary-mirror: true` and no `-shadow` host suffix (Istio >= 1.28).
    """
    entries: list[tuple[JSON, Any]] = []
    if http.get("mirror"):
        percentage = http.get("mirrorPercentage")
        if percentage is None and "mirrorPercent" in http:
            percentage = {"value": http["mirrorPercent"]}
        if percentage is None and "mirror_percent" in http:
            percentage = {"value": http["mirror_percent"]}
        entries.append((http["mirror"], percentage))
    for index, item in enumerate(http.get("mirrors") or []):
        _only(item, frozenset({"destination", "percentage"}), f"mirrors[{index}]")
        entries.append((item.get("destination") or {}, item.get("percentage")))
    policies: list[JSON] = []
    for destination, percentage in entries:
        value = 100.0 if percentage is None else float((percentage or {}).get("value", 0.0))
        if not 0 <= value <= 100:
            raise Unsupported(f"mirrorPercentage.value must be within 0-100, got {value}")
        if value == 0:
            continue
        key = cluster_key(destination, namespace, world, "mirror")
        clusters.add(key)
        policies.append(
            {
                "cluster": key.name,
                "runtime_fraction": {
                    "default_value": {
                        "numerator": round(value * 10000),
                        "denominator": "MILLION",
                    }
                },
                "trace_sampled": False,
                "disable_shadow_host_suffix_append": True,
                "request_headers_mutations": [
                    {"append": {"header": {"key": MIRROR_HEADER, "value": "true"}}}
                ],
            }
        )
    return policies


# Clusters and the listener


def build_cluster(key: ClusterKey, world: World) -> JSON:
    """A STATIC cluster whose endpoints are the Ready Pods behind the Service (and subset)."""
    endpoints = [
        {
            "endpoint": {
                "address": {"socket_address": {"address": "127.0.0.1", "port_value": port}}
            },
            "metadata": {"filter_metadata": {"istio": {"workload": workload}}},
        }
        for port, workload in endpoints_of(key, world)
    ]
    return {
        "@type": CLUSTER_TYPE,
        "name": key.name,
        "type": "STATIC",
        "connect_timeout": "10s",
        "lb_policy": "ROUND_ROBIN",
        "load_assignment": {
            "cluster_name": key.name,
            "endpoints": [{"lb_endpoints": endpoints}] if endpoints else [],
        },
    }


def endpoints_of(key: ClusterKey, world: World) -> list[tuple[int, str]]:
    """(port, istio workload metadata) of each Ready Pod selected by the Service and subset."""
    service = _find(world.services, key.namespace, key.service)
    if service is None:
        return []
    selector = dict((service.get("spec") or {}).get("selector") or {})
    if not selector:
        return []
    if key.subset:
        selector.update(subset_labels(world, key.namespace, key.service, key.subset) or {})
    found: list[tuple[int, str]] = []
    for pod in world.pods:
        meta = pod.get("metadata") or {}
        if meta.get("namespace", "default") != key.namespace or meta.get("deletionTimestamp"):
            continue
        labels = meta.get("labels") or {}
        if any(labels.get(k) != v for k, v in selector.items()) or not is_ready(pod):
            continue
        port = (meta.get("annotations") or {}).get(PORT_ANNOTATION, "")
        if not port.isdigit():
            continue
        found.append((int(port), workload_metadata(pod)))
    return sorted(found)


def is_ready(pod: JSON) -> bool:
    status = pod.get("status") or {}
    if status.get("phase") != "Running":
        return False
    return any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in status.get("conditions") or []
    )


def workload_metadata(pod: JSON) -> str:
    """Istio's endpoint `istio.workload` value: workload;namespace;app;version;cluster."""
    meta = pod.get("metadata") or {}
    labels = meta.get("labels") or {}
    workload = (meta.get("annotations") or {}).get(WORKLOAD_ANNOTATION) or meta.get("name", "")
    app = labels.get("app.kubernetes.io/name") or labels.get("app") or workload
    version = labels.get("app.kubernetes.io/version") or labels.get("version") or "latest"
    return ";".join((workload, meta.get("namespace", "default"), app, version, "Kubernetes"))


def access_log(path: str) -> JSON:
    return {
        "name": "envoy.access_loggers.file",
        "typed_config": {
            "@type": FILE_LOG_TYPE,
            "path": path,
            "log_format": {"json_format": dict(LOG_FORMAT)},
        },
    }


def route_configuration(virtual_hosts: Sequence[JSON]) -> JSON:
    return {"@type": ROUTE_CONFIG_TYPE, "name": "mesh", "virtual_hosts": list(virtual_hosts)}


def rds_source(rds_path: str) -> JSON:
    """RDS from a watched file: route changes reach open (keep-alive) connections at once,
    whereas a new listener only serves new connections while the old one drains."""
    directory = rds_path.rsplit("/", 1)[0] or "/"
    return {
        "route_config_name": "mesh",
        "config_source": {
            "resource_api_version": "V3",
            "path_config_source": {"path": rds_path, "watched_directory": {"path": directory}},
        },
    }


def build_listener(
    routes: JSON, logs: LogPaths, listen_port: int, rds_path: str | None = None
) -> JSON:
    """The mesh listener on 127.0.0.1:`listen_port`, routing by Host (port stripped)."""
    if rds_path is None:
        route_source: JSON = {"route_config": {k: v for k, v in routes.items() if k != "@type"}}
    else:
        route_source = {"rds": rds_source(rds_path)}
    return {
        "@type": LISTENER_TYPE,
        "name": "mesh",
        "address": {"socket_address": {"address": "127.0.0.1", "port_value": listen_port}},
        "filter_chains": [
            {
                "filters": [
                    {
                        "name": "envoy.filters.network.http_connection_manager",
                        "typed_config": {
                            "@type": HCM_TYPE,
                            "stat_prefix": "mesh",
                            "strip_any_host_port": True,
                            "access_log": [access_log(logs.access)],
                            **route_source,
                            "http_filters": [
                                {
                                    "name": "envoy.filters.http.router",
                                    "typed_config": {
                                        "@type": ROUTER_TYPE,
                                        "upstream_log": [access_log(logs.upstream)],
                                    },
                                }
                            ],
                        },
                    }
                ]
            }
        ],
    }
