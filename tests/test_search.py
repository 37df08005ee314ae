"""Contract tests run over every search algorithm, on a linear generator where the nearest
adversary's distance is known exactly."""

from __future__ import annotations

import numpy as np
import pytest

from auditor.errors import OptionError
from auditor.search import ALGORITHMS, SearchSettings, search
from conftest import Constant, HalfSpace, LinearGenerator


def setup(n: int = 6, seed: int = 0):
    gen = LinearGenerator(latent_dim=3, seed=seed)
    rng = np.random.default_rng(seed + 1)
    z = rng.standard_normal((n, 3)).astype(np.float32) * 0.8
    images = gen.decode(z)
    w = rng.standard_normal(16).astype(np.float32)
    return gen, images, w


def exact_distance(gen: LinearGenerator, z0: np.ndarray, w: np.ndarray, b: float) -> np.ndarray:
    """Distance in z from z0 to the hyperplane w . (A z + 0.5) = b."""
    a = gen.A.T @ w  # (d,)
    return np.abs(z0 @ a + 0.5 * w.sum() - b) / np.linalg.norm(a)


@pytest.mark.parametrize("algorithm", sorted(ALGORITHMS))
def test_finds_adversary_close_to_the_exact_one(algorithm):
    gen, images, w = setup()
    clf = HalfSpace("half", w, b=float(np.median(gen.decode(gen.encode(images)).reshape(6, -1) @ w)))
    settings = SearchSettings(algorithm=algorithm, samples=200, step=0.05, max_radius=6.0, refine_steps=0)
    out = search(gen, [clf], images, settings)
    res = out.results["half"]
    exact = exact_distance(gen, out.z0, w, clf.b)
    found = ~np.isnan(res.delta_z)
    assert found.all()
    # an upper bound of the optimum, and not far above it
    assert np.all(res.delta_z >= exact - 1e-4)
    assert np.all(res.delta_z <= exact + 0.25)
    # z* decodes to an image whose label differs from the original's
    flipped = clf.predict(gen.decode(res.z_star))
    assert np.all(flipped != res.prediction)
    assert np.allclose(np.linalg.norm(res.z_star - out.z0, axis=1), res.delta_z, atol=1e-3)
    assert np.all(res.adversary_prediction == flipped)
    assert np.all(res.queries > 2)


@pytest.mark.parametrize("algorithm", sorted(ALGORITHMS))
def test_same_seed_same_results_and_independent_of_other_models_and_chunking(algorithm):
    gen, images, w = setup(n=7)
    clf = HalfSpace("half", w, b=0.0)
    other = HalfSpace("other", -w, b=0.3)
    settings = SearchSettings(algorithm=algorithm, samples=50, step=0.1, max_radius=5.0, refine_steps=0, seed=3)
    alone = search(gen, [clf], images, settings).results["half"]
    together = search(gen, [other, clf], images, settings).results["half"]
    chunked = search(gen, [clf], images, SearchSettings(**{**vars(settings), "chunk_samples": 100})).results["half"]
    np.testing.assert_array_equal(together.delta_z, alone.delta_z)
    np.testing.assert_array_equal(together.adversary_prediction, alone.adversary_prediction)
    # other batches encode z0 with other matrix shapes: equal up to float rounding
    np.testing.assert_allclose(chunked.delta_z, alone.delta_z, rtol=0, atol=1e-6)
    np.testing.assert_array_equal(chunked.adversary_prediction, alone.adversary_prediction)
    different = search(gen, [clf], images, SearchSettings(**{**vars(settings), "seed": 4})).results["half"]
    assert not np.array_equal(different.delta_z, alone.delta_z)


@pytest.mark.parametrize("algorithm", sorted(ALGORITHMS))
def test_no_flip_under_the_cap_is_censored(algorithm):
    gen, images, _ = setup()
    out = search(gen, [Constant()], images, SearchSettings(algorithm=algorithm, samples=20, step=0.5, max_radius=2.0, refine_steps=0))
    res = out.results["constant"]
    assert res.censored.all()
    assert np.isnan(res.delta_z).all()
    assert (res.adversary_prediction == -1).all()


