"""Importing a generator users bring: a bundle built from an ONNX decoder G and encoder E
(issue #13), and optionally their ONNX reference classifier R.

    G: float32 latents (N, d) -> images (N, C, H, W) in [0, 1]
    E: images (N, C, H, W) -> latents (N, d), or (N, 2d) whose first d columns are the mean

:func:`import_onnx` checks both on real data (shapes, value range, that E and G fit each other),
copies them into a bundle with their SHA-256, and records the reconstruction error of the given
images as the bundle's reference for the fit check. Such a bundle runs on the ONNX generator
backend (:mod:`auditor.generators.onnx_generator`).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import GeneratorError, first_line
from .onnx_generator import DECODER, ENCODER, FAMILY, generator_session, single_io

RANGE_TOLERANCE = 1e-3  # decoded pixels may stray this far outside [0, 1] (float error), no more

_session = generator_session  # the names before the ONNX backend moved to auditor.generators
_single_io = single_io

__all__ = ["DECODER", "ENCODER", "FAMILY", "RANGE_TOLERANCE", "import_onnx"]


def import_onnx(decoder: Path, encoder: Path, images: np.ndarray, out: Path, name: str,
                description: str = "", reference: Path | None = None,
                class_names: list[str] | None = None, labels: np.ndarray | None = None) -> Path:
    """Check G and E on ``images`` (N, C, H, W) in [0, 1] and write a bundle into ``out``; with
    ``reference``, an ONNX reference classifier R of the same images (scores (N, K) or labels),
    measured on ``labels`` where given."""
    from ..files import sha256
    from .bundle import FORMAT_VERSION, write_manifest
    from .fit import calibrate_generator
    from .onnx_generator import load_onnx

    for path, what in ((decoder, "decoder"), (encoder, "encoder")):
        if not Path(path).is_file():
            raise GeneratorError(f"{what} file {str(path)!r} does not exist")
    d, width = _check_pair(decoder, encoder, images)
    _copy(((decoder, DECODER), (encoder, ENCODER)), out)
    manifest: dict[str, Any] = {
        "name": name,
        "description": (description
                        or f"imported from {Path(decoder).name} and {Path(encoder).name}"),
        "family": FAMILY, "latent_dim": d, "image_shape": list(images.shape[1:]),
        "value_range": [0.0, 1.0], "hidden": [],
        "encoder_output": "mean" if width == d else "mean, log-variance",
        "format_version": FORMAT_VERSION,
        "files": {DECODER: sha256(out / DECODER), ENCODER: sha256(out / ENCODER)},
        "training": {"imported": True, "n_images": int(len(images))},
    }
    gen = load_onnx(out, manifest, "cpu")
    try:
        mse = ((gen.decode(gen.encode(images)) - images) ** 2).reshape(len(images), -1).mean(axis=1)
    except Exception as err:  # ONNX Runtime's errors on the whole set (batch-size limits, memory)
        raise GeneratorError(f"G(E(x)) fails on the {len(images)} --images "
                             f"({first_line(err)})") from err
    manifest["reference"] = {"recon_mse_mean": float(mse.mean()),
                             "recon_mse_median": float(np.median(mse)),
                             "recon_mse_p95": float(np.quantile(mse, 0.95)),
                             "n_images": int(len(images))}
    domain_fit = calibrate_generator(gen.encode, gen.decode, images,
                                     f"the {len(images)} --images given to import-generator")
    if domain_fit is not None:
        manifest["domain_fit"] = domain_fit
    if reference is not None:
        manifest["reference_classifier"] = _import_reference(reference, images, out, class_names,
                                                             labels)
        manifest["files"]["reference.onnx"] = sha256(out / "reference.onnx")
    write_manifest(out, manifest)
    return out


def _check_pair(decoder: Path, encoder: Path, images: np.ndarray) -> tuple[int, int]:
    """G's latent size d and the width of E's output (d or 2d), after checking that G makes
    images of ``images``' shape in [0, 1] and that E fits G."""
    g, e = generator_session(decoder, "cpu"), generator_session(encoder, "cpu")
    g_in, g_shape, g_out = single_io(g, decoder, "decoder (G)")
    e_in, _, e_out = single_io(e, encoder, "encoder (E)")
    if len(g_shape) != 2 or not isinstance(g_shape[1], int):
        raise GeneratorError(f"{decoder}: G must take latents of shape (N, d) with a fixed d, it "
                             f"takes {g_shape}")
    d = int(g_shape[1])
    rng = np.random.default_rng(0)
    z = rng.standard_normal((min(64, max(2, len(images))), d)).astype(np.float32)
    x = _run(g, g_in, g_out, z, f"{decoder}: G fails on latents of shape {z.shape}")
    if x.ndim != 4 or x.shape[0] != len(z):
        raise GeneratorError(f"{decoder}: G must give images (N, C, H, W), it gives {x.shape}")
    if x.shape[1:] != images.shape[1:]:
        raise GeneratorError(f"{decoder}: G makes {'x'.join(map(str, x.shape[1:]))} images but "
                             f"--images were read as {'x'.join(map(str, images.shape[1:]))}; pass "
                             "images of G's domain")
    if not np.all(np.isfinite(x)) or x.min() < -RANGE_TOLERANCE or x.max() > 1 + RANGE_TOLERANCE:
        raise GeneratorError(f"{decoder}: G's pixels must lie in [0, 1], they range over "
                             f"[{np.nanmin(x):.3g}, {np.nanmax(x):.3g}]; end the decoder with a "
                             "sigmoid or rescale its output")
    sample = np.ascontiguousarray(images[:256], dtype=np.float32)
    latents = _run(e, e_in, e_out, sample,
                   f"{encoder}: E fails on images of shape {images[:256].shape}")
    if latents.ndim != 2 or latents.shape[1] not in (d, 2 * d):
        raise GeneratorError(f"{encoder}: E must give latents (N, {d}) or (N, {2 * d}) [mean, "
                             f"log-variance] for G's d = {d}, it gives {latents.shape}")
    return d, int(latents.shape[1])


