"""The Mann-Whitney U (Wilcoxon rank-sum) test as R's wilcox.test(x, y, conf.int=TRUE, exact=FALSE).

x is the experiment (canary) and y the control (baseline), as in Kayenta, so a positive shift
means the canary is larger. Everything follows R's asymptotic branch: the normal approximation
with tie and continuity corrections for the p-value, the confidence interval found by inverting
that statistic over the shift d with a root finder, and the Hodges-Lehmann estimate as the root
at z = 0 *without* the continuity correction (R sets correct <- FALSE before that uniroot call;
Kayenta's port keeps the correction, which moves the estimate by at most one step).

When even complete separation of the samples cannot reach the requested confidence, R falls
back to the ends of the search range and warns "requested conf.level not achievable"; that range
is not a confidence interval, so ``interval_achieved`` says whether it is one, and
``exact_min_p_value`` / ``minimum_sample_size`` say how small a sample is too small whatever the
data (the exact null distribution of W, Mann and Whitney 1947).

R's uniroot stops at an absolute tolerance of 1e-4, which is noise for metrics measured in
1e-3..1e-5 (Kayenta's "Problem Case"). ``RootFinder(exact=True)`` returns the exact jump of the
step function instead (``steproot``), whatever the data's scale; the default reproduces R.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import stats

from canary.analysis.steproot import step_root

FloatArray = NDArray[np.float64]

R_UNIROOT_TOLERANCE = 1e-4
R_UNIROOT_MAXITER = 1000


class MannWhitneyError(ValueError):
    """The test cannot be computed (too few observations, or every observation tied)."""


@dataclass(frozen=True)
class RootFinder:
    """How the interval and estimate roots are found.

    The default is R's uniroot: Brent's zeroin with an absolute tolerance of 1e-4, whose answer
    lies within that tolerance of the statistic's jump. ``exact`` returns the jump itself (a
    pairwise difference x_i - y_j), or the midpoint of a plateau where the statistic is exactly 0,
    so tiny metrics get roots as precise as large ones.
    """

    tolerance: float = R_UNIROOT_TOLERANCE
    max_iterations: int = R_UNIROOT_MAXITER
    exact: bool = False

    def solve(
        self,
        f: Callable[[float], float],
        x: FloatArray,
        y: FloatArray,
        bracket: tuple[float, float, float, float],
    ) -> float:
        """The root of f in [lower, upper], given (lower, upper, f(lower), f(upper))."""
        lower, upper, f_lower, f_upper = bracket
        if f_lower == 0.0:
            return lower
        if f_upper == 0.0:
            return upper
        if self.exact:
            return step_root(f, x, y, lower, upper)
        return zeroin(
            f,
            lower,
            upper,
            f_lower,
            f_upper,
            tolerance=self.tolerance,
            max_iterations=self.max_iterations,
        )


R_ROOT_FINDER = RootFinder()
SCALE_AWARE_ROOT_FINDER = RootFinder(exact=True)


@dataclass(frozen=True)
class MannWhitneyResult:
    """The test's numbers. ``statistic`` is R's W (the U of x); the interval is for mean(x)-mean(y)."""

    statistic: float
    z: float
    p_value: float
    interval: tuple[float, float]
    estimate: float
    confidence: float
    n_experiment: int
    n_control: int
    interval_achieved: bool = True
    """False when an end is R's fallback (the search range): the confidence is not reachable."""

    def to_evidence(self) -> dict[str, object]:
        return {
            "test": "mann-whitney",
            "w": self.statistic,
            "z": self.z,
            "pValue": self.p_value,
            "interval": list(self.interval),
            "estimate": self.estimate,
            "confidence": self.confidence,
            "experimentSize": self.n_experiment,
            "controlSize": self.n_control,
            "intervalAchieved": self.interval_achieved,
            "minExactPValue": exact_min_p_value(self.n_experiment, self.n_control),
        }


def wilcox_test(
    experiment: Sequence[float] | FloatArray,
    control: Sequence[float] | FloatArray,
    *,
    confidence: float = 0.95,
    root_finder: RootFinder = R_ROOT_FINDER,
    estimate_correction: bool = False,
) -> MannWhitneyResult:
    """Two-sided test of a location shift between experiment (x) and control (y).

    ``estimate_correction=True`` keeps the continuity correction for the estimate, as Kayenta's
    Scala port does; R (the default) drops it.
    """
    x = as_sample(experiment, "experiment")
    y = as_sample(control, "control")
    if not 0.0 < confidence < 1.0:
        raise MannWhitneyError(f"confidence must be in (0, 1), got {confidence}")
    statistic, z = standardized_statistic(x, y)
    p_value = two_sided_p_value(z)
    interval, achieved = confidence_interval(x, y, confidence, root_finder)
    estimate = hodges_lehmann_estimate(x, y, root_finder, correct=estimate_correction)
    return MannWhitneyResult(
        statistic=statistic,
        z=z,
        p_value=p_value,
        interval=interval,
        estimate=estimate,
        confidence=confidence,
        n_experiment=len(x),
        n_control=len(y),
        interval_achieved=achieved,
    )


