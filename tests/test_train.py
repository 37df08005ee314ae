from __future__ import annotations

import numpy as np
import pytest

from auditor.errors import OptionError
from auditor.generators.vae_training import TrainConfig, train_vae
from conftest import blob_images

IMAGES = (blob_images(32, seed=3) / 255.0).astype(np.float32)[:, None]


def weights(bundle):
    with np.load(bundle / "weights.npz") as npz:
        return {k: npz[k] for k in npz.files}


@pytest.mark.parametrize("family,hidden", [("vae-mlp", [16]), ("vae-conv", [4, 8])])
def test_interrupted_training_resumes_to_the_same_weights(tmp_path, family, hidden):
    config = TrainConfig(latent_dim=3, hidden=hidden, family=family, steps=40, batch_size=8, checkpoint_every=10,
                         threads=1)
    straight = train_vae(IMAGES, tmp_path / "a", config, {"name": "a"})

    def interrupt(step, losses):
        if step == 25:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train_vae(IMAGES, tmp_path / "b", config, {"name": "b"}, on_step=interrupt)
    assert not (tmp_path / "b" / "weights.npz").exists()
    resumed = train_vae(IMAGES, tmp_path / "b", config, {"name": "b"}, resume=True)
    a, b = weights(straight), weights(resumed)
    assert a.keys() == b.keys()
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])


@pytest.mark.parametrize("family,hidden", [("vae-mlp", [32]), ("vae-conv", [8, 16])])
def test_training_lowers_the_loss(tmp_path, family, hidden):
    losses = []
    config = TrainConfig(latent_dim=3, hidden=hidden, family=family, steps=150, batch_size=16, threads=1)
    train_vae(IMAGES, tmp_path / "g", config, {"name": "g"}, on_step=lambda s, l: losses.append(l["recon"]))
    assert np.mean(losses[-20:]) < 0.7 * np.mean(losses[:20])


@pytest.mark.parametrize("change", [{"steps": 0}, {"latent_dim": -1}, {"hidden": []}, {"holdout": 0.9},
                                    {"family": "gan"}])
def test_bad_settings(change, tmp_path):
    with pytest.raises(OptionError):
        train_vae(IMAGES, tmp_path / "x", TrainConfig(**change), {"name": "x"})


def test_a_conv_bundle_loads_and_maps_images_to_latents_and_back(tmp_path):
    from auditor.generators import load_generator

    config = TrainConfig(latent_dim=5, hidden=[4, 8], family="vae-conv", steps=20, batch_size=8, threads=1)
    bundle = train_vae(IMAGES, tmp_path / "c", config, {"name": "c"})
    gen = load_generator(str(bundle))
    assert gen.manifest["family"] == "vae-conv" and gen.image_shape == (1, 28, 28)
    z = gen.encode(IMAGES[:3])
    assert z.shape == (3, 5)
    x = gen.decode(z)
    assert x.shape == (3, 1, 28, 28) and 0 <= x.min() and x.max() <= 1
    refined = gen.refine(IMAGES[:3], z, 5)
    assert ((gen.decode(refined) - IMAGES[:3]) ** 2).mean() <= ((x - IMAGES[:3]) ** 2).mean()


def test_a_conv_generator_refuses_sides_its_layers_cannot_halve(tmp_path):
    from auditor.errors import GeneratorError

    config = TrainConfig(latent_dim=3, hidden=[4, 8, 8], family="vae-conv", steps=5, batch_size=8, threads=1)
    with pytest.raises(GeneratorError, match="divisible by 8"):
        train_vae(IMAGES, tmp_path / "x", config, {"name": "x"})