@pytest.mark.parametrize("algorithm", sorted(ALGORITHMS))
def test_reconstruction_that_changes_the_label_is_counted_not_searched(algorithm):
    gen, images, w = setup()
    images = images.copy()
    images[0, 0, 0, 0] = 5.0  # off the generator's range: G(I(x)) cannot reproduce this pixel

    class PixelProbe:
        name, format, path, class_names = "probe", "fake", "probe", None

        def predict(self, x):
            return (x[:, 0, 0, 0] > 3.0).astype(np.int64)

    out = search(gen, [PixelProbe()], images, SearchSettings(algorithm=algorithm, samples=20, refine_steps=0))
    res = out.results["probe"]
    assert res.reconstruction_changed[0] and not res.reconstruction_changed[1:].any()
    anchors = getattr(ALGORITHMS[algorithm], "anchors", 0)  # labelled once per batch, shared by its images
    # the original, the reconstruction and its share of the anchors, nothing more
    assert res.queries[0] == 2 + anchors // len(images) + (anchors % len(images) > 0)
    assert np.isnan(res.delta_z[0]) and not res.censored[0]


def test_decodes_are_shared_between_models_in_the_same_state():
    gen, images, w = setup()
    settings = SearchSettings(algorithm="iterative", samples=30, step=0.1, max_radius=3.0, refine_steps=0)
    one = search(gen, [HalfSpace("a", w, 0.0)], images, settings)
    two = search(gen, [HalfSpace("a", w, 0.0), HalfSpace("b", w, 0.0)], images, settings)
    assert two.decodes == one.decodes  # identical models never cost a second decode
    assert two.results["b"].queries.sum() == one.results["a"].queries.sum()


@pytest.mark.parametrize(
    "change, message",
    [({"algorithm": "magic"}, "unknown search algorithm"), ({"samples": 0}, "--samples"),
     ({"step": -1.0}, "--step"), ({"max_radius": 0.0}, "--max-radius"), ({"refine_steps": -2}, "--refine-steps")],
)
def test_settings_are_validated(change, message):
    with pytest.raises(OptionError, match=message):
        SearchSettings(**change).validate()


# --- the distance to the nearest natural error (a reference classifier R) -------------------

@pytest.mark.parametrize("algorithm", sorted(ALGORITHMS))
def test_a_model_identical_to_the_reference_never_errs(algorithm):
    gen, images, w = setup(n=6)
    reference = HalfSpace("reference", w, b=0.0)
    twin = HalfSpace("twin", w, b=0.0)
    settings = SearchSettings(algorithm=algorithm, samples=60, step=0.1, max_radius=4.0, refine_steps=0, max_steps=20)
    out = search(gen, [twin], images, settings, reference=reference)
    assert np.isnan(out.errors["twin"].delta_z).all()  # no natural error within the cap
    assert not np.isnan(out.results["twin"].delta_z).all()  # while its label does flip
    np.testing.assert_array_equal(out.reference_prediction, reference.predict(images))


@pytest.mark.parametrize("algorithm", sorted(ALGORITHMS))
def test_a_constant_model_errs_at_zero_where_the_reference_disagrees_else_at_its_boundary(algorithm):
    gen, images, w = setup(n=8)
    recon = gen.decode(gen.encode(images))
    b = float(np.median(recon.reshape(8, -1) @ w))
    reference = HalfSpace("reference", w, b=b)
    constant = Constant("constant", label=1)
    settings = SearchSettings(algorithm=algorithm, samples=200, step=0.05, max_radius=6.0, refine_steps=0)
    out = search(gen, [constant], images, settings, reference=reference)
    err = out.errors["constant"]
    wrong = reference.predict(images) != 1
    assert wrong.any() and (~wrong).any()
    np.testing.assert_array_equal(err.delta_z[wrong], 0.0)
    np.testing.assert_allclose(err.z_star[wrong], out.z0[wrong])
    # where R says 1 too, the nearest error is where R's label changes: R's own boundary
    exact = exact_distance(gen, out.z0, w, b)[~wrong]
    assert np.all(err.delta_z[~wrong] >= exact - 1e-4) and np.all(err.delta_z[~wrong] <= exact + 0.25)
    assert np.isnan(out.results["constant"].delta_z).all()  # its own label never flips


def test_error_distances_do_not_depend_on_the_other_models():
    gen, images, w = setup(n=7)
    reference = HalfSpace("reference", w, b=0.0)
    clf, other = HalfSpace("half", w, b=0.4), HalfSpace("other", -w, b=0.3)
    settings = SearchSettings(samples=8, max_radius=5.0, refine_steps=0, seed=2)
    alone = search(gen, [clf], images, settings, reference=reference).errors["half"]
    together = search(gen, [other, clf], images, settings, reference=reference).errors["half"]
    np.testing.assert_array_equal(alone.delta_z, together.delta_z)


