"""Generators G: z -> x with an inverter I: x -> z, loaded from bundles of data.

A bundle is a folder with ``manifest.json`` (domain, latent size, architecture, training,
quality figures, SHA-256 of every weight file) and ``weights.npz`` (plain arrays, loaded
with ``allow_pickle=False``: nothing in a bundle is ever executed or unpickled).

Two families of variational auto-encoders, fully connected (``vae-mlp``) and convolutional
(``vae-conv``): the encoder's mean is the inverter, the decoder the generator (Zhao et al.
name VAEs as a drop-in for the GAN; an auto-encoder's encoder is an inverter by construction).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .assets import asset_dir
from .errors import GeneratorError
from .files import sha256  # noqa: F401  (auditor.generators.sha256 is used across the package)

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
WEIGHTS = "weights.npz"


FAMILIES = ("vae-mlp", "vae-conv")
CONV_FC = 128  # the conv family's fully connected width between the feature map and z


def build_vae(image_shape: tuple[int, int, int], latent_dim: int, hidden: list[int], family: str = "vae-mlp"):
    """A VAE's encoder (N, D) -> (N, 2d) [mean, log-variance] and decoder (N, d) -> (N, D).

    Both take and give flat images (D = C*H*W), whatever the family, so training, encoding,
    decoding and refinement are the same code for all of them.

    - ``vae-mlp``: fully connected layers of widths ``hidden``.
    - ``vae-conv``: ``hidden`` are the channels of stride-2 4x4 convolutions (each halves the
      side: 28 -> 14 -> 7 with two), then one fully connected layer of CONV_FC units; the
      decoder mirrors it with transposed convolutions.
    """
    from torch import nn

    from .layers import Sigmoid

    if family not in FAMILIES:
        raise GeneratorError(f"generator family {family!r} is unknown; expected one of {', '.join(FAMILIES)}")
    dim = int(np.prod(image_shape))
    if family == "vae-mlp":
        enc: list[nn.Module] = []
        width = dim
        for h in hidden:
            enc += [nn.Linear(width, h), nn.ReLU()]
            width = h
        enc.append(nn.Linear(width, 2 * latent_dim))
        dec: list[nn.Module] = []
        width = latent_dim
        for h in reversed(hidden):
            dec += [nn.Linear(width, h), nn.ReLU()]
            width = h
        dec += [nn.Linear(width, dim), Sigmoid()]
        return nn.Sequential(*enc), nn.Sequential(*dec)
    c, h, w = image_shape
    side = 2 ** len(hidden)
    if h % side or w % side:
        raise GeneratorError(f"a conv generator with {len(hidden)} stride-2 layers needs image sides divisible by "
                             f"{side}, got {h}x{w}; use fewer --hidden channels")
    fh, fw = h // side, w // side
    features = hidden[-1] * fh * fw
    enc = [nn.Unflatten(1, (c, h, w))]
    width = c
    for ch in hidden:
        enc += [nn.Conv2d(width, ch, 4, stride=2, padding=1), nn.ReLU()]
        width = ch
    enc += [nn.Flatten(), nn.Linear(features, CONV_FC), nn.ReLU(), nn.Linear(CONV_FC, 2 * latent_dim)]
    dec = [nn.Linear(latent_dim, CONV_FC), nn.ReLU(), nn.Linear(CONV_FC, features), nn.ReLU(),
           nn.Unflatten(1, (hidden[-1], fh, fw))]
    for k in range(len(hidden) - 1, 0, -1):
        dec += [nn.ConvTranspose2d(hidden[k], hidden[k - 1], 4, stride=2, padding=1), nn.ReLU()]
    dec += [nn.ConvTranspose2d(hidden[0], c, 4, stride=2, padding=1), Sigmoid(), nn.Flatten()]
    return nn.Sequential(*enc), nn.Sequential(*dec)


def save_bundle(
    out: Path, encoder, decoder, manifest: dict[str, Any]
) -> Path:
    """Write ``weights.npz`` and ``manifest.json`` (with the weights' checksum) into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    arrays = {f"encoder.{k}": v.detach().cpu().numpy() for k, v in encoder.state_dict().items()}
    arrays |= {f"decoder.{k}": v.detach().cpu().numpy() for k, v in decoder.state_dict().items()}
    from .files import atomic_write, write_text

    atomic_write(out / WEIGHTS, lambda fh: np.savez(fh, **arrays), binary=True)
    manifest = dict(manifest, format_version=FORMAT_VERSION)
    manifest["files"] = {WEIGHTS: sha256(out / WEIGHTS)}
    write_text(out / MANIFEST, json.dumps(manifest, indent=2) + "\n")
    return out


def weights_id(manifest: dict[str, Any]) -> str | None:
    """The checksum that identifies a bundle's generator: its weights', or an imported decoder's."""
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


def read_manifest(bundle: Path) -> dict[str, Any]:
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
    needed = ("name", "family", "latent_dim", "files") + (("image_shape", "hidden") if modality_of(manifest) == "image" else ())
    for key in needed:
        if key not in manifest:
            raise GeneratorError(f"{bundle / MANIFEST}: field {key!r} is missing")
    return manifest


def load_generator(name_or_path: str, device: str | None = None) -> Generator:
    """Load a bundle by name or folder, checking its weights against the manifest."""
    import torch

    bundle = resolve(name_or_path)
    manifest = read_manifest(bundle)
    if modality_of(manifest) == "text":
        from .text.bundle import load_text_bundle

        return load_text_bundle(bundle, manifest)  # type: ignore[return-value]
    if manifest["family"] == "onnx":
        from .importing import load_onnx_generator

        return load_onnx_generator(bundle, manifest, device)  # type: ignore[return-value]
    if manifest["family"] not in FAMILIES:
        raise GeneratorError(
            f"{bundle}: generator family {manifest['family']!r} is unknown; expected one of {', '.join(FAMILIES)}, onnx "
            "(a newer auditor may read it)"
        )
    weights = bundle / WEIGHTS
    expected = manifest["files"].get(WEIGHTS)
    if not weights.is_file():
        raise GeneratorError(f"{bundle}: {WEIGHTS} is missing; re-create the bundle")
    if sha256(weights) != expected:
        raise GeneratorError(
            f"{weights}: checksum does not match the manifest; the weights were changed or "
            "corrupted, re-create the bundle with `auditor train-generator`"
        )
    shape = tuple(int(v) for v in manifest["image_shape"])
    encoder, decoder = build_vae(shape, int(manifest["latent_dim"]), list(manifest["hidden"]), manifest["family"])
    try:
        with np.load(weights, allow_pickle=False) as npz:
            arrays = {k: torch.from_numpy(npz[k]) for k in npz.files}
        encoder.load_state_dict(
            {k[8:]: v for k, v in arrays.items() if k.startswith("encoder.")}
        )
        decoder.load_state_dict(
            {k[8:]: v for k, v in arrays.items() if k.startswith("decoder.")}
        )
    except (OSError, ValueError, RuntimeError, KeyError) as err:
        raise GeneratorError(f"{weights}: weights do not fit the manifest ({err})") from err
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    from .reference import load_reference

    return Generator(
        name=str(manifest["name"]),
        path=bundle,
        manifest=manifest,
        latent_dim=int(manifest["latent_dim"]),
        image_shape=shape,  # type: ignore[arg-type]
        encoder=encoder.to(device).eval(),
        decoder=decoder.to(device).eval(),
        device=device,
        reference=load_reference(bundle, manifest, device),
        decoding=decoding_of(manifest, bundle),
    )


DECODINGS = {
    "plain": "a candidate image is the generator's decode G(z)",
    "detail-preserving": "a candidate image is clip(x + G(z) - G(z0), 0, 1): the photo plus the change the "
                         "latent move makes, so the reconstruction is the photo itself",
}


def decoding_of(manifest: dict[str, Any], bundle: Path) -> str:
    rule = str(manifest.get("decoding", "plain"))
    if rule not in DECODINGS:
        raise GeneratorError(f"{bundle}: decoding rule {rule!r} is unknown; expected one of {', '.join(DECODINGS)} "
                             "(a newer auditor may read it)")
    return rule


OUTSIDE_FACTOR = 2.0  # an image is outside the domain above this x the reference's p95 error
POOR_SHARE, PARTIAL_SHARE = 0.25, 0.05


def generator_fit(generator: Generator, images: np.ndarray) -> tuple[dict[str, Any], np.ndarray]:
    """How well the data lies in the generator's domain: (summary, per-image MSE).

    Each image's raw reconstruction error ||G(I(x)) - x||^2 / D is compared with the
    manifest's reference, measured on held-out training images. Measured on the bundled
    mnist generator: 1% of test digits lie above 2x the reference p95, against 72% of
    photo crops, 81% of digits shifted 6 pixels off-centre and 100% of inverted digits.
    """
    mse = np.concatenate([
        ((generator.decode(generator.encode(x)) - x) ** 2).reshape(len(x), -1).mean(axis=1)
        for x in (images[i : i + 1024] for i in range(0, len(images), 1024))
    ]) if len(images) else np.zeros(0)
    ref = generator.manifest.get("reference", {})
    p95 = ref.get("recon_mse_p95")
    if not p95:
        return {"verdict": "unknown", "message": "the generator's manifest has no reference error"}, mse
    threshold = OUTSIDE_FACTOR * p95
    share = float((mse > threshold).mean())
    verdict = "poor" if share > POOR_SHARE else "partial" if share > PARTIAL_SHARE else "good"
    if verdict == "good":
        message = f"the images lie in generator {generator.name}'s domain"
    else:
        message = (
            f"{100 * share:.0f}% of the images lie outside generator {generator.name}'s domain "
            f"(reconstruction error above {OUTSIDE_FACTOR:g}x its reference): their dz measures the "
            "generator more than the model; train a generator on such images with "
            "`auditor train-generator DATA --out DIR` and scan with --generator DIR"
        )
    return {
        "verdict": verdict,
        "share_outside": share,
        "data_recon_mse_median": float(np.median(mse)),
        "reference_recon_mse_median": ref.get("recon_mse_median"),
        "threshold": threshold,
        "message": message,
    }, mse


def choose_generator(
    images_for: Callable[[tuple[int, int, int]], np.ndarray], device: str | None = None, sample: int = 256,
) -> tuple["Generator", list[dict[str, Any]]]:
    """``--generator auto``: the bundled generator whose domain fits the images best.

    ``images_for(shape)`` gives the images converted to a generator's domain. Each bundled
    generator reconstructs up to ``sample`` of them; the one with the smallest share of
    images outside its domain wins (ties: the smallest median reconstruction error relative
    to its own reference). Returns it and every candidate's figures, best first.
    """
    candidates = []
    for name in bundled_names("image"):
        gen = load_generator(name, device=device)
        images = images_for(gen.image_shape)[:sample]
        fit, mse = generator_fit(gen, images)
        reference = gen.manifest.get("reference", {}).get("recon_mse_median") or np.inf
        candidates.append({"name": name, "share_outside": float(fit.get("share_outside", 1.0)),
                           "relative_error": float(np.median(mse) / reference) if len(mse) else np.inf,
                           "n_images": int(len(images)), "generator": gen})
    if not candidates:
        raise GeneratorError("no bundled generator found: reinstall auditor, or pass --generator DIR")
    candidates.sort(key=lambda c: (c["share_outside"], c["relative_error"]))
    best = candidates[0].pop("generator")
    for c in candidates[1:]:
        c.pop("generator")
    return best, candidates


@dataclass
class Generator:
    """G and I of one bundle. Images are (N, C, H, W) float32 in [0, 1]; latents (N, d)."""

    name: str
    path: Path
    manifest: dict[str, Any]
    latent_dim: int
    image_shape: tuple[int, int, int]
    encoder: Any
    decoder: Any
    device: str
    batch_size: int = 4096
    reference: Any = None  # the bundle's reference classifier R (auditor.reference), where it ships one
    gradients: bool = True  # refine() differentiates through G
    decoding: str = "plain"  # the candidate image of a latent (DECODINGS; the manifest's "decoding")

    def describe_decoding(self) -> str:
        return DECODINGS[self.decoding]

    def render(self, z: np.ndarray, x: np.ndarray, base: np.ndarray) -> np.ndarray:
        """The candidate image of latent ``z`` for image ``x`` whose reconstruction is ``base`` = G(z0).

        ``plain``: G(z). ``detail-preserving``: clip(x + G(z) - G(z0), 0, 1), the photo plus the
        change the latent move makes, so that z0 renders x itself (a blurry decoder's blur is
        never part of a candidate) and a candidate differs from x only by what G expresses."""
        decoded = self.decode(z)
        if self.decoding == "plain":
            return decoded
        return np.clip(x + decoded - base, 0.0, 1.0, out=decoded)

    def reconstruction(self, x: np.ndarray, base: np.ndarray) -> np.ndarray:
        """The candidate at z0: G(z0) under the plain rule, the image itself under detail-preserving."""
        return x if self.decoding == "detail-preserving" else base

    def prior(self, z: np.ndarray, like: np.ndarray) -> np.ndarray:
        """Candidates of prior samples ``z`` (decoded plainly), as inputs shaped like ``like``."""
        return self.decode(z)

    def encode(self, images: np.ndarray) -> np.ndarray:
        """I(x): the encoder's mean. (N, C, H, W) -> (N, d)."""
        import torch

        out = []
        with torch.inference_mode():
            for start in range(0, len(images), self.batch_size):
                x = torch.from_numpy(images[start : start + self.batch_size]).to(self.device)
                stats = self.encoder(x.reshape(len(x), -1))
                out.append(stats[:, : self.latent_dim].float().cpu().numpy())
        return np.concatenate(out)

    def decode(self, z: np.ndarray) -> np.ndarray:
        """G(z). (N, d) -> (N, C, H, W) float32 in [0, 1]."""
        import torch

        out = np.empty((len(z), *self.image_shape), dtype=np.float32)
        with torch.inference_mode():
            for start in range(0, len(z), self.batch_size):
                zb = torch.from_numpy(np.ascontiguousarray(z[start : start + self.batch_size]))
                x = self.decoder(zb.to(self.device, torch.float32))
                out[start : start + len(x)] = x.reshape(len(x), *self.image_shape).cpu().numpy()
        return out

    def refine(self, images: np.ndarray, z0: np.ndarray, steps: int, lr: float = 0.05) -> np.ndarray:
        """Improve I(x) by ``steps`` Adam steps on ||G(z) - x||^2 with G fixed (Zhao et al. §4).

        Only the generator is differentiated: the classifier stays a black box.
        """
        if steps <= 0:
            return z0
        import torch

        x = torch.from_numpy(images).to(self.device).reshape(len(images), -1)
        z = torch.from_numpy(z0.copy()).to(self.device).requires_grad_(True)
        opt = torch.optim.Adam([z], lr=lr)
        for p in self.decoder.parameters():
            p.requires_grad_(False)
        for _ in range(steps):
            opt.zero_grad()
            loss = ((self.decoder(z) - x) ** 2).sum()
            loss.backward()
            opt.step()
        return z.detach().cpu().numpy().astype(np.float32)
