"""Generator bundles: the one owner of ``manifest.json`` (its format, reading and writing), of
the checksums of a bundle's files, and of loading a bundle into its backend.

A bundle is a folder with ``manifest.json`` (modality, family, latent size, architecture,
training, quality figures, SHA-256 of every file) and the files of its family: ``weights.npz``
for the torch VAEs (:mod:`.torch_vae`), ``decoder.onnx`` and ``encoder.onnx`` for an imported
pair (:mod:`.onnx_generator`), a sentence VAE for text (:mod:`auditor.text.bundle`); and where
its author had labels, a reference classifier R (:mod:`auditor.reference`). Nothing in a bundle
is ever executed or unpickled.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..assets import asset_dir
from ..errors import GeneratorError
from ..files import sha256
from .base import DECODINGS, decoding_of  # noqa: F401  (decoding_of: its old home)
from .fit import MOST, generator_fit
from .protocol import Generator

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
NEEDED = {"image": ("image_shape", "hidden")}  # the manifest fields a modality adds
WEIGHTS = "weights.npz"


def read_manifest(bundle: Path) -> dict[str, Any]:
    """The bundle's manifest, checked for the fields its modality needs."""
    try:
        manifest = json.loads((bundle / MANIFEST).read_text())
    except (OSError, ValueError) as err:
        raise GeneratorError(f"{bundle / MANIFEST}: unreadable manifest ({err})") from err
    if not isinstance(manifest, dict):
        raise GeneratorError(f"{bundle / MANIFEST}: expected a JSON object")
    version = manifest.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise GeneratorError(
            f"{bundle}: bundle format {version!r} is newer than this auditor reads "
            f"({FORMAT_VERSION}); upgrade auditor"
        )
    needed = ("name", "family", "latent_dim", "files") + NEEDED.get(modality_of(manifest), ())
    for key in needed:
        if key not in manifest:
            raise GeneratorError(f"{bundle / MANIFEST}: field {key!r} is missing")
    return manifest


def write_manifest(bundle: Path, manifest: dict[str, Any]) -> None:
    """Write ``manifest`` (atomically) as the bundle's manifest.json."""
    from ..files import write_text

    write_text(bundle / MANIFEST, json.dumps(manifest, indent=2) + "\n")


def record_file(bundle: Path, file: str, key: str, record: dict[str, Any]) -> None:
    """Add ``file``'s checksum and its description ``record`` (under ``key``) to the manifest."""
    manifest = read_manifest(bundle)
    manifest[key] = record
    manifest["files"] = dict(manifest["files"], **{file: sha256(bundle / file)})
    write_manifest(bundle, manifest)


def save_bundle(out: Path, encoder, decoder, manifest: dict[str, Any]) -> Path:
    """Write ``weights.npz`` and ``manifest.json`` (with the weights' checksum) into ``out``."""
    from ..files import atomic_write

    out.mkdir(parents=True, exist_ok=True)
    arrays = {f"encoder.{k}": v.detach().cpu().numpy() for k, v in encoder.state_dict().items()}
    arrays |= {f"decoder.{k}": v.detach().cpu().numpy() for k, v in decoder.state_dict().items()}
    atomic_write(out / WEIGHTS, lambda fh: np.savez(fh, **arrays), binary=True)
    manifest = dict(manifest, format_version=FORMAT_VERSION)
    manifest["files"] = {WEIGHTS: sha256(out / WEIGHTS)}
    write_manifest(out, manifest)
    return out


def weights_id(manifest: dict[str, Any]) -> str | None:
    """The checksum that identifies a bundle's generator: its weights', or an imported
    decoder's."""
    files = manifest.get("files", {})
    return files.get(WEIGHTS) or files.get("decoder.onnx")


def bundled_names(modality: str | None = None) -> list[str]:
    """The bundled generators' names; ``modality``: only those of "image" or "text" inputs."""
    root = asset_dir("generators")
    names = sorted(p.name for p in root.iterdir() if (p / MANIFEST).is_file())
    if modality is None:
        return names
    return [n for n in names if modality_of(read_manifest(root / n)) == modality]


def modality_of(manifest: dict[str, Any]) -> str:
    """What the bundle's generator makes: "image" (the default) or "text"."""
    return str(manifest.get("modality", "image"))


def resolve(name_or_path: str) -> Path:
    """A bundled generator's name or a bundle folder -> the bundle folder."""
    path = Path(name_or_path)
    if (path / MANIFEST).is_file():
        return path
    if "/" not in name_or_path and "\\" not in name_or_path:
        bundled = asset_dir("generators") / name_or_path
        if (bundled / MANIFEST).is_file():
            return bundled
    known = ", ".join(bundled_names()) or "none"
    raise GeneratorError(
        f"generator {name_or_path!r} not found: expected a bundled name ({known}) or a folder "
        f"holding {MANIFEST} (made by `auditor train-generator`)"
    )


