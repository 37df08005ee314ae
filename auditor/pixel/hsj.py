"""HopSkipJump (Chen, Jordan & Wainwright, "HopSkipJumpAttack: A Query-Efficient Decision-Based
Attack", IEEE S&P 2020): labels only.

From a first adversary (uniform noise images the model labels differently, tried in turn),
every iteration t:
    1. binary search on the segment from x to the adversary for the boundary point x_b (L2: the
       blend factor, Linf: the Linf radius, to the paper's precision theta = d^-3/2 or d^-2);
    2. estimate the boundary's normal at x_b from B_t = min(B0 sqrt(t), B_max) random unit
       directions u: phi = +1 where x_b + delta u is adversarial, -1 where not; the direction is
       the mean of (phi - mean phi) u, delta = sqrt(d) theta dist (L2) or d theta dist (Linf);
    3. step from x_b along it (Linf: its sign) by dist / sqrt(t), halved until the step lands on
       an adversary.
Batched over the pairs of one model; a pair stops at its query budget. The result is the
closest adversary any query found (the oracle keeps it).
"""

from __future__ import annotations

import numpy as np

from .common import Oracle, distance, project

INIT_TRIES = 20  # uniform noise images tried for a first adversary
B0, B_MAX = 20, 100  # directions per gradient estimate: B0 sqrt(t), at most B_MAX
MAX_HALVINGS = 12


class HopSkipJump:
    name = "hsj"
    needs_scores = False

    def run(self, oracle: Oracle, rngs: list[np.random.Generator], norm: str) -> None:
        x = oracle.x
        b, d = x.shape
        theta = d ** -1.5 if norm == "l2" else float(d) ** -2
        adv = np.zeros_like(x)
        found = np.zeros(b, dtype=bool)
        for _ in range(INIT_TRIES):
            rows = np.flatnonzero(~found & oracle.live())
            if not len(rows):
                break
            noise = np.stack([rngs[i].random(d, dtype=np.float32) for i in rows])
            hit = oracle.adversarial(rows, noise)
            adv[rows[hit]] = noise[hit]
            found[rows[hit]] = True
        rows = np.flatnonzero(found)
        boundary = adv.copy()
        boundary[rows] = _binary_search(oracle, rows, adv[rows], theta, norm)
        t = 0
        while True:
            rows = rows[oracle.live()[rows]]
            if not len(rows):
                return
            t += 1
            dist = distance(boundary[rows] - x[rows], norm)
            delta = ((np.sqrt(d) * theta if norm == "l2" else d * theta) * dist).astype(np.float32)
            count = int(min(B0 * np.sqrt(t), B_MAX))
            us = []
            for i in rows:
                u = rngs[i].standard_normal((count, d), dtype=np.float32)
                us.append(u / np.linalg.norm(u, axis=1, keepdims=True))
            u = np.stack(us)  # (r, count, d)
            probes = np.clip(boundary[rows][:, None] + delta[:, None, None] * u, 0, 1)
            hits = oracle.adversarial(np.repeat(rows, count),
                                      probes.reshape(-1, d)).reshape(len(rows), count)
            phi = np.where(hits, 1.0, -1.0).astype(np.float32)
            uniform = np.all(phi == phi[:, :1], axis=1)
            weights = np.where(uniform[:, None], phi, phi - phi.mean(axis=1, keepdims=True))
            g = (weights[:, :, None] * u).mean(axis=1)
            direction = (g / np.maximum(np.linalg.norm(g, axis=1, keepdims=True), 1e-12)
                         if norm == "l2"
                         else np.sign(g)).astype(np.float32)
            step = (dist / np.sqrt(t)).astype(np.float32)
            candidate = boundary[rows].copy()
            todo = np.arange(len(rows))
            for _ in range(MAX_HALVINGS):
                todo = todo[oracle.live()[rows[todo]]]
                if not len(todo):
                    break
                trial = np.clip(boundary[rows[todo]] + step[todo, None] * direction[todo], 0, 1)
                hit = oracle.adversarial(rows[todo], trial)
                candidate[todo[hit]] = trial[hit]
                step[todo[~hit]] /= 2
                todo = todo[~hit]
            boundary[rows] = _binary_search(oracle, rows, candidate, theta, norm)


def _binary_search(oracle: Oracle, rows: np.ndarray, adv: np.ndarray, theta: float,
                   norm: str) -> np.ndarray:
    """Boundary points between the clean images of ``rows`` and their adversaries ``adv``."""
    x = oracle.x[rows]
    lo = np.zeros(len(rows))
    hi = np.ones(len(rows)) if norm == "l2" else np.abs(adv - x).max(axis=1).astype(np.float64)
    while True:
        open_ = ((hi - lo) > theta) & oracle.live()[rows]
        if not open_.any():
            break
        k = np.flatnonzero(open_)
        mid = (lo[k] + hi[k]) / 2
        hit = oracle.adversarial(rows[k], project(x[k], adv[k], mid, norm))
        hi[k[hit]] = mid[hit]
        lo[k[~hit]] = mid[~hit]
    return project(x, adv, hi, norm)
