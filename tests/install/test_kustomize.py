"""deploy/ builds offline with kustomize, and every object of every install is valid and fits the controller.

Built with `kubectl kustomize` (kustomize v5 built in): deploy/ (cluster-wide), deploy/namespaced/
and deploy/ with its optional components (servicemonitor/, grafana/). Built-in kinds validate with
kubernetes-validate in strict mode, canary.dev objects against the CRDs the install itself
applies (made strict as tests/controller/kube_schemas.py does), the ServiceMonitor against the
Prometheus Operator's CRD vendored in schemas/. The RBAC: tests/controller/test_deploy.py.
"""

from __future__ import annotations

import argparse
import copy
import functools
import json
from collections import Counter
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import kubernetes_validate
import pytest
import yaml

from canary.api.crdgen import render_crds
from canary.commands import controller
from tests.controller.kube_schemas import KUBERNETES_VERSION, _strict, served_schema
from tests.install.kustomize import (
    CLUSTER_WIDE,
    DEPLOY,
    KUBECTL,
    NAMESPACED,
    REPO,
    needs_kubectl,
    render,
    render_with_components,
)

pytestmark = needs_kubectl

INSTALLS = {
    "cluster-wide": lambda: render(CLUSTER_WIDE),
    "namespaced": lambda: render(NAMESPACED),
    "with-components": render_with_components,
}
SCHEMAS = Path(__file__).resolve().parent / "schemas"
OPERATOR_CRDS = {
    ("monitoring.coreos.com/v1", "ServiceMonitor"): SCHEMAS
    / "monitoring.coreos.com_servicemonitors.yaml",
}
"""CRDs of kinds the install uses but does not define, vendored from their project (see
schemas/README.md)."""


def _objects() -> list[tuple[str, dict[str, Any]]]:
    if KUBECTL is None:
        return []  # the module is skipped
    return [(name, o) for name, build in INSTALLS.items() for o in build()]


def _id(value: Any) -> str:
    if isinstance(value, dict):
        return f"{value['kind']}-{value['metadata']['name']}"
    return str(value)


def _one(objects: list[dict[str, Any]], kind: str, name: str | None = None) -> dict[str, Any]:
    found = [o for o in objects if o["kind"] == kind and name in (None, o["metadata"]["name"])]
    assert len(found) == 1, f"{len(found)} {kind} {name or ''}"
    return found[0]


@functools.cache
def _crd_validator(install: str, kind: str) -> jsonschema.Draft4Validator:
    crd = next(
        o
        for o in INSTALLS[install]()
        if o["kind"] == "CustomResourceDefinition" and o["spec"]["names"]["kind"] == kind
    )
    schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return jsonschema.Draft4Validator(_strict(copy.deepcopy(schema)))


@functools.cache
def _operator_validator(api_version: str, kind: str) -> jsonschema.Draft4Validator:
    """The schema of `api_version`'s `kind` in its vendored CRD, made strict (unknown fields are
    errors, as tests/controller/kube_schemas.py makes Istio's)."""
    crd = yaml.safe_load(OPERATOR_CRDS[(api_version, kind)].read_text())
    schema = served_schema(crd, api_version, kind, ("name", "namespace"))
    schema["properties"]["metadata"]["additionalProperties"] = False
    schema["required"] = sorted({"apiVersion", "kind", "metadata", *schema.get("required", [])})
    return jsonschema.Draft4Validator(schema)


@pytest.mark.parametrize(("install", "obj"), _objects(), ids=_id)
def test_every_object_of_every_install_is_valid(install: str, obj: dict[str, Any]) -> None:
    if (obj["apiVersion"], obj["kind"]) in OPERATOR_CRDS:
        _operator_validator(obj["apiVersion"], obj["kind"]).validate(obj)
    elif obj["apiVersion"].startswith("canary.dev/"):
        _crd_validator(install, obj["kind"]).validate(obj)
    else:
        kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)


