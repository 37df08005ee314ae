"""The gradient search (auditor/search/gradient.py): where the generator and a model give gradients,
--search auto searches that model by them as well as by margin's black box at half the steps, and
keeps the closer adversary, checked with the model's own ``predict``."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from auditor.models import ModelOptions
from auditor.models.torch_module import TorchModuleClassifier
from auditor.search import SearchSettings, search
from auditor.search.gradient import STEPS, gradient_models
from conftest import HalfSpace, LinearGenerator


class TorchLinearGenerator(LinearGenerator):
    """LinearGenerator whose G is a torch module too: a generator that gives gradients."""

    gradients, modality, device = True, "image", "cpu"

    def __init__(self, latent_dim: int = 6, seed: int = 1) -> None:
        super().__init__(latent_dim, seed)
        self.decoder = torch.nn.Linear(latent_dim, 16)
        with torch.no_grad():
            self.decoder.weight.copy_(torch.from_numpy(self.A))
            self.decoder.bias.fill_(0.5)


def half_space_module(w: np.ndarray, b: float) -> torch.nn.Module:
    """Logits (0, w . x - b) of a flattened (N, 1, 4, 4) image: HalfSpace's label, with scores."""
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 2))
    with torch.no_grad():
        net[1].weight.copy_(torch.from_numpy(np.stack([np.zeros(16), w]).astype(np.float32)))
        net[1].bias.copy_(torch.tensor([0.0, -b]))
    return net.eval()


def flat(n: int = 10):
    gen = TorchLinearGenerator()
    rng = np.random.default_rng(3)
    images = gen.decode(rng.standard_normal((n, gen.latent_dim)).astype(np.float32) * 0.5)
    w = rng.standard_normal(16).astype(np.float32)
    b = float(np.median(images.reshape(n, -1) @ w))
    a = gen.A.T @ w
    exact = np.abs(gen.encode(images) @ a + 0.5 * w.sum() - b) / np.linalg.norm(a)
    clf = TorchModuleClassifier(half_space_module(w, b), "net", gen.image_shape, ModelOptions())
    return gen, images, clf, HalfSpace("box", w, b), exact


def test_auto_searches_a_model_with_gradients_by_them_and_lands_on_the_nearest_point():
    gen, images, clf, box, exact = flat()
    settings = SearchSettings(max_radius=8.0, refine_steps=0)
    assert gradient_models(gen, [clf, box]) == ("net",)
    chosen = settings.for_generator(gen, [clf, box], images)
    assert chosen.algorithm == "margin" and chosen.white == ("net",)
    assert "net also by its gradients through the generator" in chosen.chosen
    out = search(gen, [clf, box], images, settings)
    res = out.results["net"]
    assert np.isfinite(res.delta_z).all()
    # a linear margin in z: FMN walks onto the exact distance (the black box alone, below, not)
    assert np.all(res.delta_z >= exact - 1e-4) and np.all(res.delta_z <= 1.005 * exact + 1e-3)
    labels = clf.predict(gen.render(res.z_star, images, gen.decode(gen.encode(images))))
    assert np.all(labels != res.prediction) and np.all(res.adversary_prediction == labels)
    assert np.all(res.queries >= 2 * STEPS + 1)  # the gradient steps and the check
    # the black box beside it walks the same images as without the gradient search
    alone = search(gen, [box], images, settings).results["box"]
    np.testing.assert_array_equal(out.results["box"].delta_z, alone.delta_z)


def test_the_black_box_half_keeps_what_it_finds_closer_and_an_explicit_search_has_no_gradients():
    gen, images, clf, _, exact = flat()
    settings = SearchSettings(max_radius=8.0, refine_steps=0)
    both = search(gen, [clf], images, settings).results["net"]
    black = search(gen, [clf], images, SearchSettings(algorithm="margin", max_radius=8.0,
                                                      refine_steps=0)).results["net"]
    assert np.all(both.delta_z <= black.delta_z + 1e-6)  # the closer of the two
    # margin alone (an explicit --search) walks all its steps; with gradients, half of them
    assert black.queries.mean() > both.queries.mean() - 2 * STEPS
    assert SearchSettings(algorithm="margin").for_generator(gen, [clf], images).white is None


def test_an_adversary_its_own_predict_does_not_confirm_is_left_to_the_black_box(monkeypatch):
    from auditor.search import gradient

    gen, images, clf, _, _ = flat(4)

    def wrong(generator, model, x, z0, base, target, steps=STEPS):
        return z0.copy(), np.full(len(x), 1e-3), np.ones(len(x), dtype=bool)  # z0: no flip

    monkeypatch.setattr(gradient, "search_by_gradient", wrong)
    res = search(gen, [clf], images, SearchSettings(max_radius=8.0, refine_steps=0)).results["net"]
    assert np.isfinite(res.delta_z).all() and np.all(res.delta_z > 1e-3)  # the black box's


@pytest.mark.parametrize("why", ["labels only", "no generator gradients"])
def test_no_gradient_search_where_a_side_gives_no_gradients(why):
    gen, images, clf, box, _ = flat(2)
    if why == "no generator gradients":
        gen.gradients = False
        assert gradient_models(gen, [clf]) == ()
    else:
        assert gradient_models(gen, [box]) == ()


def test_every_fmn_run_has_the_same_shape_whatever_the_batch(monkeypatch):
    """BLAS and oneDNN choose kernels by shape, so a pair's last bits would follow its batch: the
    gradient search runs FMN on exactly ROWS pairs at a time (the last run padded), and a pair's
    adversary is the same in a batch of 5 as in a larger one."""
    import auditor.search.gradient as gradient

    gen, images, clf, _, _ = flat(gradient.ROWS + 4)
    sizes = []
    real = gradient.fmn
    monkeypatch.setattr(gradient, "fmn", lambda margin, m, *a: sizes.append(m) or real(margin, m,
                                                                                         *a))
    z0, base = gen.encode(images), gen.decode(gen.encode(images))
    target = clf.predict(images)
    whole = gradient.search_by_gradient(gen, clf, images, z0, base, target)
    assert sizes == [gradient.ROWS, gradient.ROWS]  # ROWS, and 4 padded to ROWS
    parts = [gradient.search_by_gradient(gen, clf, images[at], z0[at], base[at], target[at])
             for at in (slice(0, 5), slice(5, None))]
    assert set(sizes[2:]) == {gradient.ROWS}
    for got, want in zip(whole, (np.concatenate(p) for p in zip(*parts))):
        np.testing.assert_array_equal(got, want)
