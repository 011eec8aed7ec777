"""The VirtualService/DestinationRule translation, rule by rule against istiod's behaviour."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from canary.playground import mesh_translate as mt
from canary.playground.envoy_process import validate

JSON = dict[str, Any]
LOGS = mt.LogPaths("/dev/null", "/dev/null")


def pod(name: str, workload: str, port: int, labels: JSON, ready: bool = True) -> JSON:
    return {
        "metadata": {
            "name": name,
            "namespace": "test",
            "labels": labels,
            "annotations": {mt.PORT_ANNOTATION: str(port), mt.WORKLOAD_ANNOTATION: workload},
        },
        "status": {
            "phase": "Running",
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
        },
    }


def service(name: str, selector: JSON, port: int = 9898) -> JSON:
    return {
        "metadata": {"name": name, "namespace": "test"},
        "spec": {"selector": selector, "ports": [{"port": port}]},
    }


def vs(
    http: list[JSON], name: str = "podinfo", hosts: list[str] | None = None, **spec: Any
) -> JSON:
    return {
        "metadata": {
            "name": name,
            "namespace": "test",
            "creationTimestamp": "2026-01-01T00:00:00Z",
        },
        "spec": {"hosts": hosts or ["podinfo"], "http": http, **spec},
    }


WORLD = mt.World(
    services=[
        service("podinfo-primary", {"app": "podinfo-primary"}),
        service("podinfo-canary", {"app": "podinfo"}),
        service("podinfo", {"app": "podinfo"}),
    ],
    pods=[
        pod("podinfo-primary-a-0", "podinfo-primary", 18001, {"app": "podinfo-primary"}),
        pod("podinfo-b-0", "podinfo", 18002, {"app": "podinfo", "version": "v2"}),
        pod("podinfo-c-0", "podinfo", 18003, {"app": "podinfo", "version": "v1"}, ready=False),
    ],
    destination_rules=[
        {
            "metadata": {"name": "podinfo", "namespace": "test"},
            "spec": {
                "host": "podinfo.test.svc.cluster.local",
                "subsets": [{"name": "v2", "labels": {"version": "v2"}}],
            },
        }
    ],
)
PRIMARY = "outbound|9898||podinfo-primary|test"
CANARY = "outbound|9898||podinfo-canary|test"


def dest(host: str, weight: int | None = None, **extra: Any) -> JSON:
    entry: JSON = {"destination": {"host": host, **extra}}
    if weight is not None:
        entry["weight"] = weight
    return entry


def routes_of(http: list[JSON], world: mt.World = WORLD) -> list[JSON]:
    result = mt.translate(
        mt.World(world.services, world.pods, world.destination_rules, [vs(http)]),
        LOGS,
        listen_port=1,
    )
    assert result.problems == []
    (vhost,) = result.route_config["virtual_hosts"]
    routes: list[JSON] = vhost["routes"]
    return routes


def action(http: JSON) -> JSON:
    route: JSON = routes_of([http])[0]["route"]
    return route


@pytest.mark.parametrize(
    ("destinations", "expected"),
    [
        ([dest("podinfo-primary", 30)], {"cluster": PRIMARY}),
        ([dest("podinfo-primary")], {"cluster": PRIMARY}),
        (
            [dest("podinfo-primary", 80), dest("podinfo-canary", 20)],
            {
                "weighted_clusters": {
                    "clusters": [{"name": PRIMARY, "weight": 80}, {"name": CANARY, "weight": 20}]
                }
            },
        ),
        ([dest("podinfo-primary", 100), dest("podinfo-canary", 0)], {"cluster": PRIMARY}),
        (
            [dest("podinfo-primary", 50), dest("podinfo-canary", 40)],
            {
                "weighted_clusters": {
                    "clusters": [{"name": PRIMARY, "weight": 50}, {"name": CANARY, "weight": 40}]
                }
            },
        ),
        (
            [dest("podinfo.test.svc.cluster.local", subset="v2")],
            {"cluster": "outbound|9898|v2|podinfo|test"},
        ),
        (
            [dest("podinfo-canary.test", port={"number": 80})],
            {"cluster": "outbound|80||podinfo-canary|test"},
        ),
    ],
    ids=[
        "single-bare",
        "single-no-weight",
        "80-20",
        "weight-0-dropped",
        "relative",
        "subset",
        "port",
    ],
)
def test_destinations(destinations: list[JSON], expected: JSON) -> None:
    got = action({"route": destinations})
    assert {k: got[k] for k in expected} == expected
    assert ("cluster" in got) != ("weighted_clusters" in got)


@pytest.mark.parametrize(
    ("http", "expected"),
    [
        ({}, [{"prefix": "/"}]),
        ({"match": [{"uri": {"exact": "/a"}}]}, [{"path": "/a"}]),
        ({"match": [{"uri": {"prefix": "/api"}}]}, [{"prefix": "/api"}]),
        (
            {"match": [{"uri": {"regex": "/v[0-9]+/.*"}}]},
            [{"safe_regex": {"regex": "/v[0-9]+/.*"}}],
        ),
        (
            {"match": [{"headers": {"x-user": {"exact": "tester"}, "a-b": {"prefix": "x"}}}]},
            [
                {
                    "prefix": "/",
                    "headers": [
                        {"name": "a-b", "string_match": {"prefix": "x"}},
                        {"name": "x-user", "string_match": {"exact": "tester"}},
                    ],
                }
            ],
        ),
        (
            {"match": [{"headers": {"cookie": {"regex": "^(.*?;\\s*)?(canary=always)(;.*)?$"}}}]},
            [
                {
                    "prefix": "/",
                    "headers": [
                        {
                            "name": "cookie",
                            "string_match": {
                                "safe_regex": {"regex": "^(.*?;\\s*)?(canary=always)(;.*)?$"}
                            },
                        },
                    ],
                }
            ],
        ),
        (
            {"match": [{"withoutHeaders": {"x-skip": {}}, "headers": {"x-any": {"regex": "*"}}}]},
            [
                {
                    "prefix": "/",
                    "headers": [
                        {"name": "x-any", "present_match": True},
                        {"name": "x-skip", "present_match": True, "invert_match": True},
                    ],
                }
            ],
        ),
        (
            {
                "match": [
                    {"method": {"exact": "POST"}, "ignoreUriCase": True, "uri": {"prefix": "/A"}}
                ]
            },
            [
                {
                    "prefix": "/A",
                    "case_sensitive": False,
                    "headers": [{"name": ":method", "string_match": {"exact": "POST"}}],
                }
            ],
        ),
        (
            {"match": [{"uri": {"prefix": "/a"}}, {"queryParams": {"beta": {"exact": "1"}}}]},
            [
                {"prefix": "/a"},
                {
                    "prefix": "/",
                    "query_parameters": [{"name": "beta", "string_match": {"exact": "1"}}],
                },
            ],
        ),
    ],
    ids=[
        "none",
        "exact",
        "prefix",
        "regex",
        "headers-sorted",
        "cookie",
        "without-present",
        "method-case",
        "or",
    ],
)
def test_match(http: JSON, expected: list[JSON]) -> None:
    routes = routes_of([{**http, "route": [dest("podinfo-primary")]}])
    assert [r["match"] for r in routes] == expected


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"mirror": {"host": "podinfo-canary"}}, 1_000_000),
        ({"mirror": {"host": "podinfo-canary"}, "mirrorPercentage": {"value": 10.0}}, 100_000),
        ({"mirror": {"host": "podinfo-canary"}, "mirrorPercentage": {"value": 0.5}}, 5_000),
        ({"mirror": {"host": "podinfo-canary"}, "mirrorPercentage": {"value": 0}}, None),
        (
            {"mirrors": [{"destination": {"host": "podinfo-canary"}, "percentage": {"value": 25}}]},
            250_000,
        ),
        ({}, None),
    ],
    ids=["absent-100", "10", "half", "explicit-0", "mirrors-list", "none"],
)
def test_mirror(fields: JSON, expected: int | None) -> None:
    got = action({"route": [dest("podinfo-primary")], **fields})
    if expected is None:
        assert "request_mirror_policies" not in got
        return
    (policy,) = got["request_mirror_policies"]
    assert policy["cluster"] == CANARY
    assert policy["runtime_fraction"]["default_value"] == {
        "numerator": expected,
        "denominator": "MILLION",
    }
    assert policy["request_headers_mutations"] == [
        {"append": {"header": {"key": "x-canary-mirror", "value": "true"}}}
    ]
    assert policy["disable_shadow_host_suffix_append"] is True


def test_timeout_zero_when_unset_and_converted_when_set() -> None:
    assert action({"route": [dest("podinfo-primary")]})["timeout"] == "0s"
    assert action({"route": [dest("podinfo-primary")], "timeout": "1.5s"})["timeout"] == "1.5s"
    assert action({"route": [dest("podinfo-primary")], "timeout": "250ms"})["timeout"] == "0.25s"


def test_retries() -> None:
    default = action({"route": [dest("podinfo-primary")]})["retry_policy"]
    assert default["num_retries"] == 2
    assert default["retry_on"] == mt.DEFAULT_RETRY_ON
    assert default["host_selection_retry_max_attempts"] == 5
    assert (
        default["retry_host_predicate"][0]["name"] == "envoy.retry_host_predicates.previous_hosts"
    )
    assert "retry_policy" not in action(
        {"route": [dest("podinfo-primary")], "retries": {"attempts": 0}}
    )
    given = action(
        {
            "route": [dest("podinfo-primary")],
            "retries": {"attempts": 3, "retryOn": "gateway-error,503", "perTryTimeout": "2s"},
        }
    )["retry_policy"]
    assert given["num_retries"] == 3
    assert given["retry_on"] == "gateway-error,retriable-status-codes"
    assert given["retriable_status_codes"] == [503]
    assert given["per_try_timeout"] == "2s"


def test_domains_cover_the_names_a_client_uses() -> None:
    result = mt.translate(
        mt.World(WORLD.services, virtual_services=[vs([{"route": [dest("podinfo")]}])]),
        LOGS,
        listen_port=1,
    )
    vhost = result.route_config["virtual_hosts"][0]
    assert set(vhost["domains"]) == {
        "podinfo",
        "podinfo.test",
        "podinfo.test.svc",
        "podinfo.test.svc.cluster.local",
    }


def test_endpoints_are_the_ready_pods_of_the_service_and_subset() -> None:
    by_name = {
        c["name"]: c
        for c in mt.translate(
            mt.World(
                WORLD.services,
                WORLD.pods,
                WORLD.destination_rules,
                [vs([{"route": [dest("podinfo", 50), dest("podinfo", 50, subset="v2")]}])],
            ),
            LOGS,
            listen_port=1,
        ).clusters
    }

    def ports(name: str) -> list[int]:
        endpoints = by_name[name]["load_assignment"]["endpoints"]
        return [
            e["endpoint"]["address"]["socket_address"]["port_value"]
            for group in endpoints
            for e in group["lb_endpoints"]
        ]

    assert ports("outbound|9898||podinfo|test") == [18002]  # 18003 is not Ready
    assert ports("outbound|9898|v2|podinfo|test") == [18002]
    metadata = by_name["outbound|9898|v2|podinfo|test"]["load_assignment"]["endpoints"][0][
        "lb_endpoints"
    ][0]["metadata"]
    assert metadata == {
        "filter_metadata": {"istio": {"workload": "podinfo;test;podinfo;v2;Kubernetes"}}
    }
    assert all("." not in name for name in by_name)


@pytest.mark.parametrize(
    ("http", "field"),
    [
        (
            {"route": [dest("podinfo-primary")], "fault": {"abort": {"httpStatus": 500}}},
            "spec.http[1].fault",
        ),
        ({"route": [dest("podinfo-primary")], "corsPolicy": {}}, "spec.http[1].corsPolicy"),
        ({"redirect": {"uri": "/x"}}, "spec.http[1].redirect"),
        ({"route": [dest("podinfo-primary", 0), dest("podinfo-canary", 0)]}, "weights sum to 0"),
        ({"route": [dest("podinfo", subset="nope")]}, "subset 'nope'"),
        (
            {"route": [dest("podinfo-primary")], "match": [{"sourceLabels": {"a": "b"}}]},
            "match[0].sourceLabels",
        ),
        (
            {
                "route": [dest("podinfo-primary")],
                "retries": {"attempts": 1, "retryRemoteLocalities": True},
            },
            "retryRemoteLocalities",
        ),
    ],
    ids=["fault", "cors", "redirect", "all-zero", "unknown-subset", "source-labels", "localities"],
)
def test_unsupported_is_reported_and_not_half_applied(http: JSON, field: str) -> None:
    good = vs([{"route": [dest("podinfo-primary")]}])
    first = mt.translate(
        mt.World(WORLD.services, WORLD.pods, WORLD.destination_rules, [good]), LOGS, listen_port=1
    )
    bad = vs([{"name": "ok", "route": [dest("podinfo-canary")]}, http])
    second = mt.translate(
        mt.World(WORLD.services, WORLD.pods, WORLD.destination_rules, [bad]),
        LOGS,
        listen_port=1,
        previous=first.applied,
    )
    (problem,) = second.problems
    assert (problem.namespace, problem.name) == ("test", "podinfo")
    assert field in problem.message
    # The previous translation stays in force: the first (supported) route was not applied alone.
    assert second.listener == first.listener
    assert second.route_config == first.route_config
    assert second.clusters == first.clusters
    fresh = mt.translate(
        mt.World(WORLD.services, WORLD.pods, WORLD.destination_rules, [bad]), LOGS, listen_port=1
    )
    assert fresh.route_config["virtual_hosts"] == []


def test_a_host_claimed_twice_goes_to_the_older_virtual_service() -> None:
    older = vs([{"route": [dest("podinfo-primary")]}], name="a")
    newer = vs([{"route": [dest("podinfo-canary")]}], name="b")
    newer["metadata"]["creationTimestamp"] = "2026-02-01T00:00:00Z"
    result = mt.translate(
        mt.World(WORLD.services, virtual_services=[newer, older]), LOGS, listen_port=1
    )
    assert [(p.name, "already routed" in p.message) for p in result.problems] == [("b", True)]
    assert list(result.applied) == [("test", "a")]


def test_generated_config_passes_envoy_validate(tmp_path: Path) -> None:
    http = [
        {
            "name": "ab",
            "match": [{"headers": {"cookie": {"regex": "^(.*?;\\s*)?(canary=always)(;.*)?$"}}}],
            "route": [dest("podinfo-primary", 0), dest("podinfo-canary", 100)],
            "headers": {"request": {"set": {"x-a": "1"}, "remove": ["x-b"]}},
        },
        {
            "name": "primary",
            "route": [dest("podinfo-primary", 90), dest("podinfo-canary", 10)],
            "mirror": {"host": "podinfo-canary"},
            "mirrorPercentage": {"value": 12.5},
            "timeout": "3s",
            "retries": {
                "attempts": 2,
                "retryOn": "5xx,503",
                "perTryTimeout": "1s",
                "backoff": "25ms",
            },
            "rewrite": {"uri": "/", "authority": "podinfo"},
        },
    ]
    result = mt.translate(
        mt.World(WORLD.services, WORLD.pods, WORLD.destination_rules, [vs(http)]),
        mt.LogPaths(str(tmp_path / "a.log"), str(tmp_path / "u.log")),
        listen_port=1,
    )
    assert result.problems == []

    def bare(resource: JSON) -> JSON:
        return {k: v for k, v in resource.items() if k != "@type"}

    config = {
        "static_resources": {
            "clusters": [bare(c) for c in result.clusters],
            "listeners": [bare(result.listener)],
        }
    }
    path = tmp_path / "envoy.json"
    path.write_text(json.dumps(config))
    assert "OK" in validate(path)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 200) | st.text(max_size=8),
    lambda children: st.lists(children, max_size=3)
    | st.dictionaries(
        st.sampled_from(
            ["route", "destination", "host", "weight", "match", "headers", "uri", "exact",
             "mirror", "mirrorPercentage", "value", "retries", "attempts", "timeout", "subset",
             "prefix", "regex", "withoutHeaders", "http", "hosts", "fault"]
        ),
        children,
        max_size=4,
    ),
    max_leaves=12,
)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(spec=json_values)
def test_any_spec_is_translated_or_refused_never_a_crash(spec: Any) -> None:
    bad = {"metadata": {"name": "x", "namespace": "test"}, "spec": spec}
    result = mt.translate(
        mt.World(WORLD.services, WORLD.pods, WORLD.destination_rules, [bad]), LOGS, listen_port=1
    )
    assert len(result.problems) + len(result.applied) == 1
    for problem in result.problems:
        assert problem.message.startswith("VirtualService test/x: ")


@settings(max_examples=200, deadline=None)
@given(weights=st.lists(st.integers(0, 1000), min_size=2, max_size=4))
def test_weighted_clusters_never_carry_a_zero_weight(weights: list[int]) -> None:
    hosts = ["podinfo-primary", "podinfo-canary", "podinfo", "podinfo-primary.test"]
    http = {"route": [dest(h, w) for h, w in zip(hosts, weights, strict=False)]}
    result = mt.translate(
        mt.World(WORLD.services, WORLD.pods, WORLD.destination_rules, [vs([http])]),
        LOGS,
        listen_port=1,
    )
    if sum(weights) == 0:
        assert "weights sum to 0" in result.problems[0].message
        return
    action = result.route_config["virtual_hosts"][0]["routes"][0]["route"]
    if "cluster" in action:
        assert sum(1 for w in weights if w > 0) == 1
    else:
        entries = action["weighted_clusters"]["clusters"]
        assert [e["weight"] for e in entries] == [w for w in weights if w > 0]


def test_destination_rule_traffic_policies_are_reported_as_not_applied() -> None:
    rules = [
        {"metadata": {"name": "plain", "namespace": "test"}, "spec": {"host": "a"}},
        {
            "metadata": {"name": "tuned", "namespace": "test"},
            "spec": {
                "host": "b",
                "trafficPolicy": {"loadBalancer": {"simple": "RANDOM"}},
                "subsets": [{"name": "v2", "trafficPolicy": {"tls": {}}}],
            },
        },
    ]
    (problem,) = mt.ignored_policies(mt.World(destination_rules=rules))
    assert (problem.kind, problem.namespace, problem.name) == ("DestinationRule", "test", "tuned")
    assert "spec.trafficPolicy, spec.subsets[0].trafficPolicy" in problem.message
