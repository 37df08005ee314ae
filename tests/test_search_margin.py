"""The margin search (auditor/search/margin.py): where a model gives scores it walks the boundary
by the margin's values; where it gives labels only it is the boundary search; every adversary it
reports is the model's own ``predict``'s flip."""

from __future__ import annotations

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


def flat(n: int = 12):
    gen = LinearGenerator(latent_dim=16, seed=2)
    rng = np.random.default_rng(5)
    images = gen.decode(rng.standard_normal((n, 16)).astype(np.float32) * 0.5)
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


def test_a_label_only_model_is_searched_as_the_boundary_search_searches_it():
    gen, images, w, b, _ = flat()
    settings = SearchSettings(algorithm="margin", max_radius=8.0, refine_steps=0)
    clf, scored = HalfSpace("half", w, b), ScoredHalfSpace("scored", w, b)
    margin = search(gen, [scored, clf], images, settings).results["half"]
    boundary = search(gen, [clf], images, SearchSettings(**{**vars(settings),
                                                            "algorithm": "boundary"}))
    np.testing.assert_array_equal(margin.delta_z, boundary.results["half"].delta_z)
    np.testing.assert_array_equal(margin.queries, boundary.results["half"].queries)


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
    assert line == ("latent search: margin (cnn: scores, margin-guided; forest: labels only, "
                    "boundary walk)")
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
