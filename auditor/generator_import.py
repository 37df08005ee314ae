"""Importing a generator you already have, as `auditor import-generator` does it: an ONNX
decoder G and encoder E (and optionally a reference classifier R) become a bundle. First
:func:`plan_import` reads G's image shape (one latent decoded) and the images of its domain,
then :func:`import_generator` checks G and E on them and writes the bundle (the checks and the
bundle's format are :func:`auditor.generators.onnx_import.import_onnx`'s). Nothing here prints.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from .data import ImageSet
from .errors import GeneratorError, OptionError, first_line


@dataclass
class ImportPlan:
    """What :func:`import_generator` will check and write."""

    decoder: Path  # ONNX G: float32 latents (N, d) -> images (N, C, H, W) in [0, 1]
    encoder: Path  # ONNX E: images (N, C, H, W) -> latents (N, d) or (N, 2d)
    images: ImageSet  # images of G's domain, read at G's shape; labels measure R where given
    out: Path  # the bundle folder to write
    name: str  # the generator's name
    reference: Path | None  # ONNX reference classifier R, if any
    reference_classes: list[str] | None  # R's class names

    @property
    def shape(self) -> tuple[int, int, int]:
        """(C, H, W) of G's images, as the images were read."""
        return tuple(int(v) for v in self.images.images.shape[1:])  # type: ignore[return-value]


@dataclass(frozen=True)
class ImportedGenerator:
    """A bundle :func:`import_generator` wrote, with the figures it checked G and E by."""

    bundle: Path  # use it with ``--generator`` / ``generator=``
    n_images: int  # images G(E(x)) was checked on
    recon_mse_median: float  # median reconstruction error on them: the fit check's reference
    decoder_file: str  # G's file name in the bundle


def plan_import(
    decoder: str | os.PathLike, encoder: str | os.PathLike, images: str | os.PathLike,
    out: str | os.PathLike, *, name: str | None = None, size: int | None = None,
    reference: str | os.PathLike | None = None, reference_classes: Sequence[str] | None = None,
) -> ImportPlan:
    """Probe G's image shape (``size`` overrides its side, where G's cannot be read) and read
    ``images`` (a folder, .npz or .npy) at it. ``name`` defaults to the ``out`` folder's name.
    Raises :class:`OptionError`, :class:`GeneratorError` and :class:`DataError` with the CLI's
    messages."""
    from .data import load_images
    from .generators.onnx_generator import generator_session

    decoder = Path(decoder)
    session = generator_session(decoder, "cpu") if decoder.is_file() else None
    if session is None:
        raise OptionError(f"decoder file {str(decoder)!r} does not exist")
    data = load_images(Path(images), _decoder_shape(session, size))
    out = Path(out)
    return ImportPlan(decoder, Path(encoder), data, out, name or out.resolve().name,
                      None if reference is None else Path(reference),
                      list(reference_classes) if reference_classes else None)


def import_generator(plan: ImportPlan) -> ImportedGenerator:
    """Check G and E on the plan's images (shapes, value range, that they fit each other),
    measure R where given, and write the bundle into ``plan.out``."""
    from .generators import read_manifest
    from .generators.onnx_import import DECODER, import_onnx

    bundle = import_onnx(plan.decoder, plan.encoder, plan.images.images, plan.out, plan.name,
                         reference=plan.reference, class_names=plan.reference_classes,
                         labels=plan.images.labels)
    ref = read_manifest(bundle)["reference"]
    return ImportedGenerator(bundle, ref["n_images"], ref["recon_mse_median"], DECODER)


def _decoder_shape(session, size: int | None) -> tuple[int, int, int]:
    """G's image shape (C, H, W): decoded from one latent."""
    import numpy as np

    inp = session.get_inputs()[0]
    if len(inp.shape) != 2 or not isinstance(inp.shape[1], int):
        raise GeneratorError("the decoder must take latents of shape (N, d) with a fixed d, it "
                             f"takes {inp.shape}")
    try:
        x = np.asarray(session.run(None, {inp.name: np.zeros((1, inp.shape[1]), np.float32)})[0])
    except Exception as err:  # ONNX Runtime's errors: a wrong input type, an op that fails
        raise GeneratorError(f"the decoder fails on a float32 latent of shape (1, {inp.shape[1]}) "
                             f"({first_line(err)})") from err
    if x.ndim != 4:
        raise GeneratorError(f"the decoder must give images (N, C, H, W), it gives {x.shape}")
    return (int(x.shape[1]), size or int(x.shape[2]), size or int(x.shape[3]))
