"""NATTACK (Li, Li, Wang, Zhang & Gong, "NATTACK: Learning the Distributions of Adversarial
Examples for an Improved Black-Box Attack on Deep Neural Networks", ICML 2019): scores steer,
labels decide.

The adversaries around x are modelled as a Gaussian N(theta, sigma^2 I) in arctanh space; a
sample z becomes x' = x + clip_eps(g(z) - x), g(z) = (tanh(z) + 1) / 2, clipped to the eps-ball
and [0, 1]. theta moves along a natural-evolution-strategy estimate of the gradient of the hinge
loss J = [log F(x')_y - max_{i != y} log F(x')_i]_+ from N samples with z-scored losses:
theta <- theta - eta / (N sigma) sum_i zscore(J_i) e_i. theta starts at arctanh(2x - 1) (pixels
clipped to (-C, C) in arctanh space first, so that saturated pixels can move).

Where all N samples score alike (flat, piecewise-constant scores: forests, trees) the
estimate is zero; sigma then doubles, up to MAX_SIGMA, until the samples reach a slope.

The paper attacks at a fixed eps; here eps starts at the cap and, each time a sample flips the
label, shrinks to SHRINK times the closest flip's measured norm, so the population keeps looking
for a closer adversary until the budget is spent. A flip is judged on the label the model
outputs; the result is the closest adversary any query found.
"""

from __future__ import annotations

import numpy as np
import torch

from .common import Oracle, clip_ball

POPULATION = 20  # N: the paper's 300 is far more than a 784-pixel image needs at our budgets
SIGMA = 0.1  # the paper's sigma^2 = 0.01
# eta; the paper's 0.008 is for CIFAR at eps 0.031 and moves far too slowly here
LEARNING_RATE = 0.2
CLIP = 3.0  # |arctanh(2x - 1)| at most this: tanh(3) = 0.995
SHRINK = 0.9
MAX_SIGMA = 1.6  # where every sample scores alike, sigma doubles up to this to find a slope


class NAttack:
    name = "nattack"
    needs_scores = True

    def __init__(self, cap: float) -> None:
        self.cap = cap

    def run(self, oracle: Oracle, rngs: list[np.random.Generator], norm: str) -> None:
        x = oracle.x
        b, d = x.shape
        theta = np.arctanh(np.clip(2 * x.astype(np.float64) - 1, -np.tanh(CLIP),
                                   np.tanh(CLIP))).astype(np.float32)
        eps = np.full(b, self.cap, dtype=np.float32)
        sigma = np.full(b, SIGMA, dtype=np.float32)
        n = POPULATION
        rows = np.arange(b)
        # the samples' noise: torch's CPU normals take half the time of NumPy's, seeded from each
        # image's own stream, so a pair's result still depends only on its image and the seed
        streams = [torch.Generator().manual_seed(int(rng.integers(2**63))) for rng in rngs]
        while True:
            rows = rows[oracle.queries[rows] + n <= oracle.budget]
            if not len(rows):
                return
            # (r, n, d)
            noise = torch.stack([torch.randn((n, d), generator=streams[i]) for i in rows]).numpy()
            z = theta[rows][:, None] + sigma[rows][:, None, None] * noise
            g = (np.tanh(z) + 1) / 2
            samples = clip_ball(x[rows][:, None], g, eps[rows][:, None], norm)
            labels, logp = oracle.ask(np.repeat(rows, n), samples.reshape(-1, d))
            logp = logp.reshape(len(rows), n, -1)
            y = oracle.labels[rows]
            own = np.take_along_axis(logp, y[:, None, None].repeat(n, 1), axis=2)[..., 0]
            others = logp.copy()
            np.put_along_axis(others, y[:, None, None].repeat(n, 1), -np.inf, axis=2)
            loss = np.maximum(own - others.max(axis=2), 0.0)  # (r, n)
            flipped = np.isfinite(oracle.best[rows])
            eps[rows[flipped]] = np.minimum(eps[rows[flipped]], SHRINK * oracle.best[rows[flipped]])
            spread = loss.std(axis=1, keepdims=True)
            # every sample scored alike (a forest's piecewise-constant scores)
            flat = spread[:, 0] <= 1e-12
            sigma[rows] = np.where(flat, np.minimum(sigma[rows] * 2, MAX_SIGMA), SIGMA)
            score = np.where(spread > 1e-12,
                             (loss - loss.mean(axis=1, keepdims=True)) / np.maximum(spread, 1e-12),
                             0.0)
            step = (LEARNING_RATE / (n * SIGMA)) * np.einsum("rn,rnd->rd",
                                                             score.astype(np.float32), noise)
            theta[rows] -= step
