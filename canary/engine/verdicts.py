"""One interval's verdict from its check results: the rule the engine, `canary analyze` and the
simulator all apply, so that a replay says exactly what a rollout would have done."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from canary.analysis.results import CheckResult, Verdict
from canary.analysis.thresholds import check_traffic
from canary.api.canary import CanarySpec
from canary.engine.types import TrafficSample

TRAFFIC_CHECK = "request-volume"
"""Name of the low-traffic check added when `analysis.minRequests` is set."""


@dataclass(frozen=True)
class IntervalVerdict:
    """Pass advances, Fail counts a failed check (or rolls back when critical), Hold/NoData wait."""

    verdict: Verdict
    reason: str
    critical: bool
    results: list[CheckResult]


def interval_verdict(
    spec: CanarySpec, results: Sequence[CheckResult] | None, traffic: TrafficSample | None
) -> IntervalVerdict:
    """A critical failure rolls back; any failure counts; any Hold or NoData holds; else pass."""
    if spec.analysis.metrics and results is None:
        return IntervalVerdict(Verdict.HOLD, "the analysis did not run", False, [])
    checked = list(results or [])
    if spec.analysis.min_requests > 0:
        checked.append(traffic_check(traffic, spec.analysis.min_requests))
    critical_names = {metric.name for metric in spec.analysis.metrics if metric.critical}
    guards = spec.analysis.guard_metrics
    failed = [r for r in checked if r.verdict == Verdict.FAIL]
    if failed:
        # A guard's measured breach rolls back at an analysis tick too, as it would have a
        # second earlier at a guard tick; its no-data "fail" only counts, as any metric's does.
        critical = any(
            r.name in critical_names
            or r.evidence.get("critical") is True
            or (r.name in guards and measured_failure(r))
            for r in failed
        )
        return IntervalVerdict(Verdict.FAIL, _reasons(failed), critical, checked)
    waiting = [r for r in checked if r.verdict in (Verdict.HOLD, Verdict.NO_DATA)]
    if waiting:
        return IntervalVerdict(Verdict.HOLD, _reasons(waiting), False, checked)
    names = ", ".join(r.name for r in checked) or "no metrics configured"
    return IntervalVerdict(Verdict.PASS, f"checks passed ({names})", False, checked)


def measured_failure(result: CheckResult) -> bool:
    """Whether a Fail was measured, not what `noData: fail` (or a judge's "must have data")
    makes of missing data. A metric with several checks (combined, each in its evidence under
    its kind) fails on data when one of them does."""
    return result.verdict == Verdict.FAIL and _measured(result.evidence)


def _measured(evidence: Mapping[str, object]) -> bool:
    if evidence.get("noData") is True or evidence.get("classification") == "NodataFailMetric":
        return False
    parts = [v for v in evidence.values() if isinstance(v, Mapping) and "verdict" in v]
    if not parts:
        return True
    return any(
        part.get("verdict") == Verdict.FAIL.value
        and _measured(nested if isinstance(nested := part.get("evidence"), Mapping) else {})
        for part in parts
    )


def traffic_check(traffic: TrafficSample | None, minimum: int) -> CheckResult:
    """Fewer canary requests than `minRequests` is low traffic: the step holds, nothing fails."""
    if traffic is None:
        return CheckResult(
            TRAFFIC_CHECK,
            Verdict.HOLD,
            None,
            None,
            f"requests >= {minimum}",
            "the traffic of the interval could not be measured; holding the rollout",
            {},
        )
    return check_traffic(
        TRAFFIC_CHECK, traffic.canary_requests, minimum, primary_requests=traffic.primary_requests
    )


def _reasons(results: Sequence[CheckResult]) -> str:
    return "; ".join(f"{r.name}: {r.reason}" for r in results)
