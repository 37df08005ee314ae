"""Local search: the default. Find any flip cheaply, then walk along the decision boundary
towards z0 with a few proposals per step, adapting the step sizes to the success rate.

Decision-based (labels only), in the spirit of the Boundary Attack (Brendel, Rauber &
Bethge, "Decision-Based Adversarial Attacks", ICLR 2018) and of evolution strategies with
Rechenberg's success rule, applied in the generator's latent space as in Zhao, Dua & Singh
(ICLR 2018). Per (image, model) pair, with N proposals per step:

Start: 512 anchors are drawn from the generator's prior (seeded by --seed, the same for every
    batch) and labelled by each model once per batch (those queries are charged to the
    batch's images). The segment from z0 to the nearest anchor that the model labels
    differently crosses its decision boundary; its N points at fractions 1/N, ..., 1 (the
    last is the anchor itself, a known adversary) give the first flip, at norm r and
    direction d.
Growth, for pairs with no such anchor within max_radius: norms uniform in (R/2, R] along N
    random directions, R = r0, 2 r0, 4 r0, ... (r0 = sqrt(d) / 4) up to max_radius. No flip
    anywhere: the pair is censored.
Walk: proposals d' = normalise(d + sigma u) with u a random unit vector (the first
    proposal keeps d: a pure step towards z0), norm r' = r (1 - eps v), v uniform in (0, 1].
    The closest flipping proposal becomes (r, d). A step with a flip multiplies sigma and
    eps by 1.3, a step without by 0.8; the walk ends when eps r < dr (the precision) or
    after ``patience`` steps without a flip once eps r < 10 dr.

Every accepted point is a verified flip, so dz is an upper bound of the optimal distance,
like the paper's searches; it gets closer to it with more steps.
"""

from __future__ import annotations

import numpy as np

ANCHORS = 512  # prior samples labelled by each model once per batch
START_RADIUS = 0.25  # r0 / sqrt(d): the growth phase's first band is (r0 / 2, r0]
SIGMA0, EPS0 = 0.5, 0.3  # direction and norm step sizes at the start of the walk
GROW, SHRINK = 1.3, 0.8  # step-size factors after a step with, and without, a flip
MAX_SIGMA, MAX_EPS = 2.0, 0.3


class LocalSearch:
    name = "local"
    defaults = {"samples": 8, "step": 0.005, "max_steps": 60}
    anchors = ANCHORS

    def __init__(self, n: int, settings, latent_dim: int, context) -> None:
        self.precision = settings.step
        self.max_radius = settings.max_radius
        self.patience = settings.patience
        # Start: the segment to the nearest anchor that the model labels differently crosses
        # the decision boundary (the anchor itself is an adversary). Pairs with no such
        # anchor within max_radius start with the growth phase instead.
        m = len(context.z0)
        a, z = context.anchors.astype(np.float64), context.z0.astype(np.float64)
        dist = np.sqrt(np.maximum((z**2).sum(1)[:, None] + (a**2).sum(1)[None] - 2 * z @ a.T, 0.0))  # (m, A)
        self.seeded = np.zeros(n, dtype=bool)  # has such an anchor (until its segment fails)
        self.anchor_delta = np.zeros((n, latent_dim), dtype=np.float32)  # anchor - z0
        for j in range(context.n_models):
            pairs = np.arange(j * m, (j + 1) * m)
            other = context.anchor_labels[j][None, :] != context.target[pairs][:, None]
            masked = np.where(other, dist, np.inf)
            nearest = masked.argmin(axis=1)
            ok = masked[np.arange(m), nearest] <= settings.max_radius
            self.seeded[pairs[ok]] = True
            self.anchor_delta[pairs[ok]] = context.anchors[nearest[ok]] - context.z0[ok]
        self.band = np.full(n, min(START_RADIUS * np.sqrt(latent_dim), settings.max_radius))  # growth: R
        self.r = np.full(n, np.inf)  # closest flip so far (inf: none yet)
        self.d = np.zeros((n, latent_dim), dtype=np.float32)  # its direction
        self.sigma = np.full(n, SIGMA0)
        self.eps = np.full(n, EPS0)
        self.misses = np.zeros(n, dtype=int)
        self.done = np.zeros(n, dtype=bool)

    def propose(self, live: np.ndarray, noise: np.ndarray, uniform: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Perturbations (L, N, d) for the live pairs, and keys (L, 2): pairs of one image
        with equal keys get identical perturbations (their decodes are shared)."""
        unit = noise / np.linalg.norm(noise, axis=2, keepdims=True)
        k = unit.shape[1]
        starting, growing, walking = self._phases(live)
        radii = np.empty(uniform.shape, dtype=np.float32)
        dirs = unit.copy()
        band = self.band[live[growing]]
        radii[growing] = band[:, None] * (0.5 + 0.5 * uniform[growing])
        # the segment to the anchor, at fractions 1/k, 2/k, ..., 1
        seg = self.anchor_delta[live[starting]]
        length = np.linalg.norm(seg, axis=1)
        dirs[starting] = (seg / length[:, None])[:, None, :]
        radii[starting] = length[:, None] * (np.arange(1, k + 1, dtype=np.float32) / k)
        walk = live[walking]
        if len(walk):
            d = self.d[walk][:, None, :] + self.sigma[walk][:, None, None].astype(np.float32) * unit[walking]
            d[:, 0] = self.d[walk]
            dirs[walking] = d / np.linalg.norm(d, axis=2, keepdims=True)
            radii[walking] = self.r[walk][:, None] * (1.0 - self.eps[walk][:, None] * uniform[walking])
        # growing pairs of one image at the same band share proposals; the others do not
        keys = np.where(growing[:, None], np.stack([np.zeros(len(live)), self.band[live]], 1),
                        np.stack([np.ones(len(live)), live.astype(float)], 1))
        return radii[:, :, None] * dirs, keys

    def _phases(self, live: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Masks over ``live``: on the anchor segment, growing, walking (a flip is known)."""
        walking = np.isfinite(self.r[live])
        seeded = self.seeded[live]
        return ~walking & seeded, ~walking & ~seeded, walking

    def observe(self, live: np.ndarray, r_min: np.ndarray, best: np.ndarray, deltas: np.ndarray) -> None:
        """The live pairs' closest flipping proposal: its norm ``r_min`` (inf: no flip) and
        index ``best`` among the proposals ``deltas``."""
        hit = np.isfinite(r_min)
        starting, growing, walk = self._phases(live)
        self.seeded[live[starting & ~hit]] = False  # no flip on the segment (a noisy model): grow instead
        better = hit & (r_min < self.r[live])
        idx = live[better]
        self.r[idx] = r_min[better]
        self.d[idx] = deltas[better, best[better]] / r_min[better, None].astype(np.float32)

        grown = live[growing & ~hit]
        censored = grown[self.band[grown] >= self.max_radius]
        self.done[censored] = True
        self.band[grown] = np.minimum(2 * self.band[grown], self.max_radius)

        up, down = live[walk & better], live[walk & ~better]
        self.sigma[up] = np.minimum(self.sigma[up] * GROW, MAX_SIGMA)
        self.eps[up] = np.minimum(self.eps[up] * GROW, MAX_EPS)
        self.misses[up] = 0
        self.sigma[down] *= SHRINK
        self.eps[down] *= SHRINK
        self.misses[down] += 1
        w = live[walk]
        fine = self.eps[w] * self.r[w]
        self.done[w[(fine < self.precision) | ((self.misses[w] >= self.patience) & (fine < 10 * self.precision))]] = True
