"""--search auto on images (auditor/search/registry.py, smoothness.py): the margin search, which
walks smooth scores by their gradient, stepwise ones by labels and the order of margins and
label-only models by pooled labels, the last two for up to twice the steps (none on a wide
latent); and why, in the scan's record."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from auditor.search import SearchSettings, search
from auditor.search.smoothness import flat_models
from conftest import HalfSpace, LinearGenerator
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


def test_auto_reads_scores_where_every_model_gives_them():
    gen, images, w, b, _ = flat(8)
    smooth = SearchSettings(max_radius=8.0).for_generator(
        gen, [ScoredHalfSpace("a", w, b), ScoredHalfSpace("b", -w, -b)], images)
    assert smooth.algorithm == "margin" and smooth.chosen == "auto: every model's scores are smooth"
    mixed = SearchSettings(max_radius=8.0).for_generator(
        gen, [ScoredHalfSpace("a", w, b), SteppedHalfSpace("forest", w, b)], images)
    assert mixed.algorithm == "margin"
    assert mixed.chosen == ("auto: each model is walked its own way (forest: flat between jumps; "
                            "a: smooth); forest for up to twice the steps")
    assert mixed.stretched == ("forest",)
    # forests alone: margin, which walks every stepwise pair the same way
    forests = SearchSettings(max_radius=8.0).for_generator(
        gen, [SteppedHalfSpace("f1", w, b), SteppedHalfSpace("f2", -w, -b)], images)
    assert forests.algorithm == "margin"
    assert forests.chosen == ("auto: each model is walked its own way (f1, f2: flat between "
                              "jumps); f1, f2 for up to twice the steps")
    labels = SearchSettings(max_radius=8.0).for_generator(
        gen, [HalfSpace("h", w, b), ScoredHalfSpace("a", w, b)], images)
    # a label-only model beside them: margin too, its walk (pooled probes) for twice the steps
    assert labels.algorithm == "margin" and labels.stretched == ("h",)
    assert labels.chosen == ("auto: each model is walked its own way (h: labels only; a: "
                             "smooth); h for up to twice the steps")
    # settings the user gave are theirs: no question asked
    given = SearchSettings(algorithm="local").for_generator(gen, [ScoredHalfSpace("a", w, b)],
                                                            images)
    assert given.algorithm == "local" and given.chosen is None


def test_stepwise_pairs_walk_twice_the_steps_and_the_rest_are_untouched(monkeypatch):
    """A stepwise model's walk goes on for STRETCH times max_steps: its results are those of
    max_steps twice as large, while the smooth model beside it ends at max_steps as before."""
    from auditor.search import margin

    gen, images, w, b, _ = flat(10)
    pair = [ScoredHalfSpace("smooth", w, b), SteppedHalfSpace("forest", w, b)]

    def run(steps: int, stretch: int):
        monkeypatch.setattr(margin.MarginSearch, "stretch", stretch)
        settings = SearchSettings(algorithm="margin", max_radius=8.0, refine_steps=0,
                                  max_steps=steps, stretched=("forest",))
        return search(gen, pair, images, settings).results

    once, twice, long = run(8, 1), run(8, 2), run(16, 1)
    for key in ("delta_z", "queries"):
        np.testing.assert_array_equal(getattr(twice["smooth"], key), getattr(once["smooth"], key))
        np.testing.assert_array_equal(getattr(twice["forest"], key), getattr(long["forest"], key))
    assert twice["forest"].queries.sum() > once["forest"].queries.sum()


def test_auto_on_a_wide_latent_stretches_none_and_walks_forests_with_the_short_constants(
        monkeypatch):
    """On a latent wider than registry.WIDE (the photos') auto walks every model max_steps, and a
    stepwise pair that is not stretched probes at FAR_SHORT, BETWEEN_SHORT probe steps pooled: its
    results are those of a stretched walk of max_steps given those constants."""
    from auditor.search import margin
    from auditor.search.registry import WIDE

    gen = LinearGenerator(latent_dim=WIDE + 8, seed=3)
    _, images, w, b, _ = flat(8, gen)
    pair = [ScoredHalfSpace("smooth", w, b), SteppedHalfSpace("forest", w, b)]
    auto = SearchSettings(max_radius=8.0, refine_steps=0).for_generator(gen, pair, images)
    assert auto.algorithm == "margin" and auto.stretched == () and auto.max_steps == 46
    assert auto.chosen == ("auto: each model is walked its own way (forest: flat between jumps; "
                           "smooth: smooth)")
    short = search(gen, pair, images, replace(auto, max_steps=12)).results
    monkeypatch.setattr(margin, "FAR", margin.FAR_SHORT)
    monkeypatch.setattr(margin, "BETWEEN", margin.BETWEEN_SHORT)
    monkeypatch.setattr(margin.MarginSearch, "stretch", 1)
    given = search(gen, pair, images, replace(auto, max_steps=12, stretched=("forest",))).results
    for key in ("delta_z", "queries"):
        np.testing.assert_array_equal(getattr(short["forest"], key), getattr(given["forest"], key))
    monkeypatch.undo()  # stretched: its own constants and twice the steps, another walk
    other = search(gen, pair, images, replace(auto, max_steps=12, stretched=("forest",))).results
    assert not np.array_equal(other["forest"].delta_z, short["forest"].delta_z)
    assert other["forest"].queries.sum() > short["forest"].queries.sum()


def test_a_smooth_model_never_gets_the_stepwise_steps():
    """The stretch is per model (auto's probe), not per pair: a network's pair whose boundary lies
    so near z0 that its rounded margins repeat (and is walked by labels from then on) still ends
    at max_steps."""
    gen, images, w, b, _ = flat(12)
    settings = SearchSettings(algorithm="margin", max_radius=8.0, refine_steps=0, max_steps=36)
    assert settings.for_generator(gen, [ScoredHalfSpace("smooth", w, b)], images).stretched == ()
    out = search(gen, [ScoredHalfSpace("smooth", w, b)], images, settings).results["smooth"]
    # per pair: the surrogate start's share of the anchors, 8 proposals a step, 1 check
    assert out.queries.max() <= 8 * 36 + 64
