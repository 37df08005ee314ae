"""Generators G: z -> x with an inverter I: x -> z, loaded from bundles of data.

The seam is :class:`~auditor.generators.protocol.Generator`. ``bundle`` alone owns the
manifest, the checksums and which backend loads a bundle; the backends sit beside it:
``torch_vae`` (the bundled VAEs, trained by ``auditor train-generator``), ``onnx_generator``
(a decoder and encoder imported by ``auditor import-generator``) and, for text,
:mod:`auditor.text.bundle`. ``base`` holds the image decoding rules, ``fit`` the check of how
well inputs lie in a generator's domain.
"""

from __future__ import annotations

from ..files import sha256
from .base import DECODINGS, ImageGenerator
from .bundle import (
    FORMAT_VERSION,
    MANIFEST,
    WEIGHTS,
    bundled_names,
    choose_generator,
    decoding_of,
    load_generator,
    load_reference,
    modality_of,
    read_manifest,
    record_file,
    resolve,
    save_bundle,
    weights_id,
    write_manifest,
)
from .fit import (
    FALSE_ALARM,
    MOST,
    OUTSIDE_FACTOR,
    PARTIAL_SHARE,
    POOR_SHARE,
    calibrate_generator,
    generator_fit,
)
from .onnx_generator import OnnxGenerator
from .protocol import Generator
from .torch_vae import CONV_FC, FAMILIES, VaeGenerator, build_vae

__all__ = [
    "CONV_FC", "DECODINGS", "FALSE_ALARM", "FAMILIES", "FORMAT_VERSION", "MANIFEST", "MOST",
    "OUTSIDE_FACTOR", "PARTIAL_SHARE", "POOR_SHARE", "WEIGHTS", "Generator", "ImageGenerator",
    "OnnxGenerator", "VaeGenerator", "build_vae", "bundled_names", "calibrate_generator",
    "choose_generator", "decoding_of", "generator_fit", "load_generator", "load_reference",
    "modality_of", "read_manifest", "record_file", "resolve", "save_bundle", "sha256", "weights_id",
    "write_manifest",
]