@pytest.mark.parametrize("install", list(INSTALLS))
def test_an_install_holds_each_object_once_and_namespaced_ones_in_a_namespace(install: str) -> None:
    objects = INSTALLS[install]()
    keys = Counter(
        (o["kind"], o["metadata"].get("namespace"), o["metadata"]["name"]) for o in objects
    )
    assert [k for k, n in keys.items() if n > 1] == []
    cluster_scoped = {"Namespace", "CustomResourceDefinition", "ClusterRole", "ClusterRoleBinding"}
    for obj in objects:
        assert ("namespace" in obj["metadata"]) != (obj["kind"] in cluster_scoped), _id(obj)


@pytest.mark.parametrize("install", list(INSTALLS))
def test_the_install_applies_the_crds_of_the_models(install: str) -> None:
    applied = [o for o in INSTALLS[install]() if o["kind"] == "CustomResourceDefinition"]
    for crd in applied:
        crd["metadata"]["labels"].pop("app.kubernetes.io/part-of")
        if not crd["metadata"]["labels"]:
            del crd["metadata"]["labels"]
    generated = [yaml.safe_load(text) for text in render_crds().values()]
    key = lambda c: c["metadata"]["name"]  # noqa: E731
    assert sorted(applied, key=key) == sorted(generated, key=key)


def test_crds_and_policies_list_every_file_of_their_directory() -> None:
    for directory in (REPO / "crds", REPO / "policies"):
        listed = yaml.safe_load((directory / "kustomization.yaml").read_text())["resources"]
        files = sorted(p.name for p in directory.glob("*.yaml") if p.name != "kustomization.yaml")
        assert sorted(listed) == files, directory
    assert sorted(p for p in (REPO / "crds").glob("*.yaml") if p.name != "kustomization.yaml") == [
        REPO / "crds" / name for name in sorted(render_crds())
    ]


def test_the_policies_are_installed_as_metric_templates_in_the_controllers_namespace() -> None:
    templates = [o for o in render(CLUSTER_WIDE) if o["kind"] == "MetricTemplate"]
    shipped = [
        d["metadata"]["name"]
        for path in sorted((REPO / "policies").glob("istio-*.yaml"))
        for d in yaml.safe_load_all(path.read_text())
        if d
    ]
    assert sorted(t["metadata"]["name"] for t in templates) == sorted(shipped)
    assert {t["metadata"]["namespace"] for t in templates} == {"canary-system"}


def _environment(objects: list[dict[str, Any]]) -> tuple[dict[str, Any], dict[str, str]]:
    """The controller's container and the environment it starts with (ConfigMap, then env)."""
    deployment = _one(objects, "Deployment", "canary-controller")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    environ: dict[str, str] = {}
    for source in container.get("envFrom", []):
        environ.update(_one(objects, "ConfigMap", source["configMapRef"]["name"])["data"])
    for variable in container.get("env", []):
        field = variable.get("valueFrom", {}).get("fieldRef", {}).get("fieldPath")
        environ[variable["name"]] = (
            deployment["metadata"]["namespace"]
            if field == "metadata.namespace"
            else variable["value"]
        )
    return container, environ


def _parse(container: dict[str, Any], environ: dict[str, str]) -> argparse.Namespace:
    """What `canary controller` (the image's entrypoint) makes of the container's args and env."""
    parser = argparse.ArgumentParser(prog="canary")
    controller.register(parser.add_subparsers(dest="command"), environ)
    return parser.parse_args(["controller", *container.get("args", [])])


@pytest.mark.parametrize(
    ("install", "namespaces"), [("cluster-wide", []), ("namespaced", ["apps", "payments"])]
)
def test_the_controller_starts_with_leader_election_and_its_lease_in_its_namespace(
    install: str, namespaces: list[str]
) -> None:
    objects = INSTALLS[install]()
    container, environ = _environment(objects)
    unknown = set(environ) - set(controller.VARIABLES.values())
    assert not unknown, f"variables the controller does not read: {unknown}"
    args = _parse(container, environ)
    assert args.leader_elect is True
    assert args.leader_election_namespace == "canary-system"
    assert args.namespace == namespaces
    assert args.metrics_server.startswith("http://")
    deployment = _one(objects, "Deployment", "canary-controller")
    assert deployment["spec"]["replicas"] == 2
    image = container["image"]
    assert image.count(":") == 1, image  # the `images:` of deploy/base set a name and a tag
    assert "/" in image, image


