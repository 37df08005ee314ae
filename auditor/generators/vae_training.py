"""Training a generator bundle (an MLP or convolutional VAE) on a folder of unlabeled images.

The VAE (Kingma & Welling, 2014) maximises the evidence lower bound: a Bernoulli
reconstruction term (binary cross-entropy summed over pixels) plus beta * KL(q(z|x) || N(0, I)),
beta warmed up linearly from 0 to its final value over the first tenth of the steps. Its
encoder mean is the inverter I(x), its decoder the generator G(z).

Nothing here prints: progress goes to the ``on_step`` callback.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import OptionError
from ..files import atomic_write
from . import build_vae, save_bundle

CHECKPOINT = "checkpoint.pt"


@dataclass
class TrainConfig:
    latent_dim: int = 16  # size of z; 8 collapsed classes on MNIST, 16 did not
    # MLP widths / conv channels, encoder order
    hidden: list[int] = field(default_factory=lambda: [512, 512])
    family: str = "vae-mlp"  # or "vae-conv" (see generators.build_vae)
    steps: int = 30_000  # optimiser steps
    batch_size: int = 128
    lr: float = 1e-3  # Adam, cosine-decayed to lr / 20
    beta: float = 1.0  # weight of the KL term once warmed up
    seed: int = 0
    holdout: float = 0.05  # share of images kept out of training to measure reconstruction
    checkpoint_every: int = 1000
    reference_steps: int = 5000  # steps of the reference classifier, trained where labels are given
    threads: int | None = None  # torch CPU threads; None leaves torch's default
    device: str = "cpu"

    def validate(self) -> None:
        for key in ("latent_dim", "steps", "batch_size", "checkpoint_every", "reference_steps"):
            if getattr(self, key) <= 0:
                raise OptionError(f"{key} must be positive, got {getattr(self, key)}")
        if not self.hidden or min(self.hidden) <= 0:
            raise OptionError(f"hidden widths must be positive, got {self.hidden}")
        from . import FAMILIES

        if self.family not in FAMILIES:
            raise OptionError(f"family must be one of {', '.join(FAMILIES)}, got {self.family!r}")
        if not self.beta > 0:
            raise OptionError(f"beta must be positive, got {self.beta}")
        if not 0.0 <= self.holdout < 0.5:
            raise OptionError(f"holdout must be in [0, 0.5), got {self.holdout}")


def split_holdout(n: int, share: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices (train, holdout) of a seeded random split."""
    order = np.random.default_rng(seed).permutation(n)
    n_hold = int(round(n * share))
    if share > 0 and n >= 4:
        n_hold = max(1, n_hold)  # at least one image measures reconstruction
    return np.sort(order[n_hold:]), np.sort(order[:n_hold])


def _resume(ckpt_path: Path, encoder, decoder, opt, gen, config: TrainConfig, shape) -> int:
    """The step a checkpoint in ``ckpt_path`` reached, its state loaded; 0 where there is none."""
    import torch

    if not ckpt_path.is_file():
        return 0
    state = torch.load(ckpt_path, weights_only=True, map_location=config.device)
    if state["config"] != _config_key(config, shape):
        raise OptionError(f"{ckpt_path} was made with other settings; start afresh without "
                          "--resume")
    encoder.load_state_dict(state["encoder"])
    decoder.load_state_dict(state["decoder"])
    opt.load_state_dict(state["opt"])
    gen.set_state(state["rng"])
    return int(state["step"])


def _step(encoder, decoder, opt, data, gen, config: TrainConfig, beta: float) -> dict[str, float]:
    """One optimiser step of the VAE on a random batch; its losses."""
    import torch

    idx = torch.randint(len(data), (config.batch_size,), generator=gen).to(config.device)
    x = data[idx]
    stats = encoder(x)
    mu, logvar = stats[:, : config.latent_dim], stats[:, config.latent_dim :].clamp(-12, 8)
    eps = torch.randn(mu.shape, generator=gen).to(config.device)
    z = mu + torch.exp(0.5 * logvar) * eps
    recon = decoder(z)
    bce = torch.nn.functional.binary_cross_entropy(recon, x, reduction="sum") / len(x)
    kl = 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).sum() / len(x)
    loss = bce + beta * kl
    opt.zero_grad()
    loss.backward()
    opt.step()
    return {"loss": loss.item(), "recon": bce.item(), "kl": kl.item()}


