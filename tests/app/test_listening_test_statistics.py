"""The listening test's statistics: exact binomial tails, Student's t, and BS.1534-3 post-screening,
checked against hand-computed values and against scipy (a test-only dependency)."""
import math

import pytest
from scipy import special, stats

from app.listening_test.statistics import (binomial_tail, mean_interval, regularized_incomplete_beta, screen,
                                           t_cdf, t_quantile)


def test_binomial_tail_of_eight_right_in_ten_is_56_in_1024():
    # C(10,8) + C(10,9) + C(10,10) = 45 + 10 + 1 outcomes of 2^10
    assert binomial_tail(8, 10) == 56 / 1024


def test_binomial_tail_edges():
    assert binomial_tail(0, 12) == 1.0
    assert binomial_tail(12, 12) == 0.5 ** 12
    assert binomial_tail(13, 12) == 0.0


@pytest.mark.parametrize("n", [1, 5, 16, 40, 100])
def test_binomial_tail_equals_scipy(n):
    for k in range(n + 1):
        assert binomial_tail(k, n) == pytest.approx(stats.binom.sf(k - 1, n, 0.5), rel=1e-12, abs=1e-300)


def test_incomplete_beta_equals_scipy():
    for a in (0.5, 1.0, 2.5, 15.0, 60.0):
        for b in (0.5, 1.0, 3.0, 40.0):
            for x in (0.001, 0.1, 0.37, 0.5, 0.8, 0.999):
                assert regularized_incomplete_beta(a, b, x) == pytest.approx(special.betainc(a, b, x), rel=1e-11, abs=1e-14)


@pytest.mark.parametrize("dof", [1, 2, 3, 4, 7, 12, 29, 60, 250])
def test_t_quantiles_equal_scipy(dof):
    for p in (0.6, 0.9, 0.95, 0.975, 0.995, 0.025):
        assert t_quantile(p, dof) == pytest.approx(stats.t.ppf(p, dof), rel=1e-10)
    assert t_cdf(1.3, dof) == pytest.approx(stats.t.cdf(1.3, dof), rel=1e-12)


def test_t_interval_of_three_scores_by_hand():
    # mean 70, sample standard deviation 10, t(0.975, 2) = 4.302652729749464 (table: 4.303)
    interval = mean_interval([60.0, 70.0, 80.0])
    assert interval.mean == 70.0 and interval.count == 3
    assert interval.half_width == pytest.approx(4.302652729749464 * 10 / math.sqrt(3), rel=1e-12)
    low, high = stats.t.interval(0.95, 2, loc=70.0, scale=10 / math.sqrt(3))
    assert interval.half_width == pytest.approx((high - low) / 2, rel=1e-12)


def test_one_score_has_a_mean_but_no_interval():
    interval = mean_interval([42.0])
    assert (interval.mean, interval.half_width, interval.count) == (42.0, None, 1)


def test_post_screening_excludes_only_beyond_fifteen_percent():
    # 3 of 20 trials below 90 is exactly 15 %: kept; 4 of 20 (20 %) excluded; 89.9 counts as below, 90 does not
    kept = screen("kept", [89.9, 50, 10] + [90] * 17)
    excluded = screen("excluded", [89.9, 50, 10, 0] + [100] * 16)
    assert (kept.low_reference_trials, kept.share, kept.excluded) == (3, 0.15, False)
    assert (excluded.low_reference_trials, excluded.share, excluded.excluded) == (4, 0.2, True)
    assert screen("one bad trial of six", [100, 100, 85, 100, 100, 100]).excluded  # 16.7 %
