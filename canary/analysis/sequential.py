"""An always-valid sequential test of the canary's failures against the primary's (SPRT, mixture SPRT).

Conditioned on the number of failures seen in a window, each failure is the canary's with
probability pi(r) = r*w / (r*w + 1 - w), where w is the canary's share of the window's requests
and r the ratio of the canary's error rate to the primary's. Conditioning removes the unknown
baseline error rate, so the test only needs the ratio: H0 r <= tolerated_ratio (no regression)
against H1 r >= min_effect (a regression worth a rollback). Each window adds its own
log-likelihood ratio with its own w, so the traffic split may change between windows.

Two one-sided statistics run side by side:

- "regression": a mixture likelihood ratio over a grid of ratios r_k = min_effect * 2^k up to
  max_effect (half the prior weight on min_effect, the rest spread evenly), the mixture SPRT of
  Robbins (1970, "Statistical methods related to the law of the iterated logarithm", Ann. Math.
  Statist. 41) as used for always-valid A/B tests by Johari, Koomen, Pekelis and Walsh (2017,
  "Peeking at A/B tests", KDD). Large regressions (50x-200x) cross it after a few failures.
- "no regression": the simple likelihood ratio of r = tolerated_ratio against r = min_effect.

Why the bounds hold whatever the monitoring: the binomial's natural parameter is linear in
log r, so under H0 (r <= tolerated) each per-failure likelihood ratio has expectation <= 1 and
every LR (and any mixture of them) is a nonnegative supermartingale; Ville's inequality (1939,
"Etude critique de la notion de collectif") gives P(ever >= 1/alpha) <= alpha, for any number of
looks at any times. Symmetrically under r >= min_effect the inverse LR of the "no regression"
side is a supermartingale and P(ever <= beta) <= beta. So the bounds are Ville's, log(1/alpha)
and log(beta), rather than Wald's log((1-beta)/alpha) and log(beta/(1-alpha)) (Wald, 1945,
"Sequential tests of statistical hypotheses", Ann. Math. Statist. 16), which assume one look
per observation; numerically they differ by less than 0.05 at the defaults.
With no failures on either side there is no evidence either way: the test continues.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import optimize
from scipy.special import logsumexp

from canary.analysis.results import CheckResult, Verdict, format_number

Decision = Literal["regression", "no_regression", "continue"]
FloatArray = NDArray[np.float64]

MIN_EFFECT_PRIOR = 0.5
"""The mixture's prior weight on min_effect itself: the price of the mixture at r = min_effect is
log(1/0.5) = 0.69 nats (a few more failures), against log(2 (K-1)) at the larger ratios."""


@dataclass(frozen=True)
class SequentialConfig:
    """Error rates and effect sizes of the test."""

    false_rollback_rate: float = 0.01
    """alpha: probability of ever deciding "regression" when the canary is no worse."""
    false_promotion_rate: float = 0.05
    """beta: probability of ever deciding "no_regression" when r >= min_effect."""
    min_effect: float = 2.0
    """The smallest ratio of canary to primary error rate worth detecting (H1)."""
    tolerated_ratio: float = 1.0
    """The ratio still taken as "no regression" (H0); above 1 tolerates a slightly worse canary."""
    max_effect: float = 256.0
    """The largest ratio of the regression side's mixture grid (min_effect * 2^k up to this)."""

    def __post_init__(self) -> None:
        for name in ("false_rollback_rate", "false_promotion_rate"):
            rate = getattr(self, name)
            if not 0.0 < rate < 0.5:
                raise ValueError(f"{name} must be in (0, 0.5), got {rate}")
        if not 0.0 < self.tolerated_ratio < self.min_effect:
            raise ValueError(
                f"need 0 < tolerated_ratio < min_effect, got {self.tolerated_ratio} "
                f"and {self.min_effect}"
            )

    @property
    def upper_bound(self) -> float:
        """log(1/alpha), Ville's: at or above it (the mixture LLR) the test decides "regression"."""
        return math.log(1 / self.false_rollback_rate)

    @property
    def lower_bound(self) -> float:
        """log(beta), Ville's: at or below it (the LLR at min_effect) it decides "no_regression"."""
        return math.log(self.false_promotion_rate)

    @property
    def ratios(self) -> tuple[float, ...]:
        """The regression side's grid: min_effect, 2*min_effect, ... up to max_effect."""
        grid = [self.min_effect]
        while grid[-1] * 2 <= self.max_effect:
            grid.append(grid[-1] * 2)
        return tuple(grid)

    @property
    def log_weights(self) -> FloatArray:
        """The mixture's log prior weights over `ratios` (they sum to 1)."""
        k = len(self.ratios)
        if k == 1:
            return np.zeros(1)
        rest = (1 - MIN_EFFECT_PRIOR) / (k - 1)
        return np.log(np.array([MIN_EFFECT_PRIOR] + [rest] * (k - 1), dtype=np.float64))