THREADS_SCRIPT = r"""
import sys
import auditor  # first: it puts Intel MKL in its reproducible mode before torch loads MKL
import numpy as np, torch
from auditor.data import load_images
from auditor.generators import load_generator
from auditor.models import ModelOptions, load_classifier
from auditor.search import SearchSettings, search

gen = load_generator("mnist", device="cpu")
x = load_images(sys.argv[1], gen.image_shape).images[:40]
clf = load_classifier(sys.argv[2], "mlp", gen.image_shape, ModelOptions())
settings = SearchSettings(samples=30, step=0.2, refine_steps=10, batch_images=40)
runs = []
for threads in (1, 2):
    torch.set_num_threads(threads)
    out = search(gen, [clf], x, settings)
    runs.append((out.z0, out.results["mlp"].z_star, out.results["mlp"].delta_z))
for a, b in zip(*runs):
    assert np.array_equal(a, b, equal_nan=True), float(np.nanmax(np.abs(a - b)))
print("same")
"""


def test_the_search_gives_the_same_bits_on_one_thread_as_on_two():
    """A Ray worker has fewer threads than one process on the same machine; results may not
    depend on that. Batches of 40 images make MKL split its matrix products by thread count
    (1 vs 2 threads differ by ~1e-5 without MKL_CBWR=AUTO,STRICT, which auditor sets on import).
    Its own process, so that auditor, not another test, is the first to load torch."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    done = subprocess.run([sys.executable, "-c", THREADS_SCRIPT, str(root / "examples/digits"),
                           str(root / "examples/models/mlp.pt")], capture_output=True, text=True, timeout=300,
                          env={k: v for k, v in os.environ.items() if k != "MKL_CBWR"})
    assert done.returncode == 0 and done.stdout.strip() == "same", done.stderr[-2000:]


def test_the_boundary_search_walks_onto_the_nearest_point_of_a_flat_boundary():
    """A half-space in image space is a flat boundary in z under the linear generator, the case
    the boundary search's projection step is built on: its default budget lands within 5% of the
    exact distance on every image, given its bracket's 2% (the contract test above allows +0.25
    absolute; the local search, at its own default budget, ends up to 58% above it here)."""
    gen = LinearGenerator(latent_dim=16, seed=2)
    rng = np.random.default_rng(5)
    images = gen.decode(rng.standard_normal((12, 16)).astype(np.float32) * 0.5)
    w = rng.standard_normal(16).astype(np.float32)
    clf = HalfSpace("half", w, b=float(np.median(images.reshape(12, -1) @ w)))
    settings = SearchSettings(algorithm="boundary", max_radius=8.0, refine_steps=0)
    res = search(gen, [clf], images, settings).results["half"]
    exact = exact_distance(gen, gen.encode(images), w, clf.b)
    assert np.isfinite(res.delta_z).all()
    assert np.all(res.delta_z >= exact - 1e-4)
    assert np.all(res.delta_z <= 1.05 * exact + 0.01), np.max(res.delta_z / exact)
    budget = 8 * SearchSettings(algorithm="boundary").resolved().max_steps
    assert res.queries.max() <= 2 + 512 // 12 + 1 + budget  # the original, its reconstruction, anchors


def test_auto_runs_the_default_search_of_the_generators_modality_and_latent_size():
    """--search auto (the default) picks per generator (registry.DEFAULTS, docs/benchmarks.md):
    the margin search on images (it reads each model its own way: search_auto's tests), with
    more steps where the latent space is wide (photos), the local search on text; an algorithm or
    setting the user names stays theirs."""
    from auditor.search.registry import DEFAULTS

    class Gen:
        def __init__(self, modality, latent_dim):
            self.modality, self.latent_dim = modality, latent_dim

    auto = SearchSettings()
    assert auto.algorithm == "auto" and auto.resolved() == auto  # nothing to fill in yet
    digits, photos, text = (auto.for_generator(Gen(*g)) for g in
                            (("image", 16), ("image", 64), ("text", 32)))
    assert (digits.algorithm, digits.max_steps, digits.max_radius) == ("margin", 36, 8.0)
    assert (photos.algorithm, photos.max_steps, photos.max_radius) == ("margin", 46, 16.0)
    assert text.algorithm == "local" and text.max_steps == 60
    assert DEFAULTS[("image", True)]["max_steps"] == 46
    assert SearchSettings(max_steps=20).for_generator(Gen("image", 64)).max_steps == 20
    named = SearchSettings(algorithm="hybrid").for_generator(Gen("image", 64))
    assert (named.algorithm, named.max_steps) == ("hybrid", 200)
