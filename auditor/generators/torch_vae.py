"""The torch generator backend: the bundled variational auto-encoders, fully connected
(``vae-mlp``) and convolutional (``vae-conv``), whose encoder's mean is the inverter I and whose
decoder is the generator G (Zhao et al. name VAEs as a drop-in for the GAN; an auto-encoder's
encoder is an inverter by construction). Weights are plain arrays (``weights.npz``, loaded with
``allow_pickle=False``); the bundle module checks their checksum before they get here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import GeneratorError
from ..files import sha256
from .backends import GENERATORS
from .base import BundleGenerator, decoding_of

FAMILIES = ("vae-mlp", "vae-conv")  # the manifest families this backend loads
WEIGHTS = "weights.npz"
CONV_FC = 128  # the conv family's fully connected width between the feature map and z


def build_vae(image_shape: tuple[int, int, int], latent_dim: int, hidden: list[int],
              family: str = "vae-mlp"):
    """A VAE's encoder (N, D) -> (N, 2d) [mean, log-variance] and decoder (N, d) -> (N, D).

    Both take and give flat images (D = C*H*W), whatever the family, so training, encoding,
    decoding and refinement are the same code for all of them.

    - ``vae-mlp``: fully connected layers of widths ``hidden``.
    - ``vae-conv``: ``hidden`` are the channels of stride-2 4x4 convolutions (each halves the
      side: 28 -> 14 -> 7 with two), then one fully connected layer of CONV_FC units; the
      decoder mirrors it with transposed convolutions.
    """
    from torch import nn

    from ..layers import Sigmoid

    if family not in FAMILIES:
        raise GeneratorError(f"generator family {family!r} is unknown; expected one of "
                             f"{', '.join(FAMILIES)}")
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
        raise GeneratorError(f"a conv generator with {len(hidden)} stride-2 layers needs image "
                             "sides divisible by "
                             f"{side}, got {h}x{w}; use fewer --hidden channels")
    fh, fw = h // side, w // side
    features = hidden[-1] * fh * fw
    enc = [nn.Unflatten(1, (c, h, w))]
    width = c
    for ch in hidden:
        enc += [nn.Conv2d(width, ch, 4, stride=2, padding=1), nn.ReLU()]
        width = ch
    enc += [nn.Flatten(), nn.Linear(features, CONV_FC), nn.ReLU(),
            nn.Linear(CONV_FC, 2 * latent_dim)]
    dec = [nn.Linear(latent_dim, CONV_FC), nn.ReLU(), nn.Linear(CONV_FC, features), nn.ReLU(),
           nn.Unflatten(1, (hidden[-1], fh, fw))]
    for k in range(len(hidden) - 1, 0, -1):
        dec += [nn.ConvTranspose2d(hidden[k], hidden[k - 1], 4, stride=2, padding=1), nn.ReLU()]
    dec += [nn.ConvTranspose2d(hidden[0], c, 4, stride=2, padding=1), Sigmoid(), nn.Flatten()]
    return nn.Sequential(*enc), nn.Sequential(*dec)


@dataclass
class VaeGenerator(BundleGenerator):
    """G and I of one bundle. Images are (N, C, H, W) float32 in [0, 1]; latents (N, d)."""

    gradients: bool = True  # refine() differentiates through G
    decoding: str = "plain"  # the candidate image of a latent (DECODINGS; the manifest's)

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

    def refine(self, images: np.ndarray, z0: np.ndarray, steps: int,
               lr: float = 0.05) -> np.ndarray:
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


def load_vae(bundle: Path, manifest: dict[str, Any], weights: Path, decoding: str,
             device: str | None = None) -> VaeGenerator:
    """The bundle's VAE from its checked ``weights``, on ``device`` (default: CUDA where torch
    sees a GPU); its reference classifier is the bundle module's to attach."""
    import torch

    shape = tuple(int(v) for v in manifest["image_shape"])
    encoder, decoder = build_vae(shape, int(manifest["latent_dim"]), list(manifest["hidden"]),
                                 manifest["family"])
    try:
        with np.load(weights, allow_pickle=False) as npz:
            arrays = {k: torch.from_numpy(npz[k]) for k in npz.files}
        encoder.load_state_dict({k[8:]: v for k, v in arrays.items() if k.startswith("encoder.")})
        decoder.load_state_dict({k[8:]: v for k, v in arrays.items() if k.startswith("decoder.")})
    except (OSError, ValueError, RuntimeError, KeyError) as err:
        raise GeneratorError(f"{weights}: weights do not fit the manifest ({err})") from err
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    return VaeGenerator(
        name=str(manifest["name"]), path=bundle, manifest=manifest,
        latent_dim=int(manifest["latent_dim"]), image_shape=shape,  # type: ignore[arg-type]
        encoder=encoder.to(device).eval(), decoder=decoder.to(device).eval(), device=device,
        decoding=decoding,
    )


@GENERATORS.register(*FAMILIES)
def load_bundle(bundle: Path, manifest: dict[str, Any], device: str | None,
                load_reference) -> VaeGenerator:
    """A bundled VAE, its weights checked against the manifest; R through ``load_reference``
    (bundle.py's)."""
    weights = bundle / WEIGHTS
    if not weights.is_file():
        raise GeneratorError(f"{bundle}: {WEIGHTS} is missing; re-create the bundle")
    if sha256(weights) != manifest["files"].get(WEIGHTS):
        raise GeneratorError(
            f"{weights}: checksum does not match the manifest; the weights were changed or "
            "corrupted, re-create the bundle with `auditor train-generator`"
        )
    gen = load_vae(bundle, manifest, weights, decoding_of(manifest, bundle), device)
    gen.reference = load_reference(bundle, manifest, gen.device)
    return gen
