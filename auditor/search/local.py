"""Local search: the default. Start along the boundary normals of a cheap surrogate of the
model, then walk along the decision boundary towards z0 with a few proposals per step,
adapting the step sizes to the success rate.

Decision-based (labels only), in the spirit of the Boundary Attack (Brendel, Rauber &
Bethge, "Decision-Based Adversarial Attacks", ICLR 2018) and of evolution strategies with
Rechenberg's success rule, applied in the generator's latent space as in Zhao, Dua & Singh
(ICLR 2018). Per (image, model) pair, with N proposals per step:

Anchors: 512 points drawn from the generator's prior (seeded by --seed, the same for every
    batch), labelled by each model once per batch (those queries are charged to the batch's
    images). They are all the search knows of a model before its own proposals.
Start, first of these that flips:
    1. surrogate: a linear discriminant analysis of the anchors' labels (``surrogate.py``)
       gives the normals of its nearest boundaries between the pair's class and another;
       N norms spaced geometrically from sqrt(d) / 10 to sqrt(d) / 1.6 (0.4 to 2.5 for
       d = 16) along the first normal.
    2. anchor segment: the segment from z0 to the nearest anchor that the model labels
       differently crosses its decision boundary; its N points at fractions 1/N, ..., 1
       (the last is the anchor itself, a known adversary; in the generator's active subspace,
       below, its projection, labelled like any proposal).
    3. growth: norms uniform in (R/2, R] along N random directions, R = r0, 2 r0, 4 r0, ...
       (r0 = sqrt(d) / 4) up to max_radius. No flip anywhere: the pair is censored.
    The first flip gives the walk's start: norm r, direction d.
Walk: proposals d' = normalise(d + sigma u) with u a random unit vector (the first
    proposal keeps d: a pure step towards z0), norm r' = r (1 - eps v), v uniform in (0, 1].
    In the first two walk steps, the last three proposals are the surrogate's next three
    normals instead, at norms r (1 - v / 2): the nearest boundary of a crude surrogate is
    often not the nearest real one. The closest flipping proposal becomes (r, d). A step
    with a flip multiplies sigma and eps by 1.3, a step without by 0.8; the walk ends when
    eps r < dr (the precision) or after ``patience`` steps without a flip once eps r < 10 dr.

d is the search's own dimension: where the generator leaves latent directions unused, the driver
hands the search z0, the anchors and the noise in the basis of the active ones (subspace.py) and
maps its moves back (z = z0 + V y, |y| = dz).

Every accepted point is a verified flip, so dz is an upper bound of the optimal distance,
like the paper's searches; it gets closer to it with more steps. A pair's search uses only
its own image, the anchors and its own model's labels, so results do not depend on the other
models, the other images or the batching.
"""

from __future__ import annotations

import numpy as np

from .surrogate import boundary_normals
from .searches import SEARCHES

ANCHORS = 512  # prior samples labelled by each model once per batch
# times sqrt(d): norms tried along the surrogate's first normal, N geometric ones
LADDER = (0.1, 0.625)
ALTERNATIVES = 3  # further surrogate normals proposed in the first walk steps
ALTERNATIVE_STEPS = 2
ALTERNATIVE_EPS = 0.5
WARM = 0.9  # a known adversary's start: norms from this share of its norm up to it
START_RADIUS = 0.25  # r0 / sqrt(d): the growth phase's first band is (r0 / 2, r0]
SIGMA0, EPS0 = 0.5, 0.3  # direction and norm step sizes at the start of the walk
GROW, SHRINK = 1.3, 0.8  # step-size factors after a step with, and without, a flip
MAX_SIGMA, MAX_EPS = 2.0, 0.3