def train_vae(
    images: np.ndarray,
    out: Path,
    config: TrainConfig,
    manifest: dict[str, Any],
    resume: bool = False,
    on_step: Callable[[int, dict[str, float]], None] | None = None,
    labels: np.ndarray | None = None,
    class_names: list[str] | None = None,
) -> Path:
    """Train on ``images`` (N, C, H, W) in [0, 1] and write a bundle into ``out``.

    Checkpoints every ``config.checkpoint_every`` steps into ``out/checkpoint.pt``;
    ``resume`` continues from it. ``manifest`` gives name, description and training
    provenance; the domain, architecture and quality figures are added here. With ``labels``
    (one per image), a reference classifier is trained on the same training images and
    measured on the same hold-out (see :mod:`auditor.reference`).
    """
    import torch

    config.validate()
    if config.threads:
        torch.set_num_threads(config.threads)
    shape = tuple(int(v) for v in images.shape[1:])
    train_idx, hold_idx = split_holdout(len(images), config.holdout, config.seed)
    if len(train_idx) < 2:
        raise OptionError(f"need at least 2 training images, got {len(train_idx)}")
    torch.manual_seed(config.seed)
    encoder, decoder = build_vae(shape, config.latent_dim, config.hidden,  # type: ignore[arg-type]
                                 config.family)
    encoder.to(config.device)
    decoder.to(config.device)
    params = list(encoder.parameters()) + list(decoder.parameters())
    opt = torch.optim.Adam(params, lr=config.lr)
    gen = torch.Generator().manual_seed(config.seed)
    data = torch.from_numpy(images[train_idx].reshape(len(train_idx), -1)).to(config.device)
    out.mkdir(parents=True, exist_ok=True)
    ckpt_path = out / CHECKPOINT
    step = _resume(ckpt_path, encoder, decoder, opt, gen, config, shape) if resume else 0

    warmup = max(1, config.steps // 10)
    started = time.perf_counter()
    while step < config.steps:
        lr = config.lr * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * step / config.steps)))
        for group in opt.param_groups:
            group["lr"] = lr
        losses = _step(encoder, decoder, opt, data, gen, config,
                       config.beta * min(1.0, (step + 1) / warmup))
        step += 1
        if on_step:
            on_step(step, losses)
        if step % config.checkpoint_every == 0 or step == config.steps:
            state = {
                "encoder": encoder.state_dict(),
                "decoder": decoder.state_dict(),
                "opt": opt.state_dict(),
                "rng": gen.get_state(),
                "step": step,
                "config": _config_key(config, shape),
            }
            atomic_write(ckpt_path, lambda fh, state=state: torch.save(state, fh), binary=True)

    encoder.eval()
    decoder.eval()
    quality = reconstruction_quality(encoder, decoder, images[hold_idx], config)
    domain_fit = calibrate_fit(encoder, decoder, images, hold_idx, config)
    manifest = dict(manifest)
    manifest.update(
        family=config.family,
        latent_dim=config.latent_dim,
        image_shape=list(shape),
        value_range=[0.0, 1.0],
        hidden=list(config.hidden),
        training=dict(
            manifest.get("training", {}),
            config={k: v for k, v in asdict(config).items() if k not in ("threads", "device")},
            n_train=int(len(train_idx)),
            n_holdout=int(len(hold_idx)),
            seconds=round(time.perf_counter() - started, 1),
        ),
        reference=quality,
        **({"domain_fit": domain_fit} if domain_fit else {}),
    )
    if labels is not None:
        if len(labels) != len(images):
            raise OptionError(f"{len(labels)} labels for {len(images)} images")
        from ..reference import save_reference, train_reference

        net, record = train_reference(images, labels, train_idx, hold_idx, class_names,
                                      steps=config.reference_steps,
                                      seed=config.seed, device=config.device)
        save_bundle(out, encoder, decoder, manifest)
        save_reference(out, net, record)
        return out
    return save_bundle(out, encoder, decoder, manifest)


def _config_key(config: TrainConfig, shape: tuple[int, ...]) -> dict[str, Any]:
    key = {k: v for k, v in asdict(config).items()
           if k not in ("threads", "device", "checkpoint_every")}
    key["shape"] = list(shape)
    return key


def reconstruction_quality(encoder, decoder, images: np.ndarray,
                           config: TrainConfig) -> dict[str, Any]:
    """Per-image reconstruction MSE of held-out images: the domain reference for scans."""
    import torch

    if len(images) == 0:
        return {}
    with torch.inference_mode():
        x = torch.from_numpy(images.reshape(len(images), -1)).to(config.device)
        recon = decoder(encoder(x)[:, : config.latent_dim])
        mse = ((recon - x) ** 2).mean(dim=1).cpu().numpy()
    return {
        "recon_mse_mean": float(mse.mean()),
        "recon_mse_median": float(np.median(mse)),
        "recon_mse_p95": float(np.quantile(mse, 0.95)),
        "n_images": int(len(images)),
    }


def calibrate_fit(encoder, decoder, images: np.ndarray, hold_idx: np.ndarray,
                  config: TrainConfig) -> dict[str, Any] | None:
    """The bundle's domain fit check (auditor/generators/fit.py) calibrated on the held-out
    images; where they are too few, on up to 1,000 of all the images (noted in the record: a
    generator reconstructs its training images better, so unseen images of the domain are then
    flagged somewhat more often than the stated rate)."""
    import torch

    from .fit import MIN_CALIBRATION, calibrate_generator

    shape = images.shape[1:]

    def encode(x: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            flat = torch.from_numpy(np.ascontiguousarray(x).reshape(len(x), -1))
            return encoder(flat.to(config.device))[:, : config.latent_dim].cpu().numpy()

    def decode(z: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            x = decoder(torch.from_numpy(z).to(config.device))
            return x.cpu().numpy().reshape(len(z), *shape)

    if len(hold_idx) >= MIN_CALIBRATION:
        return calibrate_generator(encode, decode, images[hold_idx],
                                   f"the {len(hold_idx)} images train-generator held out")
    rows = np.random.default_rng(config.seed).permutation(len(images))[:1000]
    return calibrate_generator(encode, decode, images[rows],
                               f"{len(rows)} of the training images (the hold-out was too small: "
                               "unseen images of the domain may be flagged more often)")
