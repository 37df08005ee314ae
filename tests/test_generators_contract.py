"""The Generator protocol, the same checks for every backend: a torch VAE bundle, the same VAE
imported as ONNX graphs, and a text bundle."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

from auditor.generators import Generator, load_generator
from auditor.models import Classifier


def _torch(tiny_bundle: Path, tmp_path: Path):
    return load_generator(str(tiny_bundle), device="cpu")


def _onnx(tiny_bundle: Path, tmp_path: Path):
    import torch
    from torch import nn

    from auditor.generators.onnx_import import import_onnx

    gen = load_generator(str(tiny_bundle), device="cpu")
    c, h, w = gen.image_shape
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the legacy exporter's deprecation notice
        for module, example, name, names in (
            (nn.Sequential(gen.decoder, nn.Unflatten(1, (c, h, w))), torch.zeros(2, gen.latent_dim),
             "G.onnx", ["z", "x"]),
            (nn.Sequential(nn.Flatten(), gen.encoder), torch.zeros(2, c, h, w), "E.onnx",
             ["x", "z"]),
        ):
            torch.onnx.export(module.eval(), example, str(tmp_path / name), input_names=names[:1],
                              output_names=names[1:], dynamic_axes={n: {0: "N"} for n in names},
                              dynamo=False)
    images = gen.decode(np.random.default_rng(0).standard_normal((16, gen.latent_dim),
                                                                 dtype=np.float32))
    bundle = import_onnx(tmp_path / "G.onnx", tmp_path / "E.onnx", images, tmp_path / "imported",
                         "imported")
    return load_generator(str(bundle), device="cpu")


def _text(tiny_bundle: Path, tmp_path: Path):
    from text_fixtures import make_bundle

    return load_generator(str(make_bundle(tmp_path / "text")))


# name: (make, modality, gradients)
BACKENDS = {"torch": (_torch, "image", True), "onnx": (_onnx, "image", False),
            "text": (_text, "text", False)}


def _inputs(gen, n: int = 5) -> np.ndarray:
    if gen.modality == "text":
        from text_fixtures import pairs

        return np.array(pairs(n, seed=2)[0], dtype=object)
    z = np.random.default_rng(1).standard_normal((n, gen.latent_dim), dtype=np.float32)
    return gen.decode(z)


@pytest.mark.parametrize("backend", list(BACKENDS))
def test_every_backend_keeps_the_generator_protocol(backend, tiny_bundle, tmp_path):
    make, modality, gradients = BACKENDS[backend]
    gen = make(tiny_bundle, tmp_path)
    assert isinstance(gen, Generator)
    assert gen.modality == modality and gen.gradients is gradients
    assert isinstance(gen.name, str) and isinstance(gen.manifest, dict) and gen.path.is_dir()
    assert isinstance(gen.describe_decoding(), str) and gen.decoding
    d = gen.latent_dim
    assert isinstance(d, int) and d > 0
    x = _inputs(gen)
    z0 = gen.encode(x)
    assert z0.shape == (len(x), d) and z0.dtype == np.float32
    assert gen.refine(x, z0, 2).shape == z0.shape
    base = gen.decode(z0)
    if modality == "image":
        assert gen.image_shape is not None and base.shape == (len(x), *gen.image_shape)
        assert base.dtype == np.float32 and base.min() >= 0 and base.max() <= 1
    else:
        assert gen.image_shape is None and base.shape == (len(x),) and base.dtype == object
    z = z0 + 0.1
    assert gen.render(z, x, base).shape == x.shape
    assert gen.reconstruction(x, base).shape == x.shape
    assert gen.prior(z, x).shape == x.shape
    assert gen.reference is None or isinstance(gen.reference, Classifier)


def test_without_gradients_refinement_leaves_z0(tiny_bundle, tmp_path):
    gen = _onnx(tiny_bundle, tmp_path)
    x = _inputs(gen)
    z0 = gen.encode(x)
    np.testing.assert_array_equal(gen.refine(x, z0, 5), z0)


FAMILY_CASES = {"vae-mlp": "torch", "vae-conv": "torch", "onnx": "onnx", "sentence-vae-gru": "text"}


def test_every_registered_generator_family_has_a_contract_case():
    """The contract runs over the registry: a family registered without a case here fails."""
    from auditor.generators import load_generator  # noqa: F401
    from auditor.generators import onnx_generator, torch_vae  # noqa: F401  (register)
    from auditor.generators.backends import GENERATORS
    from auditor.text import bundle  # noqa: F401  (registers)

    assert set(GENERATORS) == set(FAMILY_CASES)
    assert all(FAMILY_CASES[f] in BACKENDS for f in GENERATORS)
