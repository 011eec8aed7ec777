"""Kayenta's preprocessing of a metric's samples: the NaN strategy and IQR outlier removal."""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]

OUTLIER_FACTOR = 3.0


class NanStrategy(StrEnum):
    """remove drops NaN samples (Kayenta's default); replace turns them into 0 (counts)."""

    REMOVE = "remove"
    REPLACE = "replace"


class OutlierStrategy(StrEnum):
    KEEP = "keep"
    REMOVE = "remove"


def handle_nans(values: Sequence[float] | FloatArray, strategy: NanStrategy) -> FloatArray:
    """Apply the NaN strategy; infinities are treated as NaN because no test can rank them."""
    samples = np.asarray(values, dtype=np.float64).reshape(-1)
    finite = np.isfinite(samples)
    if strategy is NanStrategy.REPLACE:
        return np.where(finite, samples, 0.0)
    return samples[finite]


def outlier_fences(samples: FloatArray, factor: float = OUTLIER_FACTOR) -> tuple[float, float]:
    """Kayenta's IQR fences with reduced sensitivity: the wider of Q1/Q3 -/+ f*IQR and P1/P99.

    Percentiles are R's type 7, numpy's default linear interpolation.
    """
    p1, q1, q3, p99 = np.percentile(samples, [1, 25, 75, 99])
    iqr = q3 - q1
    return float(min(p1, q1 - factor * iqr)), float(max(p99, q3 + factor * iqr))


def remove_outliers(samples: FloatArray, factor: float = OUTLIER_FACTOR) -> FloatArray:
    """Drop samples strictly outside the fences; an empty sample stays empty."""
    if samples.size == 0:
        return samples
    lower, upper = outlier_fences(samples, factor)
    return samples[(samples >= lower) & (samples <= upper)]


def preprocess(
    values: Sequence[float] | FloatArray, nans: NanStrategy, outliers: OutlierStrategy
) -> FloatArray:
    """NaN handling, then (optionally) outlier removal, in Kayenta's order."""
    samples = handle_nans(values, nans)
    if outliers is OutlierStrategy.REMOVE:
        return remove_outliers(samples)
    return samples
