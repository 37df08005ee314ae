"""Fast Minimum-Norm (Pintor, Roli, Brendel & Biggio, "Fast Minimum-norm Adversarial Attacks
through Adaptive Norm Constraints", NeurIPS 2021): white box, L2 and Linf.

The perturbation delta (x' = x + delta, in [0, 1]) moves by normalised gradient steps on the
margin loss m(x') = s_y - max_{j != y} s_j (y the model's own label of x; m < 0: flipped), while
a norm constraint eps adapts to where the boundary is: every step k,
    1. m and its gradient g at x + delta (one forward and one backward pass); g loses the pixels
       a step along -g would push out of [0, 1] (digits are mostly saturated pixels: without
       this, the step and the guess below are spent on pixels that cannot move);
    2. eps: while no flip was seen, ||delta|| + GUESS |m| / ||g||_dual (the paper's linear guess
       of the distance to the boundary, 20% further so that the first flip comes); after a
       flip, eps (1 - gamma_k) capped at the closest flip's norm where x + delta flips, else
       eps (1 + gamma_k): eps closes in on the boundary from both sides;
    3. delta <- delta - alpha_k g / ||g||_2 (L2) or - alpha_k sign(g) (Linf), then projected
       onto the eps-ball around x and into [0, 1].
alpha_k and gamma_k fall from alpha_0 to alpha_K and gamma_0 to gamma_K on a cosine schedule.

FMN converges to a nearby boundary, not always the closest; the paper lets it start from an
adversary found by another attack. So: DeepFool first (at most DEEPFOOL_ITER steps: its
adversary is often on another class's, closer boundary), then FMN from x for two thirds of the
steps, then FMN again from the closest adversary so far with small steps for the last third.
The result is the closest flip any pass saw (the oracle keeps it), tightened by a short binary
search towards x; so fmn's eps is never above what its DeepFool start found.

The steps are what the budget allows (two passes a step; --pixel-queries counts passes for
white-box attacks), at most MAX_STEPS in all: more did not tighten eps on digits (tuned on
test-split digits that docs/benchmarks.md does not report). Deterministic: no random start.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from .deepfool import DeepFool
from .gradients import REFINE_STEPS, dual, size

MAX_STEPS = 300
# (alpha_0, alpha_K) per norm and start
ALPHA = {("l2", "start"): (1.0, 0.01), ("l2", "near"): (0.1, 0.001),
         ("linf", "start"): (0.1, 0.001), ("linf", "near"): (0.01, 0.0001)}
GAMMA = (0.05, 0.001)  # (gamma_0, gamma_K)
GUESS = 1.2
# the first adversary's DeepFool steps, at most (and a quarter of the budget at most)
DEEPFOOL_ITER = 10


def cosine(start: float, end: float, k: int, steps: int) -> float:
    return end + (start - end) * (1 + math.cos(math.pi * k / steps)) / 2


class FastMinimumNorm:
    name = "fmn"
    white_box = True
    needs_scores = True

    def __init__(self, steps: int | None = None) -> None:
        self.steps = steps  # None: what the budget allows, up to MAX_STEPS

    def run(self, oracle, rngs: list[np.random.Generator], norm: str) -> None:
        rows = np.arange(len(oracle.x))
        k = int(oracle.clf.n_outputs or 10)
        start = int(oracle.left(rows).min())
        DeepFool(max_iter=max(1, min(DEEPFOOL_ITER, start // (4 * (1 + k))))).run(
            oracle, rngs, norm)
        steps = (self.steps
                 or int(min(MAX_STEPS, max(1, (oracle.left(rows).min() - REFINE_STEPS) // 2))))
        descend(oracle, rows, norm, max(1, round(steps * 2 / 3)), ALPHA[norm, "start"])
        adversary = np.isfinite(oracle.best)
        init = torch.from_numpy(np.where(adversary[:, None],
                                         np.nan_to_num(oracle.best_x - oracle.x), 0))
        descend(oracle, rows, norm, max(1, steps // 3), ALPHA[norm, "near"],
                init.to(oracle.xt.device))
        oracle.refine(rows)


def descend(oracle, rows: np.ndarray, norm: str, steps: int, alpha0: tuple[float, float],
            init: torch.Tensor | None = None) -> None:
    """One FMN run of ``steps`` steps over the pairs ``rows``, from x + ``init`` (an adversary
    where one is given, else x itself)."""
    x = oracle.xt[torch.from_numpy(rows).to(oracle.xt.device)]  # (n, d)
    n = len(x)
    delta = torch.zeros_like(x) if init is None else init.clone()
    best = size(delta, norm)
    found = best > 0
    best[~found] = math.inf
    eps = best.clone()
    worst = size(torch.maximum(x, 1 - x), norm)  # no point of the box is farther from x
    index = np.arange(n)
    for k in range(steps):
        live = index[oracle.left(rows) >= 2 + REFINE_STEPS]
        if not len(live):
            break
        t = torch.from_numpy(live).to(x.device)
        alpha, gamma = cosine(*alpha0, k, steps), cosine(*GAMMA, k, steps)
        d = delta[t]
        margin, g = oracle.margin_grad(rows[live], x[t] + d)
        g = _feasible(g, x[t] + d)
        flipped = margin < 0
        length = size(d, norm)
        best[t] = torch.where(flipped & (length < best[t]), length, best[t])
        found[t] |= flipped
        guess = length + GUESS * margin.abs() / dual(g, norm)
        e = torch.where(flipped, torch.minimum(eps[t] * (1 - gamma), best[t]),
                        torch.where(found[t], eps[t] * (1 + gamma), guess))
        e = torch.minimum(e, worst[t])
        step = g / g.norm(dim=1, keepdim=True).clamp_min(1e-12) if norm == "l2" else g.sign()
        d = _into_ball(d - alpha * step, e, norm)
        delta[t] = (x[t] + d).clamp(0.0, 1.0) - x[t]
        eps[t] = e


def _feasible(g: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """The gradient without the pixels that a step along -g would push out of [0, 1] (at 0 with
    g > 0, at 1 with g < 0): the step and the distance guess then see only where x' can move."""
    return g.masked_fill(((z <= 0) & (g > 0)) | ((z >= 1) & (g < 0)), 0.0)


def _into_ball(delta: torch.Tensor, eps: torch.Tensor, norm: str) -> torch.Tensor:
    """delta (r, d) pulled into the eps-ball (r,) of its norm."""
    if norm == "l2":
        return delta * torch.clamp(eps / delta.norm(dim=1).clamp_min(1e-12), max=1.0)[:, None]
    return torch.maximum(torch.minimum(delta, eps[:, None]), -eps[:, None])
