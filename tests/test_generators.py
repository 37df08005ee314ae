from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from auditor.errors import GeneratorError
from auditor.generators import bundled_names, load_generator
from conftest import blob_images


def test_bundle_round_trip(tiny_bundle: Path):
    gen = load_generator(str(tiny_bundle))
    assert gen.latent_dim == 4 and gen.image_shape == (1, 28, 28)
    x = (blob_images(3) / 255.0).astype(np.float32)[:, None]
    z = gen.encode(x)
    assert z.shape == (3, 4)
    out = gen.decode(z)
    assert out.shape == (3, 1, 28, 28) and out.min() >= 0 and out.max() <= 1


def test_refinement_lowers_reconstruction_error(tiny_bundle: Path):
    gen = load_generator(str(tiny_bundle))
    x = (blob_images(6, seed=5) / 255.0).astype(np.float32)[:, None]
    z0 = gen.encode(x)
    before = ((gen.decode(z0) - x) ** 2).mean()
    after = ((gen.decode(gen.refine(x, z0, 30)) - x) ** 2).mean()
    assert after < before


def test_bundled_mnist_is_listed_and_loads():
    assert "mnist" in bundled_names()
    gen = load_generator("mnist")
    assert gen.latent_dim == gen.manifest["latent_dim"] and gen.image_shape == (1, 28, 28)


def copy(bundle: Path, tmp_path: Path) -> Path:
    dest = tmp_path / "copy"
    shutil.copytree(bundle, dest)
    return dest


def test_tampered_weights_fail_the_checksum(tiny_bundle: Path, tmp_path: Path):
    bundle = copy(tiny_bundle, tmp_path)
    data = bytearray((bundle / "weights.npz").read_bytes())
    data[-100] ^= 0xFF
    (bundle / "weights.npz").write_bytes(bytes(data))
    with pytest.raises(GeneratorError, match="checksum"):
        load_generator(str(bundle))


def test_newer_format_is_refused(tiny_bundle: Path, tmp_path: Path):
    bundle = copy(tiny_bundle, tmp_path)
    manifest = json.loads((bundle / "manifest.json").read_text())
    manifest["format_version"] = 99
    (bundle / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(GeneratorError, match="upgrade auditor"):
        load_generator(str(bundle))


def test_missing_bundle_lists_the_known_ones(tmp_path: Path):
    with pytest.raises(GeneratorError, match="mnist"):
        load_generator("nonexistent")
    with pytest.raises(GeneratorError, match="not found"):
        load_generator(str(tmp_path / "nowhere"))
