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


def _chain(n: int = 40):
    """A > B > C on sign counts: A-B and B-C not significant, A-C significant (Holm, 3 pairs)."""
    a = np.r_[np.full(26, 3.0), np.full(n - 26, 1.0)]  # A beats B on 26 of 40 images
    b = np.full(n, 2.0)
    c = np.r_[np.full(14, 3.0), np.full(n - 14, 1.0)]  # B beats C on 26 of 40 images
    return {"A": a, "B": b, "C": c}


def test_ranking_never_groups_a_significant_pair_in_a_chain():
    dz = _chain()
    pairs = stats.pairwise(dz)
    p = {(x.a, x.b): x.p_holm for x in pairs}
    assert p[("A", "B")] >= 0.05 and p[("B", "C")] >= 0.05 and p[("A", "C")] < 0.05
    mean = {k: float(v.mean()) for k, v in dz.items()}
    groups = stats.ranking(list(dz), mean, pairs)
    assert groups == [["A", "B"], ["C"]]
    assert not any({"A", "C"} <= set(g) for g in groups)
    assert stats.letters([n for g in groups for n in g], pairs) == {"A": "a", "B": "ab", "C": "b"}


@pytest.mark.parametrize("seed", range(12))
def test_no_group_holds_a_significant_pair_and_letters_match_the_tests(seed):
    rng = np.random.default_rng(seed)
    m, n = int(rng.integers(3, 12)), int(rng.integers(30, 200))
    base = rng.gamma(3.0, 0.3, size=n)
    dz = {f"m{k}": base * rng.uniform(0.7, 1.3) + rng.normal(0, 0.15, size=n) for k in range(m)}
    pairs = stats.pairwise(dz)
    sig = stats.significant_pairs(pairs, 0.05)
    groups = stats.ranking(list(dz), {k: float(v.mean()) for k, v in dz.items()}, pairs)
    assert sorted(n for g in groups for n in g) == sorted(dz)
    for g in groups:
        assert not any(frozenset((x, y)) in sig for x in g for y in g if x != y)
    letters = stats.letters([n for g in groups for n in g], pairs)
    for x in dz:
        for y in dz:
            if x < y:
                shares = bool(set(letters[x]) & set(letters[y]))
                assert shares == (frozenset((x, y)) not in sig)


def test_rank_intervals_cover_the_point_rank_and_split_clear_differences():
    rng = np.random.default_rng(0)
    n = 300
    dz = {"low": rng.gamma(2, 0.2, n), "high": rng.gamma(2, 0.2, n) + 1.0, "mid": rng.gamma(2, 0.2, n) + 0.5}
    dz["mid_twin"] = dz["mid"] + rng.normal(0, 0.01, n)
    dz["high"][:5] = np.inf  # censored images are left out of the means, like the summary
    ranks = stats.rank_intervals(dz, degenerate={"low"})
    assert ranks["high"] == {"rank": 1, "rank_ci": [1, 1]}
    assert ranks["low"] == {"rank": 4, "rank_ci": [4, 4]}  # degenerate: last
    assert {ranks["mid"]["rank"], ranks["mid_twin"]["rank"]} == {2, 3}
    assert ranks["mid"]["rank_ci"] == [2, 3] and ranks["mid_twin"]["rank_ci"] == [2, 3]
    assert stats.rank_intervals(dz, degenerate={"low"}) == ranks  # seeded


def test_a_model_rarely_flipped_ranks_first_not_last():
    """Censored images (no flip within the cap) count at the cap when ordering: a model never
    flipped beats the others on every image and must lead the ranking, not trail it."""
    n = 30
    dz = {"never": np.full(n, INF), "b": np.linspace(0.5, 1.5, n), "c": np.linspace(0.4, 1.4, n)}
    pairs = stats.pairwise(dz)
    order_by = stats.restricted_means(dz, cap=8.0)
    groups = stats.ranking(list(dz), order_by, pairs)
    assert groups[0] == ["never"]
    assert stats.rank_intervals(dz, cap=8.0)["never"] == {"rank": 1, "rank_ci": [1, 1]}
    assert stats.letters([m for g in groups for m in g], pairs)["never"] == "a"


def test_the_validation_chooses_the_best_figure_and_breaks_near_ties_by_what_it_needs():
    from auditor.accuracy_figures import TIE, choose

    assert choose({"mean_dz": 0.95, "agreement_with_reference": 0.80, "confidence": 0.99}) == "mean_dz"
    near = {"mean_error_distance": 0.974, "agreement_with_reference": 0.974 - TIE / 2, "mean_dz": 0.5}
    assert choose(near) == "agreement_with_reference"  # tied: R's agreement needs no search
    assert choose({"mean_dz": 0.90, "median_dz": 0.90 - 2 * TIE}) == "mean_dz"
    assert choose({"mean_dz": float("nan"), "median_dz": 0.3}) == "median_dz"
    assert choose({"mean_dz": float("nan")}) == "mean_dz"