def test_the_probes_and_the_service_reach_the_controllers_endpoints() -> None:
    objects = render(CLUSTER_WIDE)
    container, environ = _environment(objects)
    port = int(_parse(container, environ).metrics_addr.rpartition(":")[2])
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    probes = {k: container[k]["httpGet"] for k in ("livenessProbe", "readinessProbe")}
    assert {k: (p["path"], ports[p["port"]]) for k, p in probes.items()} == {
        "livenessProbe": ("/healthz", port),
        "readinessProbe": ("/readyz", port),
    }
    service = _one(objects, "Service", "canary-controller")
    pod_labels = _one(objects, "Deployment")["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()
    assert [ports[p["targetPort"]] for p in service["spec"]["ports"]] == [port]


def test_the_controller_runs_as_a_non_root_user_with_a_read_only_root() -> None:
    objects = render(CLUSTER_WIDE)
    pod = _one(objects, "Deployment")["spec"]["template"]["spec"]
    container, _ = _environment(objects)
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] > 0
    assert container["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
    }
    assert set(container["resources"]) == {"requests", "limits"}


def test_the_service_monitor_scrapes_the_controllers_service() -> None:
    objects = render_with_components()
    monitor = _one(objects, "ServiceMonitor", "canary-controller")
    service = _one(objects, "Service", "canary-controller")
    assert (
        monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    )
    assert monitor["spec"]["namespaceSelector"]["matchNames"] == [service["metadata"]["namespace"]]
    names = {p["name"] for p in service["spec"]["ports"]}
    assert [e["port"] for e in monitor["spec"]["endpoints"]] == ["http-metrics"]
    assert "http-metrics" in names
    assert {e["path"] for e in monitor["spec"]["endpoints"]} == {"/metrics"}


@pytest.mark.parametrize(
    ("path", "value"),
    [
        pytest.param(("spec", "endpoints", 0, "intervall"), "30s", id="a-misspelt-field"),
        pytest.param(("spec", "endpoints", 0, "scheme"), "gopher", id="a-value-off-the-enum"),
        pytest.param(("spec", "selector"), None, id="no-selector"),
    ],
)
def test_the_service_monitor_schema_refuses_a_broken_monitor(
    path: tuple[str | int, ...], value: Any
) -> None:
    monitor = copy.deepcopy(_one(render_with_components(), "ServiceMonitor", "canary-controller"))
    parent: Any = monitor
    for key in path[:-1]:
        parent = parent[key]
    if value is None:
        del parent[path[-1]]
    else:
        parent[path[-1]] = value
    validator = _operator_validator(monitor["apiVersion"], monitor["kind"])

    assert list(validator.iter_errors(monitor))


def test_the_grafana_component_offers_the_dashboard_to_grafanas_sidecar() -> None:
    config = _one(render_with_components(), "ConfigMap", "canary-dashboard")
    assert config["metadata"]["labels"]["grafana_dashboard"] == "1"
    shipped = json.loads((DEPLOY / "grafana" / "canary-dashboard.json").read_text())
    assert json.loads(config["data"]["canary-dashboard.json"]) == shipped


def test_the_components_are_not_in_the_default_install() -> None:
    kinds = {o["kind"] for o in render(CLUSTER_WIDE)}
    names = {o["metadata"]["name"] for o in render(CLUSTER_WIDE) if o["kind"] == "ConfigMap"}
    assert "ServiceMonitor" not in kinds
    assert not any(name.startswith("canary-dashboard") for name in names)


def test_every_kustomization_under_deploy_builds() -> None:
    built = []
    for path in sorted(DEPLOY.rglob("kustomization.yaml")):
        kind = yaml.safe_load(path.read_text()).get("kind", "Kustomization")
        if kind == "Component":
            continue  # built with the rest by render_with_components
        assert render(Path(path.parent)), path
        built.append(path.parent.relative_to(DEPLOY).as_posix())
    assert sorted(built) == [".", "base", "namespaced"]
