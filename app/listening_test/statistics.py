"""The statistics of a listening test, exact and without scipy (a test-only dependency).

* ABX: the one-sided exact binomial tail -- the chance of at least ``k`` right answers in ``n``
  trials by guessing -- summed with :func:`math.comb` in integers, so it is exact for p = 1/2.
* MUSHRA: mean and 95 % confidence interval per contestant from Student's t distribution, whose
  quantile comes from the regularised incomplete beta function (a continued fraction evaluated
  with the modified Lentz method) and bisection on the distribution function.
* Post-screening (ITU-R BS.1534-3, 4.1.2): an assessor who rates the hidden reference below 90
  in more than 15 % of the trials is excluded; the exclusion is reported, never silent.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

SCREENING_MIN_REFERENCE = 90.0
SCREENING_MAX_SHARE = 0.15
_CF_EPSILON = 1e-16
_CF_TINY = 1e-300


def binomial_tail(k: int, n: int, p: float | Fraction = Fraction(1, 2)) -> float:
    """P(X >= k) for X ~ Binomial(n, p): the one-sided p-value of ``k`` right answers in ``n``."""
    if n < 0 or not 0 <= p <= 1:
        raise ValueError(f"need n >= 0 and 0 <= p <= 1, got n={n}, p={p}")
    k = max(0, k)
    p = Fraction(p)
    tail = sum(math.comb(n, i) * p ** i * (1 - p) ** (n - i) for i in range(k, n + 1))
    return float(tail)


def _beta_continued_fraction(a: float, b: float, x: float) -> float:
    """The continued fraction of the incomplete beta function (modified Lentz evaluation)."""
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1.0)
    d = 1.0 / (d if abs(d) > _CF_TINY else _CF_TINY)
    result = d
    for m in range(1, 10_000):
        for numerator in (m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
                          -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))):
            d = 1.0 + numerator * d
            d = 1.0 / (d if abs(d) > _CF_TINY else _CF_TINY)
            c = 1.0 + numerator / c
            c = c if abs(c) > _CF_TINY else _CF_TINY
            result *= c * d
        if abs(c * d - 1.0) < _CF_EPSILON:
            return result
    raise ArithmeticError(f"the incomplete beta fraction did not converge for a={a}, b={b}, x={x}")


def regularized_incomplete_beta(a: float, b: float, x: float) -> float:
    """I_x(a, b), the distribution function of Beta(a, b) at ``x``."""
    if not 0.0 <= x <= 1.0:
        raise ValueError(f"x must be in [0, 1], got {x}")
    if x in (0.0, 1.0):
        return x
    log_front = a * math.log(x) + b * math.log1p(-x) - (math.lgamma(a) + math.lgamma(b) - math.lgamma(a + b))
    if x < (a + 1.0) / (a + b + 2.0):  # where the fraction converges fast; else use the symmetry
        return math.exp(log_front) * _beta_continued_fraction(a, b, x) / a
    return 1.0 - math.exp(log_front) * _beta_continued_fraction(b, a, 1.0 - x) / b


def t_cdf(t: float, dof: float) -> float:
    """P(T <= t) for Student's t with ``dof`` degrees of freedom."""
    upper = 0.5 * regularized_incomplete_beta(dof / 2.0, 0.5, dof / (dof + t * t))
    return 1.0 - upper if t >= 0 else upper


def t_quantile(probability: float, dof: float) -> float:
    """The ``probability`` quantile of Student's t, by bisection on :func:`t_cdf` to full precision."""
    if not 0.0 < probability < 1.0 or dof <= 0:
        raise ValueError(f"need 0 < probability < 1 and dof > 0, got {probability}, {dof}")
    if probability < 0.5:
        return -t_quantile(1.0 - probability, dof)
    low, high = 0.0, 1.0
    while t_cdf(high, dof) < probability:
        low, high = high, high * 2.0
    for _ in range(200):
        middle = 0.5 * (low + high)
        if middle in (low, high):
            break
        low, high = (middle, high) if t_cdf(middle, dof) < probability else (low, middle)
    return 0.5 * (low + high)


@dataclass(frozen=True)
class Interval:
    """Mean of ``count`` scores and its confidence interval (``half_width`` None below two scores)."""

    mean: float
    half_width: float | None
    count: int


def mean_interval(scores: Sequence[float], confidence: float = 0.95) -> Interval:
    """Mean and two-sided t confidence interval of ``scores`` (sample standard deviation)."""
    n = len(scores)
    if n == 0:
        raise ValueError("no scores to summarise")
    mean = math.fsum(scores) / n
    if n < 2:
        return Interval(mean, None, n)
    variance = math.fsum((s - mean) ** 2 for s in scores) / (n - 1)
    quantile = t_quantile(0.5 + confidence / 2.0, n - 1)
    return Interval(mean, quantile * math.sqrt(variance / n), n)


@dataclass(frozen=True)
class Screening:
    """Post-screening of one assessor: trials with the hidden reference below 90, and the verdict."""

    listener: str
    low_reference_trials: int
    trials: int

    @property
    def share(self) -> float:
        return self.low_reference_trials / self.trials if self.trials else 0.0

    @property
    def excluded(self) -> bool:
        return self.share > SCREENING_MAX_SHARE


def screen(listener: str, hidden_reference_scores: Sequence[float]) -> Screening:
    """BS.1534-3 post-screening of one assessor from their hidden-reference ratings, one per trial."""
    low = sum(1 for score in hidden_reference_scores if score < SCREENING_MIN_REFERENCE)
    return Screening(listener, low, len(hidden_reference_scores))