@dataclass(frozen=True)
class Interval:
    """Counts for one window; fractional counts (rates times time) are accepted."""

    canary_requests: float
    canary_failures: float
    primary_requests: float
    primary_failures: float


@dataclass(frozen=True)
class SequentialResult:
    """The decision, the LLR that gave it, the bounds, a reason in words and evidence.

    `llr` is the LLR at min_effect (the "no regression" side) and `mixture_llr` the regression
    side's mixture LLR.
    """

    decision: Decision
    llr: float
    lower_bound: float
    upper_bound: float
    reason: str
    evidence: Mapping[str, object] = field(default_factory=dict)
    mixture_llr: float = 0.0

    def to_check(self, name: str = "sequential-failures") -> CheckResult:
        """regression -> FAIL, no_regression -> PASS, continue -> HOLD."""
        verdict = {
            "regression": Verdict.FAIL,
            "no_regression": Verdict.PASS,
            "continue": Verdict.HOLD,
        }[self.decision]
        canary_rate = self.evidence.get("canaryErrorRate")
        primary_rate = self.evidence.get("primaryErrorRate")
        return CheckResult(
            name=name,
            verdict=verdict,
            value=canary_rate if isinstance(canary_rate, float) else None,
            primary_value=primary_rate if isinstance(primary_rate, float) else None,
            threshold=(
                f"{format_number(self.lower_bound)} < LLR < {format_number(self.upper_bound)}"
            ),
            reason=self.reason,
            evidence={
                **self.evidence,
                "decision": self.decision,
                "llr": self.llr,
                "mixtureLlr": self.mixture_llr,
            },
        )


def canary_share_of_failures(ratio: ArrayLike, canary_weight: ArrayLike) -> FloatArray:
    """pi(r) = r*w / (r*w + 1 - w): the chance that a failure is the canary's."""
    r = np.asarray(ratio, dtype=np.float64)
    w = np.asarray(canary_weight, dtype=np.float64)
    return np.asarray(r * w / (r * w + (1 - w)), dtype=np.float64)


def llr_increments(
    canary_requests: ArrayLike,
    canary_failures: ArrayLike,
    primary_requests: ArrayLike,
    primary_failures: ArrayLike,
    config: SequentialConfig,
    ratio: ArrayLike | None = None,
) -> FloatArray:
    """Each window's log-likelihood ratio of `ratio` (default min_effect) against the tolerated
    ratio; vectorised and broadcast (windows missing a side add 0)."""
    n_c = np.asarray(canary_requests, dtype=np.float64)
    f_c = np.asarray(canary_failures, dtype=np.float64)
    n_p = np.asarray(primary_requests, dtype=np.float64)
    f_p = np.asarray(primary_failures, dtype=np.float64)
    both_sides = (n_c > 0) & (n_p > 0)
    # Without both sides w is 0 or 1, every failure's owner is known and the window says nothing.
    w = np.where(both_sides, n_c / np.where(both_sides, n_c + n_p, 1.0), 0.5)
    pi0 = canary_share_of_failures(config.tolerated_ratio, w)
    pi1 = canary_share_of_failures(config.min_effect if ratio is None else ratio, w)
    increments = f_c * np.log(pi1 / pi0) + f_p * np.log((1 - pi1) / (1 - pi0))
    return np.asarray(np.where(both_sides, increments, 0.0), dtype=np.float64)