def _run(session, name_in: str, name_out: str, batch: np.ndarray, failure: str) -> np.ndarray:
    """One ONNX graph's output on ``batch``; where the graph fails, ``failure`` and its first
    line as a GeneratorError."""
    try:
        return np.asarray(session.run([name_out], {name_in: batch})[0])
    except Exception as err:  # ONNX Runtime's own errors are many and undocumented
        raise GeneratorError(f"{failure} ({first_line(err)})") from err


def _copy(files, out: Path) -> None:
    """Copy (source, name in the bundle) pairs into ``out`` (a file onto itself is left)."""
    from ..files import write_error

    for src, dst in files:
        try:
            out.mkdir(parents=True, exist_ok=True)
            if Path(src).resolve() != (out / dst).resolve():
                shutil.copyfile(src, out / dst)
        except OSError as err:
            raise write_error(out / dst, err) from err


def _import_reference(path: Path, images: np.ndarray, out: Path, class_names: list[str] | None,
                      labels: np.ndarray | None) -> dict[str, Any]:
    """Check R on the bundle's images, copy it into ``out``, measure it on ``labels``; its
    manifest record."""
    from ..files import write_error

    if not Path(path).is_file():
        raise GeneratorError(f"reference classifier file {str(path)!r} does not exist")
    session = generator_session(path, "cpu")
    name_in, _, name_out = single_io(session, path, "reference classifier")
    sample = np.ascontiguousarray(images[:64], dtype=np.float32)
    arr = _run(session, name_in, name_out, sample,
               f"{path}: R fails on the bundle's images {images.shape[1:]}")
    if arr.ndim == 2:
        k = arr.shape[1]
    elif arr.ndim == 1 and np.issubdtype(arr.dtype, np.integer):
        k = len(class_names) if class_names else None
    else:
        raise GeneratorError(f"{path}: R must give scores (N, K) or integer labels (N,), it gives "
                             f"{arr.shape}")
    if k is None:
        raise GeneratorError(f"{path}: R gives labels only: pass --reference-classes with its "
                             "class names")
    names = class_names or [str(i) for i in range(k)]
    if len(names) != k:
        raise GeneratorError(f"{path}: R gives {k} class scores but {len(names)} class names were "
                             "given")
    try:
        shutil.copyfile(path, out / "reference.onnx")
    except OSError as err:
        raise write_error(out / "reference.onnx", err) from err
    record: dict[str, Any] = {"file": "reference.onnx", "architecture": "onnx",
                              "class_names": names, "input": "float32 NCHW in [0, 1]",
                              "imported_from": Path(path).name}
    if labels is not None:
        from ..reference.classifiers import OnnxReference

        predicted = OnnxReference(session, names, record).predict(images)
        record["accuracy"] = round(float((predicted == labels).mean()), 4)
        record["n_images"] = int(len(labels))
    return record
