"""The pure builders produce valid objects that follow Flagger's object model."""

from __future__ import annotations

from typing import Any

import pytest

from canary.engine.types import Routes
from canary.kube import objects
from canary.kube.revision import ConfigRefs, config_refs
from tests.controller.kube_fixtures import (
    autoscaler,
    canary_model,
    config_map,
    deployment,
    secret,
)
from tests.controller.kube_schemas import validate

FULL_SERVICE = {
    "port": 80,
    "targetPort": "http",
    "portName": "http-web",
    "hosts": ["podinfo.example.com"],
    "gateways": ["public-gateway.istio-system.svc.cluster.local", "mesh"],
    "match": [{"uri": {"prefix": "/api"}}],
    "retries": {"attempts": 3, "perTryTimeout": "1s", "retryOn": "gateway-error"},
    "timeout": "30s",
    "headers": {
        "request": {"add": {"x-some-header": "value"}},
        "response": {"remove": ["x-powered-by"]},
    },
    "corsPolicy": {"allowOrigins": [{"exact": "https://example.com"}], "allowMethods": ["GET"]},
    "rewrite": {"uri": "/"},
    "trafficPolicy": {"tls": {"mode": "ISTIO_MUTUAL"}},
}
SCALE_DOWN_SLOWLY = {
    "scaleDown": {
        "stabilizationWindowSeconds": 600,
        "policies": [{"type": "Pods", "value": 1, "periodSeconds": 60}],
    }
}
AB = {"abTesting": {"iterations": 3, "match": [{"headers": {"x-canary": {"exact": "insider"}}}]}}

CANARIES = [
    pytest.param(canary_model(), id="minimal"),
    pytest.param(canary_model(service=FULL_SERVICE), id="every-route-option"),
    pytest.param(
        canary_model(service={**FULL_SERVICE, "name": "web"}, strategy=AB), id="ab-testing"
    ),
]
ROUTES = [
    pytest.param(Routes(), id="all-primary"),
    pytest.param(Routes(75, 25), id="weighted"),
    pytest.param(Routes(100, 0, mirror=40), id="mirrored"),
    pytest.param(Routes(100, 0, ab_testing=True), id="ab"),
]
TARGETS = [
    pytest.param(deployment(), id="plain"),
    pytest.param(
        deployment(config_map="podinfo-config", secret="podinfo-token"), id="with-configs"
    ),
    pytest.param(
        deployment(labels={"app.kubernetes.io/name": "podinfo", "tier": "web"}), id="k8s-name-label"
    ),
]


def _every_built_object(
    canary: Any, target: dict[str, Any], routes: Routes
) -> list[dict[str, Any]]:
    refs = config_refs(target["spec"]["template"])
    built = [
        objects.primary_deployment(canary, target, refs, "rev1", 2),
        *objects.services(canary, target),
        *objects.destination_rules(canary),
        objects.virtual_service(canary, routes),
        objects.primary_autoscaler(canary, autoscaler(behavior=SCALE_DOWN_SLOWLY)),
    ]
    built += [objects.config_copy(canary, config_map(n)) for n in refs.config_maps]
    built += [objects.config_copy(canary, secret(n)) for n in refs.secrets]
    return built


@pytest.mark.parametrize("canary", CANARIES)
@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("routes", ROUTES)
def test_every_built_object_satisfies_its_schema(canary: Any, target: Any, routes: Routes) -> None:
    for obj in _every_built_object(canary, target, routes):
        validate(obj)


@pytest.mark.parametrize(
    ("labels", "key", "primary_value"),
    [
        pytest.param({"app": "podinfo"}, "app", "podinfo-primary", id="app"),
        pytest.param({"name": "podinfo", "tier": "web"}, "name", "podinfo-primary", id="name"),
        pytest.param(
            {"app.kubernetes.io/name": "pi"}, "app.kubernetes.io/name", "pi-primary", id="k8s"
        ),
    ],
)
def test_primary_selects_its_own_pods_with_the_selector_label_suffixed(
    labels: dict[str, str], key: str, primary_value: str
) -> None:
    target = deployment(labels=labels)
    primary = objects.primary_deployment(canary_model(), target, ConfigRefs(), "rev1", 3)
    assert primary["metadata"]["name"] == "podinfo-primary"
    assert primary["spec"]["selector"] == {"matchLabels": {key: primary_value}}
    assert primary["spec"]["template"]["metadata"]["labels"][key] == primary_value
    assert primary["spec"]["replicas"] == 3
    assert target["spec"]["template"]["metadata"]["labels"][key] != primary_value, (
        "target untouched"
    )


def test_a_target_without_a_known_selector_label_is_refused() -> None:
    with pytest.raises(objects.TargetError, match="selector labels"):
        objects.primary_deployment(
            canary_model(), deployment(labels={"tier": "web"}), ConfigRefs(), "rev1", 1
        )


def test_primary_uses_primary_copies_of_the_tracked_configs_only() -> None:
    target = deployment(config_map="podinfo-config", secret="podinfo-token")
    renamed = ConfigRefs(config_maps=frozenset({"podinfo-config"}))
    pod = objects.primary_deployment(canary_model(), target, renamed, "rev1", 1)["spec"]["template"]
    container = pod["spec"]["containers"][0]
    assert container["envFrom"][0]["configMapRef"]["name"] == "podinfo-config-primary"
    assert pod["spec"]["volumes"][0]["configMap"]["name"] == "podinfo-config-primary"
    assert container["env"][0]["valueFrom"]["secretKeyRef"]["name"] == "podinfo-token"


