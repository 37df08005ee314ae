from __future__ import annotations

import numpy as np
import pytest

from auditor.errors import OptionError
from auditor.train import TrainConfig, train_vae
from conftest import blob_images

IMAGES = (blob_images(32, seed=3) / 255.0).astype(np.float32)[:, None]


def weights(bundle):
    with np.load(bundle / "weights.npz") as npz:
        return {k: npz[k] for k in npz.files}


def test_interrupted_training_resumes_to_the_same_weights(tmp_path):
    config = TrainConfig(latent_dim=3, hidden=[16], steps=40, batch_size=8, checkpoint_every=10, threads=1)
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


def test_training_lowers_the_loss(tmp_path):
    losses = []
    config = TrainConfig(latent_dim=3, hidden=[32], steps=150, batch_size=16, threads=1)
    train_vae(IMAGES, tmp_path / "g", config, {"name": "g"}, on_step=lambda s, l: losses.append(l["recon"]))
    assert np.mean(losses[-20:]) < 0.7 * np.mean(losses[:20])


@pytest.mark.parametrize("change", [{"steps": 0}, {"latent_dim": -1}, {"hidden": []}, {"holdout": 0.9}])
def test_bad_settings(change, tmp_path):
    with pytest.raises(OptionError):
        train_vae(IMAGES, tmp_path / "x", TrainConfig(**change), {"name": "x"})
