"""Confidence intervals for reported accuracies.

- `mean_ci`: a metric measured once per seed, summarised as mean +- Student's t half-width:
  half = t_{(1+c)/2, n-1} * s / sqrt(n), s the sample standard deviation (ddof = 1). With one
  seed there is no spread to estimate, so the interval is NaN (reported as "n/a", never as 0).
- `wilson_interval`: the Wilson score interval of one accuracy k/n on a single run:
  centre = (p + z^2 / 2n) / (1 + z^2 / n),
  half = z * sqrt(p (1 - p) / n + z^2 / 4n^2) / (1 + z^2 / n), with p = k/n and z the normal
  quantile (1.96 for 95%). Unlike p +- z sqrt(p(1-p)/n) it stays inside [0, 1] and is not empty
  at p = 0 or 1.
- `median_ci`: the median of n measurements (the bench's per-round time ratios) with the
  distribution-free interval between two order statistics, [x_(k), x_(n+1-k)] (1-based, sorted): it
  misses the true median only when k - 1 or fewer of the n values fall on one side of it, so its
  coverage is 1 - 2 P(B <= k - 1) with B ~ Binomial(n, 1/2), whatever the distribution. The largest k
  whose coverage still reaches the asked confidence is taken, and the coverage reached is reported
  (14 values at 95%: k = 3, 98.7 %). Too few values for the asked confidence give NaN bounds.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from scipy import stats


@dataclass(frozen=True)
class MeanCI:
    """Mean with a two-sided confidence interval (`low`, `high`); NaN bounds when n < 2."""

    mean: float
    half_width: float
    low: float
    high: float
    n: int


def _check_sample(name: str, values: Sequence[float], confidence: float) -> None:
    if not values:
        raise ValueError(f"{name} needs at least one value")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence}")


def mean_ci(values: Sequence[float], confidence: float = 0.95) -> MeanCI:
    """Mean of per-seed values with a Student's t confidence interval."""
    _check_sample("mean_ci", values, confidence)
    n = len(values)
    mean = math.fsum(values) / n
    if n < 2:
        return MeanCI(mean, math.nan, math.nan, math.nan, n)
    variance = math.fsum((v - mean) ** 2 for v in values) / (n - 1)
    half = float(stats.t.ppf((1 + confidence) / 2, n - 1)) * math.sqrt(variance / n)
    return MeanCI(mean, half, mean - half, mean + half, n)


def wilson_interval(correct: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval (low, high) of the accuracy correct / n."""
    if n <= 0:
        raise ValueError(f"wilson_interval needs n > 0, got {n}")
    if not 0 <= correct <= n:
        raise ValueError(f"correct must lie in [0, n], got {correct} of {n}")
    z = float(stats.norm.ppf((1 + confidence) / 2))
    p = correct / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass(frozen=True)
class MedianCI:
    """Median with a distribution-free interval (`low`, `high`) that covers the true median with
    probability `coverage` (>= the confidence asked); NaN bounds when n is too small for it."""

    median: float
    low: float
    high: float
    coverage: float
    n: int


def median_ci(values: Sequence[float], confidence: float = 0.95) -> MedianCI:
    """Median of `values` with the order-statistic interval of the module notes."""
    _check_sample("median_ci", values, confidence)
    ordered = sorted(values)
    n = len(ordered)
    median = float(statistics.median(ordered))
    best = None
    for k in range(1, n // 2 + 1):
        coverage = 1.0 - 2.0 * float(stats.binom.cdf(k - 1, n, 0.5))
        if coverage < confidence:
            break
        best = (k, coverage)
    if best is None:
        return MedianCI(median, math.nan, math.nan, math.nan, n)
    k, coverage = best
    return MedianCI(median, ordered[k - 1], ordered[n - k], coverage, n)
