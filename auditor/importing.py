"""Generators users bring: a bundle built from an ONNX decoder G and encoder E (issue #13).

    G: float32 latents (N, d) -> images (N, C, H, W) in [0, 1]
    E: images (N, C, H, W) -> latents (N, d), or (N, 2d) whose first d columns are the mean

:func:`import_onnx` checks both on real data (shapes, value range, that E and G fit each other),
copies them into a bundle with their SHA-256, and records the reconstruction error of the given
images as the bundle's reference for the fit check. :class:`OnnxGenerator` runs such a bundle with
ONNX Runtime (CUDA provider where a GPU is present). An ONNX graph gives no gradients here, so the
scan's refinement of z0 (gradient steps on ||G(z) - x||) is skipped for it, and said so.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .errors import GeneratorError, first_line
from .generators import Generator

FAMILY = "onnx"
DECODER, ENCODER = "decoder.onnx", "encoder.onnx"
RANGE_TOLERANCE = 1e-3  # decoded pixels may stray this far outside [0, 1] (float error), no more


def _session(path: Path, device: str | None = None):
    import onnxruntime as ort

    from .models import cuda_present

    ort.set_default_logger_severity(3)
    providers = ["CPUExecutionProvider"]
    if (device == "cuda" or (device is None and cuda_present())) and "CUDAExecutionProvider" in ort.get_available_providers():
        providers.insert(0, "CUDAExecutionProvider")
    try:
        return ort.InferenceSession(str(path), providers=providers)
    except Exception as err:  # ONNX Runtime's load errors: a pickle, garbage, an unsupported op
        raise GeneratorError(f"{path}: not a loadable ONNX model ({first_line(err)}); export it with torch.onnx.export "
                             "(see the README's 'Your own domain')") from err


def _single_io(session, path: Path, what: str) -> tuple[str, list, str]:
    inputs, outputs = session.get_inputs(), session.get_outputs()
    if len(inputs) != 1:
        raise GeneratorError(f"{path}: the {what} must take one input, it takes {len(inputs)}")
    return inputs[0].name, list(inputs[0].shape), outputs[0].name


@dataclass
class OnnxGenerator(Generator):
    """G and E of an imported bundle (ONNX Runtime sessions in ``decoder`` and ``encoder``)."""

    gradients: bool = False  # refinement needs gradients through G: skipped

    def __post_init__(self) -> None:
        self._decoder_io = _single_io(self.decoder, self.path / DECODER, "decoder")
        self._encoder_io = _single_io(self.encoder, self.path / ENCODER, "encoder")

    def encode(self, images: np.ndarray) -> np.ndarray:
        name_in, _, name_out = self._encoder_io
        out = [np.asarray(self.encoder.run([name_out], {name_in: np.ascontiguousarray(images[s : s + self.batch_size])})[0])
               for s in range(0, len(images), self.batch_size)]
        z = np.concatenate(out) if out else np.zeros((0, self.latent_dim), np.float32)
        return z.reshape(len(z), -1)[:, : self.latent_dim].astype(np.float32)

    def decode(self, z: np.ndarray) -> np.ndarray:
        name_in, _, name_out = self._decoder_io
        out = np.empty((len(z), *self.image_shape), dtype=np.float32)
        for s in range(0, len(z), self.batch_size):
            x = self.decoder.run([name_out], {name_in: np.ascontiguousarray(z[s : s + self.batch_size], dtype=np.float32)})[0]
            out[s : s + len(x)] = np.asarray(x, dtype=np.float32).reshape(len(x), *self.image_shape)
        return out

    def refine(self, images: np.ndarray, z0: np.ndarray, steps: int) -> np.ndarray:
        return z0  # no gradients through an ONNX graph here: see the module docstring


def load_onnx_generator(bundle: Path, manifest: dict[str, Any], device: str | None = None) -> OnnxGenerator:
    from .generators import sha256
    from .reference import load_reference

    for file in (DECODER, ENCODER):
        expected = manifest["files"].get(file)
        if not (bundle / file).is_file() or sha256(bundle / file) != expected:
            raise GeneratorError(f"{bundle / file}: missing, or its checksum does not match the manifest; re-import "
                                 "the bundle with `auditor import-generator`")
    return OnnxGenerator(
        name=str(manifest["name"]), path=bundle, manifest=manifest, latent_dim=int(manifest["latent_dim"]),
        image_shape=tuple(int(v) for v in manifest["image_shape"]),  # type: ignore[arg-type]
        decoder=_session(bundle / DECODER, device), encoder=_session(bundle / ENCODER, device),
        device=device or "cpu", reference=load_reference(bundle, manifest, device or "cpu"),
    )


def import_onnx(decoder: Path, encoder: Path, images: np.ndarray, out: Path, name: str,
                description: str = "", reference: Path | None = None, class_names: list[str] | None = None,
                labels: np.ndarray | None = None) -> Path:
    """Check G and E on ``images`` (N, C, H, W) in [0, 1] and write a bundle into ``out``; with
    ``reference``, an ONNX reference classifier R of the same images (scores (N, K) or labels),
    measured on ``labels`` where given."""
    from .files import write_text
    from .generators import FORMAT_VERSION, MANIFEST, sha256

    for path, what in ((decoder, "decoder"), (encoder, "encoder")):
        if not Path(path).is_file():
            raise GeneratorError(f"{what} file {str(path)!r} does not exist")
    g, e = _session(decoder, "cpu"), _session(encoder, "cpu")
    g_in, g_shape, g_out = _single_io(g, decoder, "decoder (G)")
    e_in, _, e_out = _single_io(e, encoder, "encoder (E)")
    if len(g_shape) != 2 or not isinstance(g_shape[1], int):
        raise GeneratorError(f"{decoder}: G must take latents of shape (N, d) with a fixed d, it takes {g_shape}")
    d = int(g_shape[1])
    rng = np.random.default_rng(0)
    z = rng.standard_normal((min(64, max(2, len(images))), d)).astype(np.float32)
    try:
        x = np.asarray(g.run([g_out], {g_in: z})[0])
    except Exception as err:
        raise GeneratorError(f"{decoder}: G fails on latents of shape {z.shape} ({first_line(err)})") from err
    if x.ndim != 4 or x.shape[0] != len(z):
        raise GeneratorError(f"{decoder}: G must give images (N, C, H, W), it gives {x.shape}")
    if x.shape[1:] != images.shape[1:]:
        raise GeneratorError(f"{decoder}: G makes {'x'.join(map(str, x.shape[1:]))} images but --images were read as "
                             f"{'x'.join(map(str, images.shape[1:]))}; pass images of G's domain")
    if not np.all(np.isfinite(x)) or x.min() < -RANGE_TOLERANCE or x.max() > 1 + RANGE_TOLERANCE:
        raise GeneratorError(f"{decoder}: G's pixels must lie in [0, 1], they range over [{np.nanmin(x):.3g}, "
                             f"{np.nanmax(x):.3g}]; end the decoder with a sigmoid or rescale its output")
    try:
        latents = np.asarray(e.run([e_out], {e_in: np.ascontiguousarray(images[:256], dtype=np.float32)})[0])
    except Exception as err:
        raise GeneratorError(f"{encoder}: E fails on images of shape {images[:256].shape} ({first_line(err)})") from err
    if latents.ndim != 2 or latents.shape[1] not in (d, 2 * d):
        raise GeneratorError(f"{encoder}: E must give latents (N, {d}) or (N, {2 * d}) [mean, log-variance] for G's "
                             f"d = {d}, it gives {latents.shape}")
    from .files import write_error

    for src, dst in ((decoder, DECODER), (encoder, ENCODER)):
        try:
            out.mkdir(parents=True, exist_ok=True)
            if Path(src).resolve() != (out / dst).resolve():
                shutil.copyfile(src, out / dst)
        except OSError as err:
            raise write_error(out / dst, err) from err
    manifest: dict[str, Any] = {
        "name": name, "description": description or f"imported from {Path(decoder).name} and {Path(encoder).name}",
        "family": FAMILY, "latent_dim": d, "image_shape": list(images.shape[1:]), "value_range": [0.0, 1.0],
        "hidden": [], "encoder_output": "mean" if latents.shape[1] == d else "mean, log-variance",
        "format_version": FORMAT_VERSION,
        "files": {DECODER: sha256(out / DECODER), ENCODER: sha256(out / ENCODER)},
        "training": {"imported": True, "n_images": int(len(images))},
    }
    gen = load_onnx_generator(out, manifest, "cpu")
    try:
        mse = ((gen.decode(gen.encode(images)) - images) ** 2).reshape(len(images), -1).mean(axis=1)
    except Exception as err:  # ONNX Runtime's errors on the whole set (batch-size limits, memory)
        raise GeneratorError(f"G(E(x)) fails on the {len(images)} --images ({first_line(err)})") from err
    manifest["reference"] = {"recon_mse_mean": float(mse.mean()), "recon_mse_median": float(np.median(mse)),
                             "recon_mse_p95": float(np.quantile(mse, 0.95)), "n_images": int(len(images))}
    if reference is not None:
        manifest["reference_classifier"] = _import_reference(reference, images, out, class_names, labels)
        manifest["files"]["reference.onnx"] = sha256(out / "reference.onnx")
    write_text(out / MANIFEST, json.dumps(manifest, indent=2) + "\n")
    return out


def _import_reference(path: Path, images: np.ndarray, out: Path, class_names: list[str] | None,
                      labels: np.ndarray | None) -> dict[str, Any]:
    from .files import write_error

    if not Path(path).is_file():
        raise GeneratorError(f"reference classifier file {str(path)!r} does not exist")
    session = _session(path, "cpu")
    name_in, _, name_out = _single_io(session, path, "reference classifier")
    try:
        arr = np.asarray(session.run([name_out], {name_in: np.ascontiguousarray(images[:64], dtype=np.float32)})[0])
    except Exception as err:
        raise GeneratorError(f"{path}: R fails on the bundle's images {images.shape[1:]} ({first_line(err)})") from err
    if arr.ndim == 2:
        k = arr.shape[1]
    elif arr.ndim == 1 and np.issubdtype(arr.dtype, np.integer):
        k = len(class_names) if class_names else None
    else:
        raise GeneratorError(f"{path}: R must give scores (N, K) or integer labels (N,), it gives {arr.shape}")
    if k is None:
        raise GeneratorError(f"{path}: R gives labels only: pass --reference-classes with its class names")
    names = class_names or [str(i) for i in range(k)]
    if len(names) != k:
        raise GeneratorError(f"{path}: R gives {k} class scores but {len(names)} class names were given")
    try:
        shutil.copyfile(path, out / "reference.onnx")
    except OSError as err:
        raise write_error(out / "reference.onnx", err) from err
    record: dict[str, Any] = {"file": "reference.onnx", "architecture": "onnx", "class_names": names,
                              "input": "float32 NCHW in [0, 1]", "imported_from": Path(path).name}
    if labels is not None:
        from .reference import OnnxReference

        predicted = OnnxReference(session, names, record).predict(images)
        record["accuracy"] = round(float((predicted == labels).mean()), 4)
        record["n_images"] = int(len(labels))
    return record
