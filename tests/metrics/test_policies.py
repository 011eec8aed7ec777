"""Every shipped policy validates, and its query gives the hand-computed values on the history."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from canary.api.loading import parse, read_documents
from canary.api.metric_template import MetricTemplate
from canary.cli import main
from canary.metrics import promql
from canary.metrics.prometheus import PrometheusProvider

from .canaries import canary
from .conftest import PrometheusServer
from .history import T0

POLICIES = Path(__file__).resolve().parents[2] / "policies"
AT = datetime.fromtimestamp(T0 + 300, UTC)

# (canary, primary) at T0+5m over 1m. p95: rank 95 falls in (50, 100] with 90 -> 98 for the canary
# (50 + 50 * 5/8 = 81.25) and in (25, 50] with 80 -> 96 for the primary (25 + 25 * 15/16).
EXPECTED = {
    "istio-request-success-rate": (95.0, 99.0),
    "istio-error-rate": (5.0, 1.0),
    "istio-request-duration-p50": (25.0, 10.0),
    "istio-request-duration-p95": (81.25, 48.4375),
    "istio-request-duration-p99": (175.0, 87.5),
    "istio-request-duration-p95-judged": (81.25, 48.4375),
    "istio-request-volume": (100.0, 100.0),
}


def templates() -> list[MetricTemplate]:
    found = []
    for path in sorted(POLICIES.glob("*.yaml")):
        for document in read_documents(path):
            if not document.is_ours:
                continue  # policies/kustomization.yaml, which lists them for deploy/
            parsed = parse(document)
            if isinstance(parsed, MetricTemplate):
                found.append(parsed)
    return found


def test_every_policy_validates_with_canary_validate(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", *map(str, sorted(POLICIES.glob("*.yaml")))]) == 0


def test_every_shipped_template_has_expected_values() -> None:
    assert sorted(t.metadata.name for t in templates()) == sorted(EXPECTED)


@pytest.mark.prometheus
@pytest.mark.parametrize("template", templates(), ids=lambda t: t.metadata.name)
def test_each_policy_measures_the_canary_and_the_primary(
    prometheus: PrometheusServer, template: MetricTemplate
) -> None:
    provider = PrometheusProvider(prometheus.url)
    subject = canary({"name": "request-success-rate", "thresholdRange": {"min": 1}})
    values = tuple(
        provider.query(
            promql.render(template.spec.query, promql.builtin_variables(subject, side, "1m")), AT
        )
        for side in ("canary", "primary")
    )
    assert values == pytest.approx(EXPECTED[template.metadata.name])