def test_the_primary_pod_template_carries_the_revision_so_config_changes_roll_the_pods() -> None:
    target = deployment()
    one = objects.primary_pod_template(target, ConfigRefs(), "rev1")
    two = objects.primary_pod_template(target, ConfigRefs(), "rev2")
    assert one != two


def test_services_point_the_apex_at_the_primary() -> None:
    apex, primary, canary = objects.services(canary_model(), deployment())
    assert [apex["metadata"]["name"], primary["metadata"]["name"], canary["metadata"]["name"]] == [
        "podinfo",
        "podinfo-primary",
        "podinfo-canary",
    ]
    assert apex["spec"]["selector"] == primary["spec"]["selector"] == {"app": "podinfo-primary"}
    assert canary["spec"]["selector"] == {"app": "podinfo"}


def test_everything_built_is_owned_by_the_canary() -> None:
    canary = canary_model(uid="the-uid")
    for obj in _every_built_object(canary, deployment(config_map="c", secret="s"), Routes()):
        (owner,) = obj["metadata"]["ownerReferences"]
        assert (owner["kind"], owner["name"], owner["uid"]) == ("Canary", "podinfo", "the-uid")


def test_the_primary_hpa_scales_the_primary_with_the_targets_bounds_metrics_and_behavior() -> None:
    source = autoscaler(low=3, high=12, behavior=SCALE_DOWN_SLOWLY)
    source["spec"]["scaleTargetRef"]["name"] = "podinfo"

    built = objects.primary_autoscaler(canary_model(), source)

    assert built["metadata"]["name"] == "podinfo-primary"
    assert built["spec"] == {
        "scaleTargetRef": {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "name": "podinfo-primary",
        },
        "minReplicas": 3,
        "maxReplicas": 12,
        "metrics": source["spec"]["metrics"],
        "behavior": SCALE_DOWN_SLOWLY,
    }
    assert built["metadata"]["labels"]["app"] == "podinfo"


def test_the_virtual_service_carries_every_route_option() -> None:
    vs = objects.virtual_service(canary_model(service=FULL_SERVICE), Routes(70, 30))
    assert vs["spec"]["hosts"] == ["podinfo.example.com", "podinfo"]
    assert vs["spec"]["gateways"] == FULL_SERVICE["gateways"]
    (route,) = vs["spec"]["http"]
    for key in ("match", "retries", "timeout", "headers", "corsPolicy", "rewrite"):
        assert route[key] == FULL_SERVICE[key], key
    assert [(d["destination"]["host"], d["weight"]) for d in route["route"]] == [
        ("podinfo-primary", 70),
        ("podinfo-canary", 30),
    ]


@pytest.mark.parametrize(
    ("percent", "expected"),
    [
        pytest.param(0, {}, id="none"),
        pytest.param(
            40,
            {"mirror": {"host": "podinfo-canary"}, "mirrorPercentage": {"value": 40.0}},
            id="forty-percent",
        ),
    ],
)
def test_mirror_uses_istio_mirror_and_mirror_percentage(percent: int, expected: Any) -> None:
    (route,) = objects.virtual_service(canary_model(), Routes(mirror=percent))["spec"]["http"]
    assert {k: route[k] for k in ("mirror", "mirrorPercentage") if k in route} == expected


def test_ab_testing_sends_matching_requests_to_the_canary_and_the_rest_by_weight() -> None:
    canary = canary_model(service={"port": 80, "match": [{"uri": {"prefix": "/"}}]}, strategy=AB)
    ab, weighted = objects.virtual_service(canary, Routes(ab_testing=True))["spec"]["http"]
    assert ab["match"] == [{"uri": {"prefix": "/"}, "headers": {"x-canary": {"exact": "insider"}}}]
    assert [d["weight"] for d in ab["route"]] == [0, 100]
    assert [d["weight"] for d in weighted["route"]] == [100, 0]


def test_destination_rules_carry_the_traffic_policy() -> None:
    rules = objects.destination_rules(canary_model(service=FULL_SERVICE))
    assert [r["spec"] for r in rules] == [
        {"host": "podinfo-primary", "trafficPolicy": {"tls": {"mode": "ISTIO_MUTUAL"}}},
        {"host": "podinfo-canary", "trafficPolicy": {"tls": {"mode": "ISTIO_MUTUAL"}}},
    ]


def test_config_copies_keep_the_content_under_a_primary_name() -> None:
    copied = objects.config_copy(canary_model(), secret("podinfo-token", type_="kubernetes.io/tls"))
    assert copied["metadata"]["name"] == "podinfo-token-primary"
    assert (copied["type"], copied["data"]) == ("kubernetes.io/tls", {"token": "czNjcjN0"})


@pytest.mark.parametrize(
    "broken",
    [
        pytest.param(("VirtualService", "http.0.route.0", "weigth"), id="vs-typo"),
        pytest.param(("DestinationRule", "", "hots"), id="dr-typo"),
        pytest.param(("Service", "", "selectr"), id="service-typo"),
        pytest.param(("Deployment", "template.spec", "containerz"), id="deployment-typo"),
        pytest.param(("HorizontalPodAutoscaler", "metrics.0", "resourse"), id="hpa-typo"),
    ],
)
def test_the_schema_check_itself_catches_misspelt_fields(broken: tuple[str, str, str]) -> None:
    kind, path, field = broken
    built = {o["kind"]: o for o in _every_built_object(canary_model(), deployment(), Routes())}
    node = built[kind]["spec"]
    for part in filter(None, path.split(".")):
        node = node[int(part)] if part.isdigit() else node[part]
    node[field] = 1
    with pytest.raises(Exception, match=field):
        validate(built[kind])