def exact_min_p_value(n_x: int, n_y: int) -> float:
    """The smallest two-sided p-value the exact rank-sum test can give for n_x against n_y.

    Under the null hypothesis every split of the n_x + n_y ranks is equally likely; the most
    extreme outcomes (all of x above all of y, or all below) have probability 1 / C(n, n_x) each,
    so p >= 2 / C(n, n_x) (capped at 1). Ties only make the distribution coarser. 3 against 3
    gives 0.1: no 90%-or-higher interval can exclude 0.
    """
    if n_x <= 0 or n_y <= 0:
        return 1.0
    return min(1.0, 2.0 / math.comb(n_x + n_y, n_x))


def reaches(confidence: float, n_x: int, n_y: int) -> bool:
    """Whether n_x against n_y points can reach `confidence` (two-sided) with the exact test."""
    # The tolerance keeps 1 - 0.9 (0.0999...98 in binary) from refusing a p of exactly 0.1.
    return exact_min_p_value(n_x, n_y) <= 1.0 - confidence + 1e-12


def minimum_sample_size(confidence: float) -> int:
    """The fewest points a side (equal sizes) for which `confidence` is reachable: 3 for 0.9,
    4 for 0.95, 5 for 0.98 and 0.99, 6 for 0.995, 7 for 0.999."""
    if not 0.0 < confidence < 1.0:
        raise MannWhitneyError(f"confidence must be in (0, 1), got {confidence}")
    n = 1
    while not reaches(confidence, n, n):
        n += 1
    return n


def minimum_other_size(n: int, confidence: float) -> int | None:
    """With n points on one side, the fewest on the other for which `confidence` is reachable
    (None when more than 10,000 would be needed)."""
    for other in range(1, 10_001):
        if reaches(confidence, n, other):
            return other
    return None


def as_sample(values: Sequence[float] | FloatArray, label: str) -> FloatArray:
    sample = np.asarray(values, dtype=np.float64)
    if sample.ndim != 1 or sample.size == 0:
        raise MannWhitneyError(f"not enough {label} observations")
    if not np.all(np.isfinite(sample)):
        raise MannWhitneyError(f"{label} observations must be finite")
    return sample


def rank_sum_shift(x: FloatArray, y: FloatArray, shift: float) -> tuple[float, float]:
    """W(d) - E[W] and the tie-corrected sd of W, for the sample x - d against y."""
    n_x, n_y = float(len(x)), float(len(y))
    ranks = stats.rankdata(np.concatenate((x - shift, y)))  # average ranks for ties, as R's rank()
    centred = float(ranks[: len(x)].sum()) - n_x * (n_x + 1) / 2 - n_x * n_y / 2
    _, tie_counts = np.unique(ranks, return_counts=True)
    tie_term = float(np.sum(tie_counts.astype(np.float64) ** 3 - tie_counts))
    n = n_x + n_y
    variance = (n_x * n_y / 12) * ((n + 1) - tie_term / (n * (n - 1)))
    return centred, math.sqrt(max(variance, 0.0))


def standardized_statistic(x: FloatArray, y: FloatArray) -> tuple[float, float]:
    """R's W and its continuity-corrected z; z is NaN when every observation is tied."""
    centred, sigma = rank_sum_shift(x, y, 0.0)
    statistic = centred + len(x) * len(y) / 2
    if sigma == 0.0:
        return statistic, math.nan
    return statistic, (centred - math.copysign(0.5, centred) * (centred != 0)) / sigma


def two_sided_p_value(z: float) -> float:
    if math.isnan(z):
        return math.nan
    return float(min(1.0, 2 * stats.norm.sf(abs(z))))


def wdiff(x: FloatArray, y: FloatArray, shift: float, zq: float, *, correct: bool) -> float:
    """R's wdiff: the standardized statistic of x - shift against y, minus the quantile zq."""
    centred, sigma = rank_sum_shift(x, y, shift)
    if sigma == 0.0:
        raise MannWhitneyError("cannot compute confidence interval when all observations are tied")
    correction = math.copysign(0.5, centred) * (centred != 0) if correct else 0.0
    return (centred - correction) / sigma - zq