def grid_llr_increments(
    canary_requests: ArrayLike,
    canary_failures: ArrayLike,
    primary_requests: ArrayLike,
    primary_failures: ArrayLike,
    config: SequentialConfig,
) -> FloatArray:
    """Each window's LLR at every ratio of `config.ratios`: shape (*windows, len(ratios))."""
    n_c, f_c, n_p, f_p = (
        np.asarray(c, dtype=np.float64)[..., None]
        for c in (canary_requests, canary_failures, primary_requests, primary_failures)
    )
    ratios = np.asarray(config.ratios, dtype=np.float64)
    return llr_increments(n_c, f_c, n_p, f_p, config, ratio=ratios)


def mixture_llr(grid_llrs: ArrayLike, config: SequentialConfig) -> FloatArray:
    """log sum_k p_k exp(LLR_k) over the last axis: the regression side's mixture LLR."""
    llrs = np.asarray(grid_llrs, dtype=np.float64)
    return np.asarray(logsumexp(llrs + config.log_weights, axis=-1), dtype=np.float64)


def first_crossing(
    cumulative_llr: FloatArray,
    config: SequentialConfig,
    regression_llr: FloatArray | None = None,
) -> tuple[NDArray[np.int64], NDArray[np.int8]]:
    """Index of the first window (last axis) whose LLR leaves the bounds, and the side.

    `cumulative_llr` is compared with the lower bound, and `regression_llr` (the mixture; by
    default `cumulative_llr` itself, the simple SPRT) with the upper bound. Returns (index, side)
    with side +1 for regression, -1 for no regression, 0 for undecided (index is then the last
    window). Vectorised so simulations use the same code as the engine.
    """
    upper_series = cumulative_llr if regression_llr is None else regression_llr
    above = upper_series >= config.upper_bound
    below = cumulative_llr <= config.lower_bound
    crossed = above | below
    any_crossed = crossed.any(axis=-1)
    last = cumulative_llr.shape[-1] - 1
    index = np.where(any_crossed, crossed.argmax(axis=-1), last).astype(np.int64)
    went_above = np.take_along_axis(above, index[..., None], axis=-1)[..., 0]
    side = np.where(any_crossed, np.where(went_above, 1, -1), 0).astype(np.int8)
    return index, side


def decide_state(grid_llrs: Sequence[float], config: SequentialConfig) -> Decision:
    """The decision for the cumulative LLRs at `config.ratios` (the engine keeps these)."""
    if float(mixture_llr(np.asarray(grid_llrs), config)) >= config.upper_bound:
        return "regression"
    if grid_llrs[0] <= config.lower_bound:
        return "no_regression"
    return "continue"


def sequential_test(
    observations: Iterable[Interval | tuple[float, float, float, float]],
    config: SequentialConfig = SequentialConfig(),
) -> SequentialResult:
    """Run the test over the windows in order and stop at the first boundary crossing."""
    intervals = [as_interval(item) for item in observations]
    for position, interval in enumerate(intervals):
        validate_interval(interval, position)
    if not intervals:
        return undecided(config, 0.0, 0.0, [], "no intervals observed yet")
    counts = np.array(
        [
            [i.canary_requests, i.canary_failures, i.primary_requests, i.primary_failures]
            for i in intervals
        ],
        dtype=np.float64,
    )
    n_c, f_c, n_p, f_p = counts.T
    grid = np.cumsum(grid_llr_increments(n_c, f_c, n_p, f_p, config), axis=0)
    cumulative = grid[:, 0]
    mixture = mixture_llr(grid, config)
    index, side = first_crossing(cumulative, config, mixture)
    stop = int(index)
    used = intervals[: stop + 1]
    llr, mixed = float(cumulative[stop]), float(mixture[stop])
    if side == 0:
        return undecided(config, llr, mixed, used, continue_reason(used, llr, mixed, config))
    decision: Decision = "regression" if side > 0 else "no_regression"
    return SequentialResult(
        decision=decision,
        llr=llr,
        lower_bound=config.lower_bound,
        upper_bound=config.upper_bound,
        reason=decided_reason(decision, used, llr, mixed, config),
        evidence=evidence(used, config, decided_at=stop),
        mixture_llr=mixed,
    )


def as_interval(item: Interval | tuple[float, float, float, float]) -> Interval:
    return item if isinstance(item, Interval) else Interval(*item)


