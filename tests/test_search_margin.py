"""The margin search (auditor/search/margin.py): where a model gives scores it walks the boundary
by the margin's values; where it gives labels only it is the boundary search with pooled probes;
every adversary it reports is the model's own ``predict``'s flip."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from auditor.search import SearchSettings, search
from conftest import HalfSpace, LinearGenerator


class ScoredHalfSpace(HalfSpace):
    """HalfSpace with scores: logits (0, w . x - b)."""

    has_scores = True

    def predict_scores(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        s = images.reshape(len(images), -1) @ self.w - self.b
        logits = np.stack([np.zeros_like(s), s], 1).astype(np.float64)
        logp = logits - np.logaddexp(logits[:, :1], logits[:, 1:])
        return (s > 0).astype(np.int64), logp


class Liar(ScoredHalfSpace):
    """Its scores' labels flip where its own ``predict`` never does."""

    def predict(self, images: np.ndarray) -> np.ndarray:
        return np.zeros(len(images), dtype=np.int64)


def flat(n: int = 12, gen: LinearGenerator | None = None):
    """A linear generator (``gen``, else one of 16 latent dimensions), n images, a half-space
    (w, b) through their median and each image's exact distance to its boundary in z."""
    gen = gen or LinearGenerator(latent_dim=16, seed=2)
    rng = np.random.default_rng(5)
    images = gen.decode(rng.standard_normal((n, gen.latent_dim)).astype(np.float32) * 0.5)
    w = rng.standard_normal(16).astype(np.float32)
    b = float(np.median(images.reshape(n, -1) @ w))
    a = gen.A.T @ w
    exact = np.abs(gen.encode(images) @ a + 0.5 * w.sum() - b) / np.linalg.norm(a)
    return gen, images, w, b, exact


def test_scores_walk_onto_the_nearest_point_of_a_flat_boundary():
    """Margins are linear in z here: the search lands within 1% of the exact distance on every
    image (the label-only boundary search, at the same budget, within 5% with its 2% bracket)."""
    gen, images, w, b, exact = flat()
    settings = SearchSettings(algorithm="margin", max_radius=8.0, refine_steps=0)
    res = search(gen, [ScoredHalfSpace("half", w, b)], images, settings).results["half"]
    assert np.isfinite(res.delta_z).all()
    assert np.all(res.delta_z >= exact - 1e-4)
    assert np.all(res.delta_z <= 1.01 * exact + 0.005), np.max(res.delta_z / exact)
    flipped = HalfSpace("h", w, b).predict(gen.decode(res.z_star))
    assert np.all(flipped != res.prediction) and np.all(res.adversary_prediction == flipped)


def test_a_label_only_model_is_walked_by_pooled_probes_for_twice_the_steps_and_alone():
    """A pair whose model gives labels only: the boundary walk with a forest's pooled probes, for
    up to twice the steps (the model is one SearchSettings.stretched names), its results the same
    beside a model with scores. At the same steps it is already nearer the exact distance than
    the boundary search (mean ratio 1.024 against 1.060 here); with its stretch within 2%."""
    gen, images, w, b, exact = flat()
    settings = SearchSettings(algorithm="margin", max_radius=8.0, refine_steps=0)
    clf, scored = HalfSpace("half", w, b), ScoredHalfSpace("scored", w, b)
    beside = search(gen, [scored, clf], images, settings)
    alone = search(gen, [clf], images, settings)
    assert beside.results["half"].delta_z.tolist() == alone.results["half"].delta_z.tolist()
    assert beside.results["half"].queries.tolist() == alone.results["half"].queries.tolist()
    res = alone.results["half"]
    assert np.all(res.delta_z >= exact - 1e-4) and np.all(res.delta_z <= 1.02 * exact)
    short = search(gen, [clf], images, replace(settings, stretched=())).results["half"]
    boundary = search(gen, [clf], images, replace(settings, algorithm="boundary")).results["half"]
    assert np.mean(short.delta_z / exact) < np.mean(boundary.delta_z / exact)
    assert short.queries.mean() < 1.15 * boundary.queries.mean()  # the same steps
    assert res.queries.mean() > 1.5 * short.queries.mean()  # the stretch's


