"""The ONNX generator backend: a bundle made by ``auditor import-generator`` from a decoder G and
an encoder E the user already had, run with ONNX Runtime (sessions from
:mod:`auditor.onnx_session`; the CUDA provider where a GPU is present).

    G: float32 latents (N, d) -> images (N, C, H, W) in [0, 1]
    E: images (N, C, H, W) -> latents (N, d), or (N, 2d) whose first d columns are the mean

An ONNX graph gives no gradients here, so the scan's refinement of z0 (gradient steps on
||G(z) - x||) is skipped for it, and said so. The bundle module checks the files' checksums
before they get here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import GeneratorError, first_line
from ..files import sha256
from ..onnx_session import open_session
from .backends import GENERATORS
from .base import BundleGenerator

FAMILY = "onnx"
FAMILIES = (FAMILY,)  # the manifest families this backend loads
DECODER, ENCODER = "decoder.onnx", "encoder.onnx"


def generator_session(path: Path, device: str | None = None) -> Any:
    """An ONNX session of a bundle's graph; a file ONNX Runtime cannot load is a one-line
    GeneratorError."""
    return open_session(path, device=device, error=lambda err: GeneratorError(
        f"{path}: not a loadable ONNX model ({first_line(err)}); export it with torch.onnx.export "
        "(see the README's 'Your own domain')"))


def single_io(session, path: Path, what: str) -> tuple[str, list, str]:
    """(input name, input shape, first output name) of a graph that takes one input."""
    inputs, outputs = session.get_inputs(), session.get_outputs()
    if len(inputs) != 1:
        raise GeneratorError(f"{path}: the {what} must take one input, it takes {len(inputs)}")
    return inputs[0].name, list(inputs[0].shape), outputs[0].name


@dataclass
class OnnxGenerator(BundleGenerator):
    """G and E of an imported bundle (ONNX Runtime sessions in ``decoder`` and ``encoder``)."""

    gradients: bool = False  # refinement needs gradients through G: skipped
    decoding: str = "plain"

    def __post_init__(self) -> None:
        self._decoder_io = single_io(self.decoder, self.path / DECODER, "decoder")
        self._encoder_io = single_io(self.encoder, self.path / ENCODER, "encoder")

    def encode(self, images: np.ndarray) -> np.ndarray:
        """E(x), its first d columns. (N, C, H, W) -> (N, d)."""
        name_in, _, name_out = self._encoder_io
        out = [np.asarray(self.encoder.run(
                   [name_out], {name_in: np.ascontiguousarray(images[s : s + self.batch_size])})[0])
               for s in range(0, len(images), self.batch_size)]
        z = np.concatenate(out) if out else np.zeros((0, self.latent_dim), np.float32)
        return z.reshape(len(z), -1)[:, : self.latent_dim].astype(np.float32)

    def decode(self, z: np.ndarray) -> np.ndarray:
        """G(z). (N, d) -> (N, C, H, W) float32."""
        name_in, _, name_out = self._decoder_io
        out = np.empty((len(z), *self.image_shape), dtype=np.float32)
        for s in range(0, len(z), self.batch_size):
            batch = np.ascontiguousarray(z[s : s + self.batch_size], dtype=np.float32)
            x = self.decoder.run([name_out], {name_in: batch})[0]
            out[s : s + len(x)] = np.asarray(x, dtype=np.float32).reshape(len(x), *self.image_shape)
        return out

    def refine(self, images: np.ndarray, z0: np.ndarray, steps: int) -> np.ndarray:
        return z0  # no gradients through an ONNX graph here: see the module docstring


def load_onnx(bundle: Path, manifest: dict[str, Any], device: str | None = None) -> OnnxGenerator:
    """The imported bundle's G and E (files already checked); its reference classifier is the
    bundle module's to attach."""
    return OnnxGenerator(
        name=str(manifest["name"]), path=bundle, manifest=manifest,
        latent_dim=int(manifest["latent_dim"]),
        image_shape=tuple(int(v) for v in manifest["image_shape"]),  # type: ignore[arg-type]
        decoder=generator_session(bundle / DECODER, device),
        encoder=generator_session(bundle / ENCODER, device), device=device or "cpu",
    )


@GENERATORS.register(*FAMILIES)
def load_bundle(bundle: Path, manifest: dict[str, Any], device: str | None,
                load_reference) -> OnnxGenerator:
    """An imported bundle, its decoder and encoder checked against the manifest; R through
    ``load_reference`` (bundle.py's)."""
    for file in (DECODER, ENCODER):
        path = bundle / file
        expected = manifest.get("files", {}).get(file)
        if not (path.is_file() and expected is not None and sha256(path) == expected):
            raise GeneratorError(f"{bundle / file}: missing, or its checksum does not match "
                                 "the manifest; re-import the bundle with "
                                 "`auditor import-generator`")
    gen = load_onnx(bundle, manifest, device)
    gen.reference = load_reference(bundle, manifest, device or "cpu")
    return gen