@SEARCHES.register("local")
class LocalSearch:
    name = "local"
    defaults = {"samples": 8, "step": 0.005, "max_steps": 60}
    subspace = True  # z moves within the generator's active directions (subspace.py)
    anchors = ANCHORS

    def __init__(self, n: int, settings, latent_dim: int, context) -> None:
        self.precision = settings.step
        self.max_radius = settings.max_radius
        self.patience = settings.patience
        k = settings.proposals
        m = len(context.z0)
        z0 = context.z0
        # Start stages, tried in order: (direction (n, d), norms (n, k), valid (n,)).
        normal = np.zeros((n, latent_dim), dtype=np.float32)
        has_normal = np.zeros(n, dtype=bool)
        self.alternative = np.zeros((n, ALTERNATIVES, latent_dim), dtype=np.float32)
        self.has_alternative = np.zeros((n, ALTERNATIVES), dtype=bool)
        segment = np.zeros((n, latent_dim), dtype=np.float32)  # nearest differing anchor - z0
        a, z = context.anchors.astype(np.float64), z0.astype(np.float64)
        # (m, A)
        dist = np.sqrt(np.maximum((z**2).sum(1)[:, None] + (a**2).sum(1)[None] - 2 * z @ a.T, 0.0))
        for j in range(context.n_models):
            pairs = np.arange(j * m, (j + 1) * m)
            target, labels = context.target[pairs], context.anchor_labels[j]
            dirs, ok = boundary_normals(context.anchors, labels, z0, target, 1 + ALTERNATIVES)
            normal[pairs], has_normal[pairs] = dirs[:, 0], ok[:, 0]
            self.alternative[pairs], self.has_alternative[pairs] = dirs[:, 1:], ok[:, 1:]
            masked = np.where(labels[None, :] != target[:, None], dist, np.inf)
            nearest = masked.argmin(axis=1)
            near = masked[np.arange(m), nearest] <= settings.max_radius
            segment[pairs[near]] = context.anchors[nearest[near]] - z0[near]
        hi = min(LADDER[1] * np.sqrt(latent_dim), settings.max_radius)
        ladder = np.geomspace(min(LADDER[0] * np.sqrt(latent_dim), hi / 2), hi,
                              k).astype(np.float32)
        length = np.linalg.norm(segment, axis=1)
        fractions = np.arange(1, k + 1, dtype=np.float32) / k
        self.stages = [] if context.starts is None else [_warm(context.starts, k)]
        self.stages += [
            (normal, np.broadcast_to(ladder, (n, k)), has_normal),
            (segment / np.maximum(length, 1e-12)[:, None], length[:, None] * fractions, length > 0),
        ]
        self.stage = np.zeros(n, dtype=int)  # len(stages): growth
        self._skip_invalid(np.arange(n))
        # growth: R
        self.band = np.full(n, min(START_RADIUS * np.sqrt(latent_dim), settings.max_radius))
        self.r = np.full(n, np.inf)  # closest flip so far (inf: none yet)
        self.d = np.zeros((n, latent_dim), dtype=np.float32)  # its direction
        self.sigma = np.full(n, SIGMA0)
        self.eps = np.full(n, EPS0)
        self.walked = np.zeros(n, dtype=int)  # walk steps taken
        self.misses = np.zeros(n, dtype=int)
        self.done = np.zeros(n, dtype=bool)

    def _skip_invalid(self, idx: np.ndarray) -> None:
        """Move pairs ``idx`` past the start stages they have no direction for."""
        for s, (_, _, valid) in enumerate(self.stages):
            at = idx[(self.stage[idx] == s) & ~valid[idx]]
            self.stage[at] += 1

    def _phases(self, live: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Masks over ``live``: in a start stage, growing, walking (a flip is known)."""
        walking = np.isfinite(self.r[live])
        staged = self.stage[live] < len(self.stages)
        return ~walking & staged, ~walking & ~staged, walking

    def propose(self, live: np.ndarray, noise: np.ndarray,
                uniform: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Perturbations (L, N, d) for the live pairs, and keys (L, 2): pairs of one image
        with equal keys get identical perturbations (their decodes are shared)."""
        unit = noise / np.linalg.norm(noise, axis=2, keepdims=True)
        k = unit.shape[1]
        starting, growing, walking = self._phases(live)
        radii = np.empty(uniform.shape, dtype=np.float32)
        dirs = unit  # a fresh array: overwritten per phase below
        radii[growing] = self.band[live[growing]][:, None] * (0.5 + 0.5 * uniform[growing])
        for s, (direction, norms, _) in enumerate(self.stages):
            rows = np.flatnonzero(starting & (self.stage[live] == s))
            dirs[rows] = direction[live[rows]][:, None, :]
            radii[rows] = norms[live[rows]]
        walk = live[walking]
        if len(walk):
            d = (self.d[walk][:, None, :]
                 + self.sigma[walk][:, None, None].astype(np.float32) * unit[walking])
            d[:, 0] = self.d[walk]
            dirs[walking] = d / np.linalg.norm(d, axis=2, keepdims=True)
            radii[walking] = (self.r[walk][:, None]
                              * (1.0 - self.eps[walk][:, None] * uniform[walking]))
            rows = np.flatnonzero(walking)
            early = rows[self.walked[walk] < ALTERNATIVE_STEPS]
            for q in range(min(ALTERNATIVES, k - 1)):
                sel = early[self.has_alternative[live[early], q]]
                slot = k - 1 - q
                dirs[sel, slot] = self.alternative[live[sel], q]
                radii[sel, slot] = self.r[live[sel]] * (1.0 - ALTERNATIVE_EPS * uniform[sel, slot])
        # growing pairs of one image at the same band share proposals; the others do not
        keys = np.where(growing[:, None], np.stack([np.zeros(len(live)), self.band[live]], 1),
                        np.stack([np.ones(len(live)), live.astype(float)], 1))
        return radii[:, :, None] * dirs, keys

    def observe(self, live: np.ndarray, r_min: np.ndarray, best: np.ndarray,
                deltas: np.ndarray, flips: np.ndarray | None = None) -> None:
        """The live pairs' closest flipping proposal: its norm ``r_min`` (inf: no flip) and
        index ``best`` among the proposals ``deltas``."""
        hit = np.isfinite(r_min)
        starting, growing, walk = self._phases(live)
        failed = live[starting & ~hit]  # no flip in this stage: the next one
        self.stage[failed] += 1
        self._skip_invalid(failed)
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
        self.walked[w] += 1
        fine = self.eps[w] * self.r[w]
        self.done[w[(fine < self.precision)
                    | ((self.misses[w] >= self.patience) & (fine < 10 * self.precision))]] = True


def _warm(starts: np.ndarray, k: int) -> tuple:
    """The start stage of pairs that have an adversary already (``starts``, NaN rows: none): k
    norms along it from WARM of its norm up to it."""
    length = np.linalg.norm(np.nan_to_num(starts), axis=1)
    valid = np.isfinite(starts).all(axis=1) & (length > 0)
    direction = np.where(valid[:, None], np.nan_to_num(starts), 0.0)
    direction /= np.maximum(length, 1e-12)[:, None]
    norms = length[:, None] * np.geomspace(WARM, 1.0, k)[None]
    return direction.astype(np.float32), norms.astype(np.float32), valid
