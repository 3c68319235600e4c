"""Is a difference between two variants' per-seed scores more than seed noise?

Two designs. Paired (seed i of both variants shares the initial weights of the common parts and
the data order, as in the ablations): the paired t-test on the per-seed differences and a
percentile bootstrap interval of their mean (seed pairs resampled). Independent: Welch's t-test
(unequal variances, Welch-Satterthwaite degrees of freedom, two-sided p) and a bootstrap interval
of the difference of means (seeds resampled within each variant). Each comparison also carries
the other design's p, for reference only.
Written out with the standard library and numpy so no statistics package is needed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


def _betacf(a: float, b: float, x: float) -> float:
    """Continued fraction of the incomplete beta function (modified Lentz)."""
    tiny, qab, qap, qam = 1e-300, a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 300):
        m2 = 2 * m
        for aa in (m * (b - m) * x / ((qam + m2) * (a + m2)),
                   -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))):
            d = 1.0 + aa * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + aa / c
            c = c if abs(c) > tiny else tiny
            h *= d * c
        if abs(d * c - 1.0) < 1e-14:
            break
    return h


def betainc(a: float, b: float, x: float) -> float:
    """Regularised incomplete beta I_x(a, b)."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    front = math.exp(math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b)
                     + a * math.log(x) + b * math.log1p(-x))
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _betacf(a, b, x) / a
    return 1.0 - front * _betacf(b, a, 1.0 - x) / b


def t_two_sided_p(t: float, df: float) -> float:
    """P(|T| >= |t|) for Student's t with df degrees of freedom."""
    if math.isnan(t) or df <= 0:
        return math.nan
    return betainc(df / 2.0, 0.5, df / (df + t * t))


@dataclass(frozen=True)
class Comparison:
    a: str
    b: str
    mean_diff: float  # mean(a) - mean(b)
    t: float
    df: float
    p: float
    ci_low: float  # bootstrap 95 % interval of the difference
    ci_high: float
    n_a: int
    n_b: int
    other_p: float = math.nan  # the other design's test (supporting, not the verdict)
    detectable: float = math.nan  # difference found with 80 % power at this spread and n
    test: str = "Welch"  # the test behind t, df, p and the verdict: "paired" or "Welch"


    def significant(self, alpha: float = 0.05) -> bool:
        return bool(self.p < alpha and (self.ci_low > 0 or self.ci_high < 0))


def welch(a: Sequence[float], b: Sequence[float]) -> tuple[float, float, float]:
    """(t, df, two-sided p) of Welch's test of mean(a) != mean(b)."""
    x, y = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if x.size < 2 or y.size < 2:
        return math.nan, math.nan, math.nan
    va, vb = x.var(ddof=1) / x.size, y.var(ddof=1) / y.size
    if va + vb == 0:
        return (math.inf if x.mean() != y.mean() else 0.0), math.inf, (
            0.0 if x.mean() != y.mean() else 1.0)
    t = (x.mean() - y.mean()) / math.sqrt(va + vb)
    df = (va + vb) ** 2 / (va**2 / (x.size - 1) + vb**2 / (y.size - 1))
    return float(t), float(df), t_two_sided_p(float(t), float(df))


def paired(a: Sequence[float], b: Sequence[float]) -> tuple[float, float, float]:
    """(t, df, two-sided p) of the paired t-test on per-seed differences a_i - b_i (seed i of
    both variants shares the initial weights of the common parts and the data order)."""
    if len(a) != len(b) or len(a) < 2:  # unequal runs cannot be paired
        return math.nan, math.nan, math.nan
    d = np.asarray(a, np.float64) - np.asarray(b, np.float64)
    sd = d.std(ddof=1)
    if sd == 0:
        return (math.inf if d.mean() else 0.0), float(d.size - 1), 0.0 if d.mean() else 1.0
    t = float(d.mean() / (sd / math.sqrt(d.size)))
    return t, float(d.size - 1), t_two_sided_p(t, float(d.size - 1))


def bootstrap_ci(a: Sequence[float], b: Sequence[float], reps: int = 10000, seed: int = 0,
                 level: float = 0.95) -> tuple[float, float]:
    rng = np.random.default_rng(seed)
    x, y = np.asarray(a, np.float64), np.asarray(b, np.float64)
    da = x[rng.integers(0, x.size, (reps, x.size))].mean(1)
    db = y[rng.integers(0, y.size, (reps, y.size))].mean(1)
    lo, hi = np.quantile(da - db, [(1 - level) / 2, (1 + level) / 2])
    return float(lo), float(hi)


def bootstrap_paired_ci(a: Sequence[float], b: Sequence[float], reps: int = 10000,
                        seed: int = 0, level: float = 0.95) -> tuple[float, float]:
    """Percentile interval of the mean per-seed difference, seed pairs resampled together."""
    d = np.asarray(a, np.float64) - np.asarray(b, np.float64)
    means = d[np.random.default_rng(seed).integers(0, d.size, (reps, d.size))].mean(1)
    lo, hi = np.quantile(means, [(1 - level) / 2, (1 + level) / 2])
    return float(lo), float(hi)


def detectable_difference(a: Sequence[float], b: Sequence[float]) -> float:
    """Smallest true difference a two-sided 5 % test finds with 80 % power at the observed
    spread and seed counts (normal approximation: (1.960 + 0.842) x standard error)."""
    x, y = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if x.size < 2 or y.size < 2:
        return math.nan
    return float(2.802 * math.sqrt(x.var(ddof=1) / x.size + y.var(ddof=1) / y.size))


def compare(name_a: str, a: Sequence[float], name_b: str, b: Sequence[float],
            paired_by_seed: bool = False) -> Comparison:
    """`paired_by_seed`: a[i] and b[i] come from the same seed (a paired design), so the verdict
    uses the paired test; otherwise Welch's."""
    diff = float(np.mean(a) - np.mean(b))
    if paired_by_seed and len(a) == len(b) >= 2:
        t, df, p = paired(a, b)
        lo, hi = bootstrap_paired_ci(a, b)
        d = np.asarray(a, np.float64) - np.asarray(b, np.float64)
        detectable = float(2.802 * d.std(ddof=1) / math.sqrt(d.size))
        return Comparison(name_a, name_b, diff, t, df, p, lo, hi, len(a), len(b),
                          welch(a, b)[2], detectable, "paired")
    t, df, p = welch(a, b)
    lo, hi = bootstrap_ci(a, b)
    return Comparison(name_a, name_b, diff, t, df, p, lo, hi, len(a), len(b),
                      paired(a, b)[2], detectable_difference(a, b))