def _intact(path: Path, manifest: dict[str, Any]) -> bool:
    """The file is there and its SHA-256 is the one the manifest records for it."""
    expected = manifest.get("files", {}).get(path.name)
    return path.is_file() and expected is not None and sha256(path) == expected


def load_generator(name_or_path: str, device: str | None = None) -> Generator:
    """Load a bundle by name or folder, checking its files against the manifest, into the
    backend of its family (generators/backends.py); its reference classifier R, where it ships
    one, as ``reference``."""
    from ..text import bundle as text_bundle  # noqa: F401  (the imports register the backends)
    from . import onnx_generator, torch_vae  # noqa: F401
    from .backends import GENERATORS as backends

    bundle = resolve(name_or_path)
    manifest = read_manifest(bundle)
    family = manifest["family"]
    if family not in backends:
        raise GeneratorError(
            f"{bundle}: generator family {family!r} is unknown; expected one of "
            f"{', '.join(sorted(backends))} (a newer auditor may read it)"
        )
    return backends[family](bundle, manifest, device, load_reference)


def load_reference(bundle: Path, manifest: dict[str, Any], device: str = "cpu") -> Any:
    """The bundle's reference classifier R, or None where it has none; a damaged or ill-fitting
    one is refused."""
    from ..reference.classifiers import OnnxReference, load_torch_reference
    from ..reference.networks import ARCHITECTURES, REFERENCE_FILE

    record = manifest.get("reference_classifier")
    if record is None:
        return None
    path = bundle / str(record.get("file", REFERENCE_FILE))
    if record.get("architecture") == "onnx":
        if not _intact(path, manifest):
            raise GeneratorError(f"{path}: the reference classifier is missing or its checksum "
                                 "does not match the manifest; re-import the bundle")
        from .onnx_generator import generator_session

        names = list(record.get("class_names") or [])
        return OnnxReference(generator_session(path, device), names, record, device)
    if record.get("architecture") not in ARCHITECTURES:
        raise GeneratorError(f"{bundle}: reference classifier architecture "
                             f"{record.get('architecture')!r} is unknown; expected one of "
                             f"{', '.join(ARCHITECTURES)} (a newer auditor may read it)")
    if not _intact(path, manifest):
        raise GeneratorError(f"{path}: the reference classifier is missing or its checksum does "
                             "not match the manifest; re-create the bundle (or remove its "
                             "reference_classifier entry)")
    return load_torch_reference(path, manifest, device)


def choose_generator(
    images_for: Callable[[tuple[int, int, int]], np.ndarray], device: str | None = None,
    sample: int = 256, conversions: Callable[[tuple[int, int, int]], int] | None = None,
) -> tuple[Generator, list[dict[str, Any]]]:
    """``--generator auto``: the bundled generator whose domain fits the images best.

    ``images_for(shape)`` gives the images converted to a generator's domain. Each bundled
    generator's fit check judges up to ``sample`` of them; the one with the smallest share of
    images outside its domain wins (ties, as where every image lies outside every domain: the
    fewest images resized or converted to its domain, as ``conversions(shape)`` counts them, then
    the smallest median fit score, the distance relative to its threshold). Returns it and every
    candidate's figures, best first; a candidate ``fits`` where at most half the images lie
    outside its domain (where none fits, the first is the least bad).
    """
    candidates = []
    for name in bundled_names("image"):
        gen = load_generator(name, device=device)
        images = images_for(gen.image_shape)[:sample]  # type: ignore[arg-type]
        fit, per_image = generator_fit(gen, images)
        scores = per_image.get("fit_score")
        share = float(fit.get("share_outside", 1.0))
        candidates.append({"name": name, "share_outside": share, "fits": share <= MOST,
                           "median_fit_score": float(np.median(scores))
                           if scores is not None and len(scores) else None,
                           "n_images": int(len(images)), "generator": gen,
                           "conversions": conversions(gen.image_shape) if conversions else 0})
    if not candidates:
        raise GeneratorError("no bundled generator found: reinstall auditor, or pass --generator "
                             "DIR")
    candidates.sort(key=lambda c: (c["share_outside"], c["conversions"], c["median_fit_score"]
                                   if c["median_fit_score"] is not None else np.inf))
    best = candidates[0]["generator"]
    for c in candidates:
        del c["generator"], c["conversions"]
    return best, candidates
