"""The generator's active subspace (auditor/search/subspace.py): a latent search moves z only along
the directions the decoder uses, so no norm is spent on the ones it ignores."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from auditor.search import SearchSettings, search
from auditor.search.boundary import BoundarySearch
from auditor.search.registry import describe_search
from auditor.search.subspace import active_basis
from conftest import HalfSpace, LinearGenerator
from test_search_margin import flat

USED = 6  # of 16 latent dimensions: the rest barely move the decoded image (a collapsed VAE's)


def collapsed(n: int = 16):
    """A linear generator that nearly ignores its last 10 latent dimensions, images, a half-space
    model on them, and each image's exact distance to its boundary in z."""
    gen = LinearGenerator(latent_dim=16, seed=4)
    gen.A[:, USED:] *= 1e-3
    gen.pinv = np.linalg.pinv(gen.A).astype(np.float32)
    gen, images, w, b, exact = flat(n, gen)
    return gen, images, HalfSpace("half", w, b), exact


def test_the_basis_spans_the_directions_the_decoder_uses():
    gen = collapsed()[0]
    basis = active_basis(gen)
    assert basis.shape == (16, USED)
    assert np.allclose(basis.T @ basis, np.eye(USED), atol=1e-5)
    assert np.abs(basis[USED:]).max() < 1e-2  # nothing of the ignored dimensions
    even = LinearGenerator(latent_dim=16, seed=4)
    even.A = np.linalg.qr(even.A)[0].astype(np.float32)  # every direction moves G(z) as much
    assert active_basis(even) is None  # all used: no subspace


def test_a_generator_whose_decode_gives_no_numbers_has_no_subspace():
    class Sentences:
        latent_dim = 4

        def decode(self, z):
            out = np.empty(len(z), dtype=object)
            out[:] = ["a sentence"] * len(z)
            return out

    assert active_basis(Sentences()) is None


def test_the_search_moves_only_along_used_directions_and_lands_nearer(monkeypatch):
    """Label-only walk on a flat boundary: z* differs from z0 only in the used dimensions, and Δz
    is nearer the exact distance than the same search's in all 16 dimensions."""
    gen, images, model, exact = collapsed()
    settings = SearchSettings(algorithm="boundary", max_radius=8.0, refine_steps=0)
    assert settings.for_generator(gen, [model], images).active_dims == USED
    out = search(gen, [model], images, settings)
    res = out.results["half"]
    assert np.isfinite(res.delta_z).all() and np.all(res.delta_z >= exact - 1e-4)
    move = res.z_star - out.z0
    assert np.all(np.linalg.norm(move[:, USED:], axis=1) < 1e-2 * res.delta_z)
    assert np.allclose(np.linalg.norm(res.z_star - out.z0, axis=1), res.delta_z, rtol=1e-4)
    assert np.all(model.predict(gen.decode(res.z_star)) != res.prediction)
    line = describe_search(settings.for_generator(gen, [model], images), [model])
    assert line.endswith("; z moves in the generator's 6 active latent directions)")
    monkeypatch.setattr(BoundarySearch, "subspace", False)
    assert settings.for_generator(gen, [model], images).active_dims is None
    full = search(gen, [model], images, settings).results["half"]
    assert np.median(res.delta_z / exact) < np.median(full.delta_z / exact)
    assert np.median(res.delta_z / exact) < 1.05


@pytest.mark.parametrize("algorithm", ["local", "margin"])
def test_results_in_the_subspace_do_not_depend_on_the_batching(algorithm):
    gen, images, model, _ = collapsed(12)
    settings = SearchSettings(algorithm=algorithm, max_radius=8.0, refine_steps=0, max_steps=12)
    whole = search(gen, [model], images, settings).results["half"]
    batched = search(gen, [model], images, replace(settings, batch_images=5)).results["half"]
    assert np.array_equal(whole.delta_z, batched.delta_z, equal_nan=True)
    assert np.array_equal(whole.z_star, batched.z_star, equal_nan=True)
