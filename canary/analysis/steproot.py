"""The exact root of the rank statistic as a function of the shift, without a tolerance.

As a function of the shift d, the rank statistic of x - d against y only changes where d crosses a
pairwise difference x_i - y_j; between two consecutive differences it is constant (a plateau),
and the plateau values fall as d grows. R's uniroot homes in on the jump where the statistic
changes sign and stops within 1e-4 of it. This module returns the jump itself (or, when a plateau
is exactly 0, as the uncorrected estimate can be, that plateau's midpoint), so the answer does not
depend on the data's scale. It never materialises all n_x * n_y differences: bisection narrows
the bracket until few differences remain, then a binary search runs over their plateaus.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]

MAX_BISECTIONS = 200


def step_root(
    f: Callable[[float], float], x: FloatArray, y: FloatArray, lower: float, upper: float
) -> float:
    """The shift where f, positive at ``lower`` and negative at ``upper``, turns non-positive."""
    sorted_y = np.sort(y)
    a, b = lower, upper
    limit = 4 * (x.size + y.size)
    for _ in range(MAX_BISECTIONS):
        if pair_count(x, sorted_y, a, b) <= limit:
            break
        middle = a + (b - a) / 2
        if not a < middle < b:
            break  # the bracket is down to adjacent floats; the remaining pairs are all equal
        value = f(middle)
        if value == 0.0:
            return zero_plateau_midpoint(x, sorted_y, middle)
        a, b = (middle, b) if value > 0 else (a, middle)
    root = root_among_plateaus(f, differences_between(x, sorted_y, a, b), a, b)
    return snap_to_difference(x, sorted_y, root)


def pair_count(x: FloatArray, sorted_y: FloatArray, a: float, b: float) -> int:
    """How many pairs have a < x_i - y_j <= b, i.e. x_i - b <= y_j < x_i - a."""
    starts, stops = bounds(x, sorted_y, a, b)
    return int(np.sum(stops - starts))


def bounds(
    x: FloatArray, sorted_y: FloatArray, a: float, b: float
) -> tuple[NDArray[np.intp], NDArray[np.intp]]:
    return (
        np.searchsorted(sorted_y, x - b, side="left"),
        np.searchsorted(sorted_y, x - a, side="left"),
    )


def differences_between(x: FloatArray, sorted_y: FloatArray, a: float, b: float) -> FloatArray:
    """The distinct differences x_i - y_j in (a, b], sorted."""
    starts, stops = bounds(x, sorted_y, a, b)
    pieces = [xi - sorted_y[start:stop] for xi, start, stop in zip(x, starts, stops, strict=True)]
    values = np.concatenate(pieces) if pieces else np.empty(0)
    return np.unique(values[(values > a) & (values <= b)])


def root_among_plateaus(
    f: Callable[[float], float], jumps: FloatArray, a: float, b: float
) -> float:
    """Binary search over the plateaus between a, the jumps and b for the first value <= 0."""
    edges = np.concatenate(([a], jumps[jumps < b], [b]))
    low, high = 0, edges.size - 2  # plateau k lies between edges[k] and edges[k + 1]
    first_non_positive = edges.size - 1  # past the last plateau: the root is b itself
    while low <= high:
        k = (low + high) // 2
        value = f(edges[k] + (edges[k + 1] - edges[k]) / 2)
        if value == 0.0:
            return float(edges[k] + (edges[k + 1] - edges[k]) / 2)
        if value < 0:
            first_non_positive, high = k, k - 1
        else:
            low = k + 1
    return float(edges[first_non_positive])


def snap_to_difference(x: FloatArray, sorted_y: FloatArray, root: float) -> float:
    """A bisection point within rounding error of a jump is that jump (e.g. -2e-16 is 0)."""
    positions = np.searchsorted(sorted_y, x - root)
    nearest = [
        xi - sorted_y[j]
        for xi, p in zip(x, positions, strict=True)
        for j in (p - 1, p)
        if 0 <= j < sorted_y.size
    ]
    if not nearest:
        return root
    closest = float(min(nearest, key=lambda c: abs(c - root)))
    rounding = 8 * np.finfo(np.float64).eps * (np.abs(x).max() + np.abs(sorted_y).max())
    return closest if abs(closest - root) <= rounding else root


def zero_plateau_midpoint(x: FloatArray, sorted_y: FloatArray, inside: float) -> float:
    """The midpoint of the plateau around ``inside``: between the nearest differences."""
    below = np.searchsorted(sorted_y, x - inside, side="left")  # first y_j >= x_i - inside
    above = np.searchsorted(sorted_y, x - inside, side="right") - 1  # last y_j <= x_i - inside
    left = [xi - sorted_y[j] for xi, j in zip(x, below, strict=True) if j < sorted_y.size]
    right = [xi - sorted_y[j] for xi, j in zip(x, above, strict=True) if j >= 0]
    start = max(left) if left else inside
    stop = min(right) if right else inside
    return float(start + (stop - start) / 2)