def test_scored_results_do_not_depend_on_the_other_models_or_the_batching():
    gen, images, w, b, _ = flat(n=9)
    settings = SearchSettings(algorithm="margin", max_radius=8.0, refine_steps=0, seed=1)
    clf = ScoredHalfSpace("half", w, b)
    alone = search(gen, [clf], images, settings).results["half"]
    together = search(gen, [ScoredHalfSpace("other", -w, b + 0.3), clf], images,
                      settings).results["half"]
    batched = search(gen, [clf], images, SearchSettings(**{**vars(settings), "batch_images": 4}))
    np.testing.assert_array_equal(together.delta_z, alone.delta_z)
    # other batches encode z0 with other matrix shapes: the margins' values carry that rounding on
    # into the walk (labels mostly do not), so equal up to a relative 1e-4
    np.testing.assert_allclose(batched.results["half"].delta_z, alone.delta_z, rtol=1e-4)
    again = search(gen, [clf], images, settings).results["half"]
    np.testing.assert_array_equal(again.delta_z, alone.delta_z)


def test_an_adversary_its_own_predict_does_not_confirm_is_dropped():
    """Flips are read from the scoring call; the reported adversary is the model's predict's."""
    gen, images, w, b, _ = flat(n=4)
    settings = SearchSettings(algorithm="margin", max_radius=8.0, refine_steps=0)
    res = search(gen, [Liar("liar", w, b)], images, settings).results["liar"]
    searched = ~res.reconstruction_changed
    assert searched.any() and res.censored[searched].all()
    assert (res.adversary_prediction == -1).all()


def test_the_setup_line_says_what_the_search_reads_of_each_model():
    from auditor.search.registry import describe_search

    gen, _, w, b, _ = flat(n=1)
    models = [ScoredHalfSpace("cnn", w, b), HalfSpace("forest", w, b)]
    line = describe_search(SearchSettings(algorithm="margin"), models)
    assert line == "latent search: margin (cnn: scores; forest: labels only, pooled boundary walk)"
    assert describe_search(SearchSettings(algorithm="local"), models) == (
        "latent search: local (labels only)")


