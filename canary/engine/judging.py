"""One analysis tick's verdict (interval rule, sequential test, metric errors) and a guard tick's."""

from __future__ import annotations

from collections.abc import Sequence

from canary.analysis.results import CheckResult, Verdict, json_number, json_safe
from canary.analysis.sequential import (
    SequentialConfig,
    decide_state,
    grid_llr_increments,
    mixture_llr,
)
from canary.api.canary import BlastRadius, MetricStatus, SequentialState, WebhookType
from canary.engine.tick import Tick, gate_answer, sequential_config
from canary.engine.types import TrafficSample, traffic_window
from canary.engine.verdicts import interval_verdict, measured_failure


def judge(tick: Tick) -> tuple[Verdict, str, bool]:
    """This interval's verdict, its reason, and whether a critical check failed."""
    rollout_gate = gate_answer(tick, WebhookType.ROLLOUT)
    fresh = new_traffic(tick)
    sequential = sequential_check(tick, fresh)
    interval = interval_verdict(tick.spec, tick.obs.analysis, interval_traffic(tick))
    results = [*interval.results, *([sequential] if sequential is not None else [])]
    report_metric_errors(tick, interval.results)
    tick.status.metrics = [metric_status(result) for result in results]
    if tick.spec.analysis.guard_metrics and tick.obs.analysis is not None:
        tick.status.last_guard_at = tick.now  # the guards were just checked with the rest
    count_blast_radius(tick, fresh)
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


def guard_tick(tick: Tick) -> str | None:
    """Between analysis ticks: feeds the read's traffic to the sequential test and checks the
    metrics marked `guard` (Observations.guard); the rollback's reason when the regression is
    conclusive or a guard metric measured a failure (the caller rolls back at once), else None.

    Nothing else changes: no history entry, no gate, no step, no failed check. A guard metric's
    entry in status.metrics is replaced only when it failed or its error changed (with a Warning
    Event, once per change, as at analysis ticks). No data (whatever `noData` says; the analysis
    tick applies it) and query errors never roll back here: a guard that cannot see says nothing
    about the canary, and a breach that lasts is seen at the next look.
    """
    reasons: list[str] = []
    if tick.obs.traffic is not None:
        fresh = new_traffic(tick)
        sequential = sequential_check(tick, fresh)
        count_blast_radius(tick, fresh)
        if sequential is not None and sequential.verdict == Verdict.FAIL:
            replace_metrics(tick, [sequential])
            reasons.append(f"critical check failed: {sequential.name}: {sequential.reason}")
    if tick.obs.guard is not None:
        reasons.extend(guard_metrics_check(tick, tick.obs.guard))
    return "; ".join(reasons) or None


def guard_metrics_check(tick: Tick, results: Sequence[CheckResult]) -> list[str]:
    """The guard metrics' part of a guard tick: restarts their clock (status.lastGuardAt) and
    answers the reasons of their measured failures (`measured_failure`)."""
    tick.status.last_guard_at = tick.now
    guards = tick.spec.analysis.guard_metrics
    checked = [result for result in results if result.name in guards]
    report_metric_errors(tick, checked)
    before = {m.name: m.evidence.get("error") for m in tick.previous.metrics}
    failed = [result for result in checked if measured_failure(result)]
    changed = [r for r in checked if r in failed or before.get(r.name) != r.evidence.get("error")]
    replace_metrics(tick, changed)
    return [f"guard check failed: {r.name}: {r.reason}" for r in failed]


def replace_metrics(tick: Tick, results: Sequence[CheckResult]) -> None:
    """Replaces (in place in the list's order, else at its end) these metrics' status entries."""
    if not results:
        return
    fresh = {result.name: metric_status(result) for result in results}
    kept = [fresh.pop(m.name, m) for m in tick.status.metrics]
    tick.status.metrics = [*kept, *fresh.values()]


def new_traffic(tick: Tick) -> TrafficSample | None:
    """What this read adds: with the sequential test the adapter reads each side's requests and
    5xx since status.sequential.readingSince, and what is new is the part above the counts
    already taken (each count clamped at zero: a later read may extrapolate a little less).
    Without a reading start (no sequential test) the sample is the analysis interval's as read.

    A read adds something only when both sides' requests have grown past what was taken: the
    test weighs a window's failures by the sides' shares of its requests, and a window without
    one side's requests weighs nothing, so taking its failures would mark them as taken without
    ever weighing them. Such a read comes when increase() extrapolates the unscraped end of the
    range at the run's average rate and a lull follows a burst (the count comes back lower), or
    when a side has had no request; what it shows waits for the next read. Taking it made 2 of
    the 3 false rollbacks of bench/decisions' healthy-noisy (seeds 1041 and 1121: a dozen
    primary failures taken unweighed).
    """
    traffic = tick.obs.traffic
    state = tick.status.sequential
    if traffic is None or state is None or state.reading_since is None:
        return traffic
    if (
        traffic.canary_requests <= state.canary_requests
        or traffic.primary_requests <= state.primary_requests
    ):
        return TrafficSample(0, 0, 0, 0)
    return TrafficSample(
        canary_requests=max(0, traffic.canary_requests - state.canary_requests),
        canary_failures=max(0, traffic.canary_failures - state.canary_failures),
        primary_requests=max(0, traffic.primary_requests - state.primary_requests),
        primary_failures=max(0, traffic.primary_failures - state.primary_failures),
    )


