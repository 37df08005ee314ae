"""--search auto on images (auditor/search/registry.py, smoothness.py): the margin search where
every model's scores are smooth, else the label-only boundary search for every model alike, so
that no model of a comparison is searched tighter than another; and why, in the scan's record."""

from __future__ import annotations

import numpy as np

from auditor.search import SearchSettings, search
from auditor.search.smoothness import flat_models
from conftest import HalfSpace
from test_search_margin import ScoredHalfSpace, flat


class SteppedHalfSpace(ScoredHalfSpace):
    """A forest's kind of scores: the same labels, its logit rounded to whole units (constant
    between jumps)."""

    def predict_scores(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        s = np.floor(images.reshape(len(images), -1) @ self.w - self.b) + 0.5
        logits = np.stack([np.zeros_like(s), s], 1).astype(np.float64)
        return (s > 0).astype(np.int64), logits - np.logaddexp(logits[:, :1], logits[:, 1:])


def test_flat_models_names_the_stepwise_and_the_label_only_models():
    gen, images, w, b, _ = flat()
    models = [ScoredHalfSpace("smooth", w, b), SteppedHalfSpace("stepped", w, b),
              HalfSpace("labels", w, b)]
    assert flat_models(gen, models, images) == ["stepped", "labels"]
    assert flat_models(gen, models[:1], images) == []


def test_auto_reads_scores_only_where_every_model_gives_smooth_ones():
    gen, images, w, b, _ = flat(8)
    smooth = SearchSettings(max_radius=8.0).for_generator(
        gen, [ScoredHalfSpace("a", w, b), ScoredHalfSpace("b", -w, -b)], images)
    assert smooth.algorithm == "margin" and smooth.chosen == "auto: every model's scores are smooth"
    mixed = SearchSettings(max_radius=8.0).for_generator(
        gen, [ScoredHalfSpace("a", w, b), SteppedHalfSpace("forest", w, b)], images)
    assert mixed.algorithm == "boundary"
    assert mixed.chosen == ("auto: scores of more than one kind (forest: flat between jumps; a: "
                            "smooth), so every model is searched by its labels alike")
    # forests alone: margin, which walks every stepwise pair the same way
    forests = SearchSettings(max_radius=8.0).for_generator(
        gen, [SteppedHalfSpace("f1", w, b), SteppedHalfSpace("f2", -w, -b)], images)
    assert forests.algorithm == "margin"
    assert forests.chosen == "auto: every model's scores are flat between jumps"
    labels = SearchSettings(max_radius=8.0).for_generator(
        gen, [HalfSpace("h", w, b), ScoredHalfSpace("a", w, b)], images)
    assert labels.algorithm == "boundary" and "h: labels only" in labels.chosen
    # settings the user gave are theirs: no question asked
    given = SearchSettings(algorithm="local").for_generator(gen, [ScoredHalfSpace("a", w, b)],
                                                            images)
    assert given.algorithm == "local" and given.chosen is None


def test_a_mixed_scan_searches_the_smooth_model_as_the_boundary_search_does():
    """With a stepwise model beside it, the smooth model's Δz is the label-only search's, not
    the tighter margin search's: the two models are searched alike."""
    gen, images, w, b, exact = flat(10)
    base = SearchSettings(max_radius=8.0, refine_steps=0)
    pair = [ScoredHalfSpace("smooth", w, b), SteppedHalfSpace("forest", w, b)]
    mixed = search(gen, pair, images, base).results["smooth"].delta_z
    alone = search(gen, pair[:1], images, base).results["smooth"].delta_z
    labels = search(gen, pair[:1], images,
                    SearchSettings(algorithm="boundary", max_radius=8.0, refine_steps=0))
    np.testing.assert_array_equal(mixed, labels.results["smooth"].delta_z)
    assert np.all(alone <= 1.01 * exact + 0.005)  # alone, its scores steer it onto the boundary
    assert np.median(mixed / exact) > np.median(alone / exact)