def validate_interval(interval: Interval, position: int) -> None:
    """Impossible counts are a caller bug, not a result: raise."""
    values = (
        interval.canary_requests,
        interval.canary_failures,
        interval.primary_requests,
        interval.primary_failures,
    )
    if not all(math.isfinite(v) and v >= 0 for v in values):
        raise ValueError(f"interval {position}: counts must be finite and >= 0, got {interval}")
    if interval.canary_failures > interval.canary_requests:
        raise ValueError(f"interval {position}: canary failures exceed canary requests")
    if interval.primary_failures > interval.primary_requests:
        raise ValueError(f"interval {position}: primary failures exceed primary requests")


def totals(intervals: list[Interval]) -> tuple[float, float, float, float]:
    return (
        sum(i.canary_requests for i in intervals),
        sum(i.canary_failures for i in intervals),
        sum(i.primary_requests for i in intervals),
        sum(i.primary_failures for i in intervals),
    )


def evidence(
    intervals: list[Interval], config: SequentialConfig, *, decided_at: int | None
) -> dict[str, object]:
    n_c, f_c, n_p, f_p = totals(intervals)
    return {
        "test": "mixture-sprt",
        "intervals": len(intervals),
        "decidedAtInterval": decided_at,
        "canaryRequests": n_c,
        "canaryFailures": f_c,
        "primaryRequests": n_p,
        "primaryFailures": f_p,
        "canaryErrorRate": f_c / n_c if n_c > 0 else None,
        "primaryErrorRate": f_p / n_p if n_p > 0 else None,
        "falseRollbackRate": config.false_rollback_rate,
        "falsePromotionRate": config.false_promotion_rate,
        "minEffect": config.min_effect,
        "toleratedRatio": config.tolerated_ratio,
    }


def undecided(
    config: SequentialConfig, llr: float, mixed: float, intervals: list[Interval], reason: str
) -> SequentialResult:
    return SequentialResult(
        decision="continue",
        llr=llr,
        lower_bound=config.lower_bound,
        upper_bound=config.upper_bound,
        reason=reason,
        evidence=evidence(intervals, config, decided_at=None),
        mixture_llr=mixed,
    )


def rates_in_words(intervals: list[Interval]) -> str:
    n_c, f_c, n_p, f_p = totals(intervals)
    return (
        f"canary {format_number(f_c)}/{format_number(n_c)} failed, "
        f"primary {format_number(f_p)}/{format_number(n_p)}"
    )


def continue_reason(
    intervals: list[Interval], llr: float, mixed: float, config: SequentialConfig
) -> str:
    _, f_c, _, f_p = totals(intervals)
    if f_c + f_p == 0:
        return "no failures on either side yet, so no evidence either way; continue"
    return (
        f"inconclusive: LLR {format_number(llr)} > {format_number(config.lower_bound)} and "
        f"mixture LLR {format_number(mixed)} < {format_number(config.upper_bound)} "
        f"({rates_in_words(intervals)}); continue"
    )


def decided_reason(
    decision: Decision,
    intervals: list[Interval],
    llr: float,
    mixed: float,
    config: SequentialConfig,
) -> str:
    if decision == "regression":
        return (
            f"regression: the canary's error rate is conclusively above the primary's "
            f"(mixture LLR {format_number(mixed)} >= {format_number(config.upper_bound)} after "
            f"{len(intervals)} intervals; {rates_in_words(intervals)}; "
            f"false-rollback rate {format_number(config.false_rollback_rate)})"
        )
    return (
        f"no regression: an error-rate ratio of {format_number(config.min_effect)} or more is "
        f"ruled out (LLR {format_number(llr)} <= {format_number(config.lower_bound)} after "
        f"{len(intervals)} intervals; {rates_in_words(intervals)}; "
        f"false-promotion rate {format_number(config.false_promotion_rate)})"
    )


@dataclass(frozen=True)
class ExpectedSampleSize:
    """Wald's approximations for one true ratio: how long the test runs and how it ends."""

    failures: float
    """Expected number of failures (both sides together) until a decision."""
    requests: float
    """Expected number of requests (both sides together) until a decision."""
    canary_requests: float
    """The canary's share of those requests."""
    regression_probability: float
    """Probability that the test ends with "regression" (1 - Wald's OC function)."""


