"""Gradient search: the minimum-norm adversary in z for models that give gradients.

Where the generator is differentiable (the bundles' torch VAEs: ``generator.gradients``) and a
model gives class scores with gradients (TorchScript files and torch modules: the white box of the
pixel attacks, auditor/pixel/gradients.py), --search auto searches that model's pairs by the
gradient of its margin m(z) = s_t(G(z)) - max_{c != t} s_c(G(z)) through the generator, instead of
by its scores' values: FMN (Pintor et al., "Fast Minimum-norm Adversarial Attacks through Adaptive
Norm Constraints", NeurIPS 2021) in the latent space, L2. From delta = 0 every step moves delta by
ALPHA (cosine-annealed) along -grad m / |grad m| and projects it onto the ball of radius eps: eps
shrinks by the factor (1 - gamma) below the norm of each adversarial delta, grows by (1 + gamma)
(up to the best adversary's norm) where delta is not adversarial, and before any adversary is the
linear model's guess |delta| + m / |grad m|. The best adversarial delta (by the scores' argmax) is
kept; at the end the model's own ``predict`` labels the rendered candidate of each pair's best
(one query), and one it does not confirm is left to the black-box search (margin.py), as are pairs
without any adversary after STEPS steps.

A step is one forward and one backward pass per pair (2 queries). There is no randomness, and the
steps run on one torch thread, unoptimised by TorchScript's executor: a pair's results depend only
on its image, its model and the batch the search computes it in (the search's batches, so that
--workers and --resume give the same bits; with two threads a Ray worker's last bits differed).
Gradient steps find the nearest adversary of the basin they start in; the black-box half finds
another basin's where that is nearer (about one photo in ten). Measured in docs/benchmarks.md
("Gradients through the generator"): on the examples' 60 photos a TorchScript MLP's median gap to
the best known adversary +0.0% (mean +3.7%) at 297 queries per photo, against margin's +2.1% (mean
+13.2%) at 380.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

STEPS = 50  # FMN steps per pair
ALPHA = 0.3  # the first step's length / sqrt(d / 64); cosine-annealed to ALPHA_END of it
ALPHA_END = 1e-3
GAMMA, GAMMA_END = 0.05, 1e-4  # eps's relative change per step, cosine-annealed
# pairs per FMN run: always this many (the last run padded), because BLAS and oneDNN choose their
# kernels by shape: a pair's last bits, and so its adversary, would depend on its batch
ROWS = 32  # (the photos' rf10 copy: 6.6 s for 60 photos, 8 s at 16, 6.6 s at 64)


def gradient_models(generator, classifiers: Sequence) -> tuple[str, ...]:
    """The names of the models this search can walk through ``generator``: the generator gives
    gradients (an image generator in torch) and the model gives class scores with gradients."""
    if not getattr(generator, "gradients", False) or getattr(generator, "decoder", None) is None:
        return ()  # (text generators give none: auto walks text by the local search)
    from ..pixel.gradients import probe, why_not

    shape = tuple(generator.image_shape)
    return tuple(c.name for c in classifiers if getattr(c, "gradient_module", None) is not None
                 and why_not(c) is None and probe(c, shape) is None)


def search_by_gradient(generator, clf, x: np.ndarray, z0: np.ndarray, base: np.ndarray,
                       target: np.ndarray, steps: int = STEPS):
    """The closest adversarial z the scores' argmax finds per image (rows of x), and whether each
    was found: (z_star (m, d), norm (m,), found (m,) bool); the caller asks ``predict``."""
    import torch

    from ..pixel.gradients import class_margin, scores
    from .subspace import one_torch_thread

    shape = tuple(generator.image_shape)

    def run(at):
        zt, render = renderer(generator, x[at], z0[at], base[at])
        device = zt.device
        own = torch.from_numpy(target[at].astype(np.int64)).to(clf.device)

        def margin(delta, k):
            mk = class_margin(scores(clf, render(delta).to(clf.device), shape), own).to(device)
            return mk, mk.detach() < 0

        best_delta, norm = fmn(margin, len(at), z0.shape[1], steps, device)
        return (zt + best_delta).cpu().numpy().astype(np.float32), norm

    # TorchScript's profiling executor rewrites a graph after its first calls (fused kernels, other
    # last bits): unoptimised, a pair's steps are the same whatever the process ran before
    with one_torch_thread(), torch.jit.optimized_execution(False):
        z_star, norm = in_rows(run, len(z0))
    return z_star, norm, np.isfinite(norm)


def in_rows(run, m: int, rows: int | None = None):
    """``run(index)`` -> arrays with a row per index, on runs of exactly ``rows`` (ROWS) of the
    pairs 0..m-1 (the last padded with its last pair), the real rows concatenated."""
    rows = rows or ROWS
    parts = []
    for i in range(0, m, rows):
        out = run(np.minimum(np.arange(i, i + rows), m - 1))
        parts.append([a[: min(rows, m - i)] for a in out])
    return tuple(np.concatenate(p) for p in zip(*parts))


def renderer(generator, x: np.ndarray, z0: np.ndarray, base: np.ndarray):
    """z0 as a tensor on the generator's device, and render(delta): the candidates (m, pixels) of
    z0 + delta as the scan renders them (generator.render), differentiable in delta through the
    decoder, whose weights are frozen."""
    import torch

    device = getattr(generator, "device", "cpu")
    decoder = generator.decoder
    for p in decoder.parameters():
        p.requires_grad_(False)
    m = len(z0)

    def tensor(a):
        return torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32)).to(device)

    zt, xt, bt = tensor(z0), tensor(x).reshape(m, -1), tensor(base).reshape(m, -1)
    plain = generator.decoding == "plain"

    def render(delta):
        decoded = decoder(zt + delta).reshape(m, -1)
        return decoded if plain else (xt + decoded - bt).clamp(0.0, 1.0)

    return zt, render


def fmn(margin, m: int, d: int, steps: int, device):
    """FMN's steps from delta = 0 on ``margin(delta, k)`` (the margins (m,) at step k and which
    deltas are adversarial): the best adversarial delta (m, d) and its norm (m,; inf: none)."""
    import torch

    delta = torch.zeros(m, d, device=device)
    eps = torch.full((m,), torch.inf, device=device)
    best = torch.full((m,), torch.inf, device=device)
    best_delta = torch.zeros(m, d, device=device)
    alpha0 = ALPHA * math.sqrt(d / 64)
    for k in range(steps):
        cos = 0.5 * (1 + math.cos(math.pi * k / steps))
        alpha = alpha0 * (ALPHA_END + (1 - ALPHA_END) * cos)
        gamma = GAMMA_END + (GAMMA - GAMMA_END) * cos
        delta.requires_grad_(True)
        mk, adv = margin(delta, k)
        (grad,) = torch.autograd.grad(mk.sum(), delta)
        with torch.no_grad():
            delta = delta.detach()
            norm = delta.norm(dim=1)
            better = adv & (norm < best)
            best = torch.where(better, norm, best)
            best_delta[better] = delta[better]
            g_norm = grad.norm(dim=1).clamp_min(1e-12)
            found = torch.isfinite(best)
            eps = torch.where(adv, torch.minimum(eps, norm) * (1 - gamma),
                              torch.where(found, torch.minimum(eps * (1 + gamma), best),
                                          norm + mk.clamp_min(0) / g_norm))
            delta = delta - alpha * grad / g_norm[:, None]
            size = delta.norm(dim=1).clamp_min(1e-12)
            delta = delta * torch.clamp(eps / size, max=1.0)[:, None]
    return best_delta, best.cpu().numpy().astype(np.float64)
