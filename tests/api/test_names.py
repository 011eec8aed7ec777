"""`canary validate` refuses Canaries whose derived names Kubernetes would refuse, naming the limit."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from canary.api.canary import Canary
from canary.cli import main
from canary.kube.names import name_problems

# Independent statements of Kubernetes' rules (k8s.io/apimachinery validation.go), written
# here again so that the test does not check the module against itself.
SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
DNS1035 = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")


def subdomain(name: str) -> bool:
    return len(name) <= 253 and bool(SUBDOMAIN.match(name))


def service(name: str) -> bool:
    return len(name) <= 63 and bool(DNS1035.match(name))


def label_value(value: str) -> bool:
    return len(value) <= 63 and bool(LABEL_VALUE.match(value))


def canary(name: str, **spec: Any) -> Canary:
    return Canary.model_validate(
        {
            "apiVersion": "canary.dev/v1alpha1",
            "kind": "Canary",
            "metadata": {"name": name, "namespace": "default"},
            "spec": {"targetRef": {"name": name}, "service": {"port": 80}, **spec},
        }
    )


def target(name: str, label: str) -> dict[str, Any]:
    labels = {"app": label}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "app", "image": "app:1"}]},
            },
        },
    }


names = st.one_of(
    st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-.", min_size=1, max_size=253),
    st.from_regex(r"[a-z]([-a-z0-9]{0,60}[a-z0-9])?", fullmatch=True),
)


@settings(max_examples=300, deadline=None)
@given(name=names, length=st.integers(min_value=1, max_value=253))
def test_a_canary_is_accepted_iff_every_derived_name_fits(name: str, length: int) -> None:
    """Canary, target and app label share one name of 1 to 253 characters."""
    name = (name * (length // len(name) + 1))[:length]
    fits = (
        subdomain(name)
        and subdomain(f"{name}.0123456789abcdef")  # its Events
        and subdomain(f"{name}-primary")
        and all(service(s) for s in (name, f"{name}-primary", f"{name}-canary"))
        and label_value(f"{name}-primary")
    )
    problems = name_problems(canary(name), target(name, name))
    assert (problems == []) == fits, problems


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("a" * 55, None),
        (
            "a" * 56,
            'spec.targetRef.name: derived Service name "' + "a" * 56 + '-primary" is 64 '
            "characters; Kubernetes allows 63 for a DNS-1035 label",
        ),
        ("9lives", 'derived Service name "9lives" is not a valid DNS-1035 label'),
        ("my.app", 'derived Service name "my.app" is not a valid DNS-1035 label'),
        (
            "a" * 237,
            'metadata.name: derived Event name "' + "a" * 237 + '.0000000000000000" is 254 '
            "characters; Kubernetes allows 253 for a DNS-1123 subdomain",
        ),
    ],
)
def test_the_message_names_the_field_the_name_and_the_limit(
    name: str, expected: str | None
) -> None:
    problems = name_problems(canary(name))
    if expected is None:
        assert problems == []
    else:
        assert any(expected in p for p in problems), problems


def test_a_plain_name_fits_up_to_55_characters() -> None:
    """`<name>-primary` is a Service name: DNS-1035, at most 63 characters."""
    accepted = [
        n for n in range(1, 254) if not name_problems(canary("a" * n), target("a" * n, "a" * n))
    ]
    assert accepted == list(range(1, 56))


def test_a_short_service_name_makes_a_long_target_fit_until_its_label_does_not() -> None:
    long = "a" * 60
    fixed = canary(long, service={"port": 80, "name": "app"})
    assert name_problems(fixed) == []
    assert name_problems(fixed, target(long, "app")) == []
    (problem,) = name_problems(fixed, target(long, long))
    assert problem == (
        f'spec.targetRef.name: derived label value of app "{long}-primary" is 68 characters; '
        "Kubernetes allows 63 for a label value"
    )


def test_the_copies_of_config_maps_and_secrets_must_fit() -> None:
    config = "c" * 250
    problems = name_problems(canary("app"), target("app", "app"), [config], ["s"])
    assert problems == [
        f'spec.targetRef.name: derived ConfigMap name "{config}-primary" is 258 characters; '
        "Kubernetes allows 253 for a DNS-1123 subdomain"
    ]


def test_the_primary_autoscaler_name_must_fit() -> None:
    hpa = "h" * 250
    (problem,) = name_problems(canary("app", autoscalerRef={"name": hpa}))
    assert problem.startswith(
        f'spec.autoscalerRef.name: derived HorizontalPodAutoscaler name "{hpa}'
    )


def test_validate_refuses_the_56_character_names_with_the_limit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The issue's case: a target Deployment, its app label and the Canary, all 56 characters."""
    name = "a" * 48 + "-podinfo"
    manifest = tmp_path / "long.yaml"
    body = canary(name).to_wire()
    manifest.write_text(yaml.safe_dump_all([target(name, name), body]))

    assert main(["validate", str(manifest)]) == 1

    err = capsys.readouterr().err
    assert f'derived Service name "{name}-primary" is 64 characters; Kubernetes allows 63' in err
    assert f'derived label value of app "{name}-primary" is 64 characters' in err
    assert "Traceback" not in err


def test_validate_checks_the_target_named_in_another_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    long = "a" * 60
    (tmp_path / "deploy.yaml").write_text(yaml.safe_dump(target(long, long)))
    (tmp_path / "canary.yaml").write_text(
        yaml.safe_dump(canary(long, service={"port": 80, "name": "app"}).to_wire())
    )

    assert main(["validate", str(tmp_path / "canary.yaml")]) == 0
    assert main(["validate", str(tmp_path / "deploy.yaml"), str(tmp_path / "canary.yaml")]) == 1
    assert "Kubernetes allows 63 for a label value" in capsys.readouterr().err