def expected_sample_size(
    baseline_error_rate: float,
    canary_weight: float,
    config: SequentialConfig = SequentialConfig(),
    *,
    ratio: float | None = None,
) -> ExpectedSampleSize:
    """Wald's expected sample size for a true error-rate ratio (default: config.min_effect).

    Ignores overshoot (decisions at interval ends only lengthen the test), so it is the
    theoretical lower bound a benchmark can compare against.
    """
    if not 0.0 < baseline_error_rate <= 1.0:
        raise ValueError(f"baseline_error_rate must be in (0, 1], got {baseline_error_rate}")
    if not 0.0 < canary_weight < 1.0:
        raise ValueError(f"canary_weight must be in (0, 1), got {canary_weight}")
    true_ratio = config.min_effect if ratio is None else ratio
    if true_ratio <= 0:
        raise ValueError(f"ratio must be > 0, got {true_ratio}")
    step_up, step_down = per_failure_steps(canary_weight, config)
    pi = float(canary_share_of_failures(true_ratio, canary_weight))
    accept_h0 = operating_characteristic(pi, step_up, step_down, config)
    failures = expected_failures(pi, step_up, step_down, accept_h0, config)
    failure_rate = baseline_error_rate * (canary_weight * true_ratio + (1 - canary_weight))
    requests = failures / failure_rate
    return ExpectedSampleSize(
        failures=failures,
        requests=requests,
        canary_requests=requests * canary_weight,
        regression_probability=1.0 - accept_h0,
    )


def per_failure_steps(canary_weight: float, config: SequentialConfig) -> tuple[float, float]:
    """The LLR step of one canary failure (> 0) and of one primary failure (< 0)."""
    pi0 = float(canary_share_of_failures(config.tolerated_ratio, canary_weight))
    pi1 = float(canary_share_of_failures(config.min_effect, canary_weight))
    return math.log(pi1 / pi0), math.log((1 - pi1) / (1 - pi0))


def operating_characteristic(
    pi: float, step_up: float, step_down: float, config: SequentialConfig
) -> float:
    """Wald's L: the probability of ending with "no_regression" when failures are the canary's
    with probability pi. Solves pi*e^(h*up) + (1-pi)*e^(h*down) = 1 for h != 0."""
    log_a, log_b = config.upper_bound, config.lower_bound
    drift = pi * step_up + (1 - pi) * step_down
    second_moment = pi * step_up**2 + (1 - pi) * step_down**2
    if abs(drift) < 1e-12 * second_moment:
        return log_a / (log_a - log_b)
    h = wald_exponent(pi, step_up, step_down, drift, second_moment)
    # L = (A^h - 1) / (A^h - B^h), written with logs to avoid overflow.
    return float(-math.expm1(h * log_a) / (math.exp(h * log_b) - math.exp(h * log_a)))


def wald_exponent(
    pi: float, step_up: float, step_down: float, drift: float, second_moment: float
) -> float:
    """The nonzero root h of E[exp(h * step)] = 1; its sign is opposite to the drift's."""

    def moment(h: float) -> float:
        return pi * math.exp(h * step_up) + (1 - pi) * math.exp(h * step_down) - 1.0

    direction = -1.0 if drift > 0 else 1.0
    # Near 0 the moment is about drift*h + second_moment*h^2/2 < 0, so |drift|/second_moment lies
    # between 0 and the root to second order; halve it if higher orders disagree.
    near = direction * abs(drift) / second_moment
    while moment(near) >= 0:
        near /= 2
    far = 2 * near
    while moment(far) < 0:
        far *= 2
    return float(optimize.brentq(moment, near, far, xtol=1e-14, rtol=1e-12))


def expected_failures(
    pi: float, step_up: float, step_down: float, accept_h0: float, config: SequentialConfig
) -> float:
    """Wald's E[N] = (L log B + (1 - L) log A) / E[step], or -log A log B / E[step^2] at 0 drift."""
    log_a, log_b = config.upper_bound, config.lower_bound
    drift = pi * step_up + (1 - pi) * step_down
    second_moment = pi * step_up**2 + (1 - pi) * step_down**2
    if abs(drift) < 1e-12 * second_moment:
        return -log_a * log_b / second_moment
    return (accept_h0 * log_b + (1 - accept_h0) * log_a) / drift