def interval_traffic(tick: Tick) -> TrafficSample | None:
    """The requests since the last analysis tick (what minRequests counts), then starts anew.

    With the guard, an analysis tick's window is only the part after the last guard tick; the
    requests of the guard's windows in between are kept in status.sequential until here.
    """
    state = tick.status.sequential
    traffic = tick.obs.traffic
    if traffic is None or state is None or sequential_config(tick.spec) is None:
        return traffic
    sample = TrafficSample(
        canary_requests=state.canary_requests_since_check,
        canary_failures=0,
        primary_requests=state.primary_requests_since_check,
        primary_failures=0,
    )
    tick.status.sequential = state.model_copy(
        update={"canary_requests_since_check": 0, "primary_requests_since_check": 0}
    )
    return sample


def report_metric_errors(tick: Tick, results: list[CheckResult]) -> None:
    """A Warning event when a metric's template or query starts failing (not at every interval)."""
    before = {m.name: m.evidence.get("error") for m in tick.previous.metrics}
    for result in results:
        error = result.evidence.get("error")
        if isinstance(error, str) and before.get(result.name) != error:
            tick.event(error, f"{result.name}: {result.reason}", warning=True)


def feed(state: SequentialState, traffic: TrafficSample, config: SequentialConfig) -> None:
    """Adds one window's counts to `state` (in place; callers pass a copy)."""
    ratios = list(config.ratios)
    if state.ratios != ratios:
        # A new run, a status written before the mixture, or a changed minEffect: the grid starts
        # from the simple LLR at min_effect, the rest from no evidence.
        state.ratios = ratios
        state.log_likelihood_ratios = [state.log_likelihood_ratio] + [0.0] * (len(ratios) - 1)
    increments = grid_llr_increments(
        traffic.canary_requests,
        traffic.canary_failures,
        traffic.primary_requests,
        traffic.primary_failures,
        config,
    )
    state.log_likelihood_ratios = [
        a + float(b) for a, b in zip(state.log_likelihood_ratios, increments, strict=True)
    ]
    state.log_likelihood_ratio = state.log_likelihood_ratios[0]
    state.canary_requests += traffic.canary_requests
    state.canary_failures += traffic.canary_failures
    state.primary_requests += traffic.primary_requests
    state.primary_failures += traffic.primary_failures
    state.canary_requests_since_check += traffic.canary_requests
    state.primary_requests_since_check += traffic.primary_requests


def sequential_check(tick: Tick, traffic: TrafficSample | None) -> CheckResult | None:
    """Adds what this read adds (`new_traffic`) to the sequential test and reports where it stands.

    The read is the one `needs()` asked for: it ends where `traffic_window` says, and that end is
    status.sequential.readUntil (the guard's clock).
    """
    config = sequential_config(tick.spec)
    if config is None or traffic is None:
        return None
    # A fresh copy: the input status is never changed in place (decide() is pure).
    previous = tick.status.sequential
    state = previous.model_copy(deep=True) if previous is not None else SequentialState()
    feed(state, traffic, config)
    since = state.reading_since or state.read_until
    state.read_until = traffic_window(since, tick.now)[1] if since is not None else tick.now
    tick.status.sequential = state
    llr = state.log_likelihood_ratio
    mixed = float(mixture_llr(state.log_likelihood_ratios, config))
    decision = decide_state(state.log_likelihood_ratios, config)
    if decision == "regression":
        verdict, reason = Verdict.FAIL, "regression conclusive"
    elif decision == "no_regression":
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
        threshold=(
            f"LLR > {config.lower_bound:.2f} and mixture LLR < {config.upper_bound:.2f} to continue"
        ),
        reason=f"{reason} (LLR {llr:.2f}, mixture LLR {mixed:.2f}; {rates})",
        evidence={
            "llr": llr,
            "mixtureLlr": mixed,
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


def count_blast_radius(tick: Tick, traffic: TrafficSample | None) -> None:
    """Adds this read's new canary traffic to the run's total (what a rollback message reports)."""
    if traffic is None:
        return
    seen = tick.status.blast_radius or BlastRadius()
    tick.status.blast_radius = BlastRadius(
        requests=seen.requests + traffic.canary_requests,
        failures=seen.failures + traffic.canary_failures,
    )
