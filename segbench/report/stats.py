"""Seed statistics: mean, sample standard deviation, count and a Student-t 95% confidence interval."""

import math
import statistics
from dataclasses import dataclass

import numpy as np
from scipy import stats


@dataclass(frozen=True)
class Summary:
    """Statistics of one quantity over seeds; missing values (None, NaN) are left out."""

    mean: float | None
    std: float | None          # sample std (ddof=1); None for fewer than two values
    n: int

    @property
    def ci95(self) -> tuple[float, float] | None:
        """Two-sided 95% interval of the mean, mean ± t(0.975, n-1) · std / sqrt(n); None for n < 2."""
        if self.std is None:
            return None
        half = float(stats.t.ppf(0.975, self.n - 1)) * self.std / math.sqrt(self.n)
        return self.mean - half, self.mean + half


def summarise(values: list[float | None]) -> Summary:
    xs = np.array([v for v in values if v is not None and not math.isnan(v)], dtype=float)
    if xs.size == 0:
        return Summary(None, None, 0)
    # statistics.stdev sums in exact fractions: identical values give 0.0, where numpy's rounded mean leaves ~1e-17
    std = statistics.stdev(xs.tolist()) if xs.size > 1 else None
    return Summary(float(xs.mean()), std, int(xs.size))


def paired_differences(before: dict[int, float | None], after: dict[int, float | None]) -> Summary:
    """after − before over the seeds both have (e.g. the same checkpoint with and without CRF)."""
    seeds = sorted(s for s in set(before) & set(after) if before[s] is not None and after[s] is not None)
    return summarise([after[s] - before[s] for s in seeds])
