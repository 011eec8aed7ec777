"""One analysis tick's verdict: the interval rule, the sequential test and metric errors."""

from __future__ import annotations

from canary.analysis.results import CheckResult, Verdict, json_number, json_safe
from canary.analysis.sequential import llr_increments
from canary.api.canary import BlastRadius, MetricStatus, SequentialState, WebhookType
from canary.engine.tick import Tick, gate_answer, sequential_config
from canary.engine.verdicts import interval_verdict


def judge(tick: Tick) -> tuple[Verdict, str, bool]:
    """This interval's verdict, its reason, and whether a critical check failed."""
    rollout_gate = gate_answer(tick, WebhookType.ROLLOUT)
    interval = interval_verdict(tick.spec, tick.obs.analysis, tick.obs.traffic)
    sequential = sequential_check(tick)
    results = [*interval.results, *([sequential] if sequential is not None else [])]
    report_metric_errors(tick, interval.results)
    tick.status.metrics = [metric_status(result) for result in results]
    count_blast_radius(tick)
    if rollout_gate is not None and not rollout_gate.passed:
        return Verdict.FAIL, f"rollout webhook failed: {rollout_gate.message}", False
    if sequential is not None and sequential.verdict == Verdict.FAIL:
        # A conclusive regression ends the run at once, whatever the failed-check threshold.
        reason = f"{sequential.name}: {sequential.reason}"
        if interval.verdict == Verdict.FAIL:
            reason = f"{interval.reason}; {reason}"
        return Verdict.FAIL, reason, True
    # A sequential test still collecting evidence holds nothing: the step duration rules decide.
    return interval.verdict, interval.reason, interval.critical


def report_metric_errors(tick: Tick, results: list[CheckResult]) -> None:
    """A Warning event when a metric's template or query starts failing (not at every interval)."""
    before = {m.name: m.evidence.get("error") for m in tick.previous.metrics}
    for result in results:
        error = result.evidence.get("error")
        if isinstance(error, str) and before.get(result.name) != error:
            tick.event(error, f"{result.name}: {result.reason}", warning=True)


def sequential_check(tick: Tick) -> CheckResult | None:
    """Adds this interval's traffic to the sequential test and reports where it stands."""
    config = sequential_config(tick.spec)
    traffic = tick.obs.traffic
    if config is None or traffic is None:
        return None
    # A fresh copy: the input status is never changed in place (decide() is pure).
    previous = tick.status.sequential
    state = previous.model_copy() if previous is not None else SequentialState()
    increment = llr_increments(
        [traffic.canary_requests],
        [traffic.canary_failures],
        [traffic.primary_requests],
        [traffic.primary_failures],
        config,
    )
    state.log_likelihood_ratio += float(increment[0])
    state.canary_requests += traffic.canary_requests
    state.canary_failures += traffic.canary_failures
    state.primary_requests += traffic.primary_requests
    state.primary_failures += traffic.primary_failures
    tick.status.sequential = state
    llr = state.log_likelihood_ratio
    if llr >= config.upper_bound:
        verdict, reason = Verdict.FAIL, "regression conclusive"
    elif llr <= config.lower_bound:
        verdict, reason = Verdict.PASS, "no regression, conclusive"
    else:
        verdict, reason = Verdict.HOLD, "collecting evidence"
    rates = (
        f"canary {state.canary_failures}/{state.canary_requests} failed, "
        f"primary {state.primary_failures}/{state.primary_requests}"
    )
    return CheckResult(
        name="sequential-failures",
        verdict=verdict,
        value=rate(state.canary_failures, state.canary_requests),
        primary_value=rate(state.primary_failures, state.primary_requests),
        threshold=f"{config.lower_bound:.2f} < LLR < {config.upper_bound:.2f}",
        reason=f"{reason} (LLR {llr:.2f}; {rates})",
        evidence={
            "llr": llr,
            "lowerBound": config.lower_bound,
            "upperBound": config.upper_bound,
            "minEffect": config.min_effect,
            "canaryRequests": state.canary_requests,
            "canaryFailures": state.canary_failures,
            "primaryRequests": state.primary_requests,
            "primaryFailures": state.primary_failures,
        },
    )


def rate(failures: int, requests: int) -> float | None:
    return failures / requests if requests else None


def metric_status(result: CheckResult) -> MetricStatus:
    evidence = json_safe(result.evidence)
    return MetricStatus(
        name=result.name,
        verdict=result.verdict.value,
        value=json_number(result.value),
        primary_value=json_number(result.primary_value),
        threshold=result.threshold,
        reason=result.reason,
        evidence=evidence if isinstance(evidence, dict) else {},
    )


def count_blast_radius(tick: Tick) -> None:
    """Adds this interval's canary traffic to the run's total (what a rollback message reports)."""
    traffic = tick.obs.traffic
    if traffic is None:
        return
    seen = tick.status.blast_radius or BlastRadius()
    tick.status.blast_radius = BlastRadius(
        requests=seen.requests + traffic.canary_requests,
        failures=seen.failures + traffic.canary_failures,
    )
