from __future__ import annotations

import numpy as np
import pytest

from auditor import stats

INF, NAN = np.inf, np.nan


def test_summary_counts_censored_as_larger_and_excludes_changed():
    s = stats.summary(np.array([1.0, 2.0, NAN, NAN]), np.array([False, False, True, False]))
    assert s == {"mean_delta_z": 1.5, "median_delta_z": 2.0, "n_observed": 2, "n_censored": 1}


def test_sign_test_drops_ties_and_excluded_pairs():
    a = np.array([2.0, 2.0, 2.0, 1.0, INF, INF, NAN])
    b = np.array([1.0, 1.0, 2.0, 3.0, 5.0, INF, 1.0])
    a_larger, b_larger, ties, excluded, p = stats.sign_test(a, b)
    assert (a_larger, b_larger, ties, excluded) == (3, 1, 2, 1)
    assert p == pytest.approx(0.625)


def test_sign_test_matches_the_paper_scale_of_evidence():
    # 78 vs 22 of 100 images: p far below 0.0005
    a = np.r_[np.full(78, 2.0), np.full(22, 1.0)]
    b = np.r_[np.full(78, 1.0), np.full(22, 2.0)]
    assert stats.sign_test(a, b)[4] < 0.0005


def test_holm_is_monotone_and_capped():
    assert stats.holm([0.01, 0.04, 0.03, None]) == [0.03, 0.06, 0.06, None]
    assert stats.holm([0.6, 0.9]) == [1.0, 1.0]


def test_p_largest_shares_ties_and_skips_invalid_images():
    dz = {"a": np.array([2.0, 1.0, 3.0, NAN]), "b": np.array([1.0, 1.0, INF, 5.0])}
    assert stats.p_largest(dz) == {"a": pytest.approx(0.5), "b": pytest.approx(0.5)}


def test_ranking_orders_only_significant_differences():
    n = 60
    strong, weak = np.full(n, 2.0), np.full(n, 1.0)
    noisy = np.where(np.arange(n) % 2 == 0, 2.5, 1.5)  # tied with `strong` on sign counts
    dz = {"strong": strong, "weak": weak, "noisy": noisy}
    pairs = stats.pairwise(dz)
    mean = {k: float(v.mean()) for k, v in dz.items()}
    assert stats.ranking(list(dz), mean, pairs) == [["strong", "noisy"], ["weak"]]


def test_bootstrap_interval_contains_the_estimate():
    dz = np.random.default_rng(0).gamma(4.0, 0.5, size=200)
    lo, hi = stats.bootstrap_ci(dz, np.zeros(200, bool), "mean")
    assert lo < dz.mean() < hi
    assert stats.bootstrap_ci(dz[:1], np.zeros(1, bool), "mean") is None