class SteppedHalfSpace(ScoredHalfSpace):
    """A forest-like HalfSpace: its score w . x - b counted in steps of 0.25 (flat between jumps,
    as a forest's vote shares), its label the same as HalfSpace's."""

    def predict_scores(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        s = images.reshape(len(images), -1) @ self.w - self.b
        votes = np.where(s > 0, np.maximum(np.ceil(s / 0.25), 1), np.minimum(np.floor(s / 0.25),
                                                                            -1)) * 0.25
        logits = np.stack([np.zeros_like(votes), votes], 1).astype(np.float64)
        logp = logits - np.logaddexp(logits[:, :1], logits[:, 1:])
        return (s > 0).astype(np.int64), logp


def test_a_stepwise_model_is_walked_by_its_margins_ranks_and_alone():
    """Flat-between-jumps margins: detected, the pair probes farther and weighs its probes by their
    margins' ranks (so it is no longer the boundary search's walk), its adversaries are verified
    flips, and its results (and a smooth model's beside it) do not depend on the other models,
    the run or the batching."""
    from auditor.search.margin import MarginSearch

    gen, images, w, b, exact = flat()
    settings = SearchSettings(algorithm="margin", max_radius=8.0, refine_steps=0, seed=3)
    stepped, smooth = SteppedHalfSpace("stepped", w, b), ScoredHalfSpace("smooth", w, b)
    seen = []
    observe = MarginSearch.observe

    def spy(self, *args, **kwargs):
        observe(self, *args, **kwargs)
        seen.append(self.jumps.copy())

    MarginSearch.observe = spy
    try:
        both = search(gen, [stepped, smooth], images, settings).results
    finally:
        MarginSearch.observe = observe
    m = len(images)
    assert seen[-1][:m].all() and not seen[-1][m:].any()  # only the stepped model's pairs
    res = both["stepped"]
    assert np.isfinite(res.delta_z).all() and np.all(res.delta_z >= exact - 1e-4)
    assert np.all(HalfSpace("h", w, b).predict(gen.decode(res.z_star)) != res.prediction)
    label_only = search(gen, [HalfSpace("stepped", w, b)], images, settings).results["stepped"]
    assert not np.array_equal(res.delta_z, label_only.delta_z)
    alone = search(gen, [stepped], images, settings).results["stepped"]
    np.testing.assert_array_equal(alone.delta_z, res.delta_z)
    np.testing.assert_array_equal(alone.queries, res.queries)
    again = search(gen, [stepped], images, settings).results["stepped"]
    np.testing.assert_array_equal(again.delta_z, res.delta_z)
    batched = search(gen, [stepped], images, SearchSettings(**{**vars(settings),
                                                               "batch_images": 5}))
    # other batches encode z0 with other matrix shapes (see the smooth test above)
    np.testing.assert_allclose(batched.results["stepped"].delta_z, res.delta_z, rtol=1e-4)
    smooth_alone = search(gen, [smooth], images, settings).results["smooth"]
    np.testing.assert_array_equal(smooth_alone.delta_z, both["smooth"].delta_z)


def test_margin_ranks_tie_equal_margins():
    from auditor.search.margin import _ranks

    r = _ranks(np.array([[0.1, 0.1, -0.2, 0.3]]))
    np.testing.assert_allclose(r, [[0.0, 0.0, -1.0, 1.0]])
    assert abs(r.sum()) < 1e-12


def _walking(n: int = 2, d: int = 4):
    """A MarginSearch's walking state for ``n`` pairs (no start: only what the walk reads)."""
    from auditor.search.boundary import STEP
    from auditor.search.margin import MarginSearch

    s = MarginSearch.__new__(MarginSearch)
    s.u = np.tile(np.eye(d, dtype=np.float32)[:1], (n, 1))
    s.hi, s.lo = np.full(n, 2.0), np.full(n, 1.96)
    s.lo_seen, s.lam = np.ones(n, dtype=bool), np.full(n, 0.2)
    s.phase = np.full(n, STEP)
    return s


def test_a_guided_steps_probe_that_flips_below_the_ladder_moves_the_boundary_point():
    """A probe around the predicted crossing that flips nearer than the ladder's best (and than
    b) becomes b, and the next turn follows at once; one that flips farther moves nothing."""
    from auditor.search.boundary import STEP, TAU

    s = _walking()
    deltas = np.zeros((2, 8, 4), dtype=np.float32)
    deltas[:, 5] = [0.0, 1.5, 0.0, 0.0]  # a probe slot (after the ladder's SLOTS)
    s._aside(np.arange(2), np.array([1.5, 2.5]), np.array([5, 5]), deltas,
             s.hi.copy(), s.lam.copy())
    np.testing.assert_allclose(s.u[0], [0, 1, 0, 0])
    assert s.hi[0] == 1.5 and s.lo[0] == (1 - TAU) * 1.5 and not s.lo_seen[0]
    assert s.lam[0] > 0.2 and s.phase[0] == STEP
    assert s.hi[1] == 2.0 and s.lam[1] == 0.2 and (s.u[1] == [1, 0, 0, 0]).all()


def test_a_guided_ladder_hedges_its_last_norm_between_the_crossing_and_b():
    """The linear model's crossing t* (here exact: m = -(z_1 + z_2) + 2) gets SLOTS - 1 norms
    just above t* (1 - BELOW); the last lies HEDGE of the way from there up to hi."""
    from auditor.search.margin import BELOW, HEDGE, SLOTS

    s = _walking(1)
    s.lam[:] = 1.0
    s.G = np.array([[-1.0, -1.0, 0.0, 0.0]])
    s.m_hi = np.zeros(1)  # b = 2 e_1 lies on the boundary
    turned, radii, ok = s._guided(np.arange(1), SLOTS)
    assert ok[0]
    np.testing.assert_allclose(turned[0], np.array([1, 1, 0, 0]) / np.sqrt(2), atol=1e-6)
    low = np.sqrt(2) * (1 - BELOW)
    np.testing.assert_allclose(radii[0, 0], low)
    np.testing.assert_allclose(radii[0, -1], (1 - HEDGE) * low + HEDGE * 2.0)