def confidence_interval(
    x: FloatArray, y: FloatArray, confidence: float, root_finder: RootFinder
) -> tuple[tuple[float, float], bool]:
    """The shifts at which the statistic crosses +z and -z, z = qnorm(1 - alpha/2), and whether
    both were found (False: an end is R's fallback to the search range)."""
    z = float(stats.norm.ppf(1 - (1 - confidence) / 2))
    lower, lower_found = interval_root(x, y, z, root_finder)
    upper, upper_found = interval_root(x, y, -z, root_finder)
    return (lower, upper), lower_found and upper_found


def search_range(x: FloatArray, y: FloatArray) -> tuple[float, float]:
    return float(x.min() - y.max()), float(x.max() - y.min())


def interval_root(
    x: FloatArray, y: FloatArray, zq: float, root_finder: RootFinder
) -> tuple[float, bool]:
    """R's root(zq): an end of the search range when the statistic does not cross zq inside it,
    else uniroot's root; and whether the crossing exists at all.

    At an end of the range one pair is tied; past it the samples are completely separated and
    the statistic is at its extreme. When even that extreme does not pass zq, the end is only R's
    fallback (its warning "requested conf.level not achievable"), and False says so.
    """
    lower, upper = search_range(x, y)
    beyond = max(1.0, upper - lower)
    f_lower = wdiff(x, y, lower, zq, correct=True)
    if f_lower <= 0:
        return lower, wdiff(x, y, lower - beyond, zq, correct=True) > 0
    f_upper = wdiff(x, y, upper, zq, correct=True)
    if f_upper >= 0:
        return upper, wdiff(x, y, upper + beyond, zq, correct=True) < 0
    root = root_finder.solve(
        lambda d: wdiff(x, y, d, zq, correct=True), x, y, (lower, upper, f_lower, f_upper)
    )
    return root, True


def hodges_lehmann_estimate(
    x: FloatArray, y: FloatArray, root_finder: RootFinder, *, correct: bool = False
) -> float:
    """The shift where the uncorrected statistic is 0 (R: correct <- FALSE, uniroot at zq = 0)."""
    lower, upper = search_range(x, y)

    def statistic(d: float) -> float:
        return wdiff(x, y, d, 0.0, correct=correct)

    f_lower, f_upper = statistic(lower), statistic(upper)
    if f_lower * f_upper > 0:  # cannot happen for finite data; R's uniroot would stop here too
        raise MannWhitneyError("f() values at end points not of opposite sign")
    return root_finder.solve(statistic, x, y, (lower, upper, f_lower, f_upper))


def zeroin(
    f: Callable[[float], float],
    a: float,
    b: float,
    fa: float,
    fb: float,
    *,
    tolerance: float,
    max_iterations: int,
) -> float:
    """Brent's zeroin, step for step as R's R_zeroin2 (the root finder behind uniroot).

    Matching R's iterates matters: wdiff is a step function, so a different root finder stops at
    a different point of the same step and the interval differs by up to the tolerance.
    """
    if fa == 0.0:
        return a
    if fb == 0.0:
        return b
    c, fc = a, fa
    eps = np.finfo(np.float64).eps
    for _ in range(max_iterations + 1):
        previous_step = b - a
        if abs(fc) < abs(fb):
            # Keep b the best approximation, with c on the other side of the root.
            a, b, c = b, c, b
            fa, fb, fc = fb, fc, fb
        tol_act = 2 * eps * abs(b) + tolerance / 2
        new_step = (c - b) / 2
        if abs(new_step) <= tol_act or fb == 0.0:
            return b
        if abs(previous_step) >= tol_act and abs(fa) > abs(fb):
            new_step = interpolation_step(a, b, c, fa, fb, fc, new_step, previous_step, tol_act)
        if abs(new_step) < tol_act:
            new_step = tol_act if new_step > 0 else -tol_act
        a, fa = b, fb
        b += new_step
        fb = f(b)
        if (fb > 0 and fc > 0) or (fb < 0 and fc < 0):
            c, fc = a, fa
    return b


def interpolation_step(
    a: float,
    b: float,
    c: float,
    fa: float,
    fb: float,
    fc: float,
    bisection_step: float,
    previous_step: float,
    tol_act: float,
) -> float:
    """Secant or inverse quadratic step if it stays inside [b, c] and shrinks fast enough."""
    cb = c - b
    if a == c:
        t1 = fb / fa
        p = cb * t1
        q = 1.0 - t1
    else:
        q, t1, t2 = fa / fc, fb / fc, fb / fa
        p = t2 * (cb * q * (q - t1) - (b - a) * (t1 - 1.0))
        q = (q - 1.0) * (t1 - 1.0) * (t2 - 1.0)
    if p > 0:
        q = -q
    else:
        p = -p
    if p < (0.75 * cb * q - abs(tol_act * q) / 2) and p < abs(previous_step * q / 2):
        return p / q
    return bisection_step
