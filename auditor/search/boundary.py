"""Boundary search: the default on images. From an adversary, walk along the model's decision
boundary in z towards z0, steering by the boundary's normal estimated from the labels of a few
perturbations there.

Decision-based (labels only): HopSkipJump's ingredients (Chen, Jordan & Wainwright,
"HopSkipJumpAttack: A Query-Efficient Decision-Based Attack", IEEE S&P 2020) — a search onto the
boundary, the normal's sign estimate there with a baseline, a step and a search back onto the
boundary — in the generator's latent space of Zhao, Dua & Singh (ICLR 2018), with the projection
of GeoDA (Rahmati et al., "GeoDA: A Geometric Framework for Black-Box Adversarial Attacks", CVPR
2020): the nearest point of a flat boundary lies along its normal from z0. Per (image, model)
pair, with k proposals per step:

Start: the local search's (local.py: the anchors' surrogate normals, the anchor segment, then
    growing shells up to max_radius, here in up to GROWTH_PASSES passes; no flip: censored), then
    WALK_FIRST steps of its walk, which leave the stretch of boundary the start found where a
    nearer one is in reach (the boundary walk below only refines the stretch it is on). Its best
    point gives a direction u and a bracket (lo, hi] of the boundary along u: hi flips, lo =
    (1 - LO_GUESS) hi is a guess.
Bisect: k norms evenly spaced in (lo, hi) along u narrow the bracket (k + 1)-fold per step, until
    hi - lo <= max(dr, TAU hi). Where the lowest flips too and lo was a guess, lo moves down by
    the bracket's width.
Probe: k points c + delta w_i around the boundary point c = z0 + (lo + hi) / 2 u, delta =
    max(DELTA hi, 2 (hi - lo)); labels phi_i = +1 (flips) or -1, less their mean (HopSkipJump's
    baseline); e = normalise(sum_i phi_i w_i). The first time w_i are random unit vectors and
    the normal estimate g = e. After that w_i are random unit vectors *across* g (their part
    along g removed): each label then says on which side of g the normal lies along w_i, however
    small g's error (random w_i carry a signal that shrinks with it), and g <- normalise(g +
    eta e), eta growing by 1.3 while successive corrections agree and halving when they reverse.
    MIN_PROBES probe steps before the first turn, one between turns.
Step: u' = normalise(u + tan(lam a) t), a the angle between u and g and t the unit tangent part
    of g at u: a turn by the share lam of the way to g (a flat boundary's nearest point lies
    along its normal); the flat boundary's norm along u', rho = hi (u . g) / (u' . g), gives k
    norms spaced geometrically from max(rho (1 - MARGIN), FLOOR hi) to hi along u'. A flip
    below hi: u = u', (lo, hi] from those norms, lam *= GROW, then Bisect (or Probe, if already
    narrow); none: lam *= SHRINK and Probe again (a better g).
End: lam < LAM_MIN (no turn pays any more): the local search's walk goes on from the best point
    (small steps, its own end rule) for what is left of max_steps.

Every proposal that flips is a verified adversary and the driver keeps the closest, so dz is an
upper bound like every search's. A pair's search uses only its own image, the anchors and its
own model's labels, and its noise from its image's stream (common random numbers): results do
not depend on the other models, the other images or the batching. Measured against the local
and hybrid searches in docs/benchmarks.md ("The default search").
"""

from __future__ import annotations

import numpy as np

from .local import START_RADIUS, LocalSearch
from .searches import SEARCHES

BISECT, PROBE, STEP, WALK = 0, 1, 2, 3
TAU = 0.02  # relative bracket width at which bisection stops
DELTA = 0.06  # probe radius / hi
LAM0, GROW, SHRINK, LAM_MIN, LAM_MAX = 0.5, 1.5, 0.5, 0.01, 1.0  # the turn's share of the way
MIN_PROBES = 2  # probe steps before the first turn
ETA0, AGREE, REVERSE = 1.0, 1.3, 0.5  # step size of g's corrections and its factors
WALK_FIRST, LO_GUESS = 4, 0.05  # local-search walk steps first; the bracket's guessed lower end
WALK_SIGMA, WALK_EPS = 0.25, 0.15  # the local search's step sizes in the walk after the end
GROWTH_PASSES = 4  # passes of the start's growing shells (8 directions each) before censoring
MARGIN, FLOOR = 0.02, 0.8  # step ladder: from rho (1 - MARGIN), at least FLOOR hi, up to hi


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-12)


def _across(unit: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Unit vectors (W, j, d) of ``unit`` less their part along the unit vectors u (W, d)."""
    return _unit(unit - (unit * u[:, None, :]).sum(2, keepdims=True) * u[:, None, :])


@SEARCHES.register("boundary")
class BoundarySearch(LocalSearch):
    name = "boundary"
    defaults = {"samples": 8, "step": 0.005, "max_steps": 36}

    def __init__(self, n: int, settings, latent_dim: int, context) -> None:
        super().__init__(n, settings, latent_dim, context)
        self.phase = np.zeros(n, dtype=int)
        self.u = np.zeros((n, latent_dim), dtype=np.float32)  # walk direction
        self.lo = np.zeros(n)  # bracket of the boundary along u: lo does not flip, hi does
        self.hi = np.full(n, np.inf)
        self.g = np.zeros((n, latent_dim), dtype=np.float32)  # unit normal estimate (0: none)
        self.lam = np.full(n, LAM0)
        self.prewalk = np.zeros(n, dtype=bool)  # walking as the local search, before the boundary
        self.lo_seen = np.zeros(n, dtype=bool)  # lo is a norm seen not to flip (else a guess)
        self.probes = np.zeros(n, dtype=int)  # probe steps taken
        self.e = np.zeros((n, latent_dim), dtype=np.float32)  # the last correction of g
        self.eta = np.full(n, ETA0)  # its step size
        self.passes = np.ones(n, dtype=int)  # passes of the growing shells so far
        self.band0 = min(START_RADIUS * np.sqrt(latent_dim), settings.max_radius)

    def _tolerance(self, idx: np.ndarray) -> np.ndarray:
        return np.maximum(self.precision, TAU * self.hi[idx])

    def propose(self, live: np.ndarray, noise: np.ndarray,
                uniform: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Perturbations (L, k, d) and keys (L, 2): the start as the local search's, then each
        walking pair's own (keyed by the pair: nothing to share)."""
        deltas, keys = super().propose(live, noise, uniform)
        rows = np.flatnonzero(np.isfinite(self.r[live]) & (self.phase[live] != WALK))
        if len(rows) == 0:
            return deltas, keys
        pairs, k = live[rows], noise.shape[1]
        unit = _unit(noise[rows])  # (W, k, d)
        phase, u, lo, hi = self.phase[pairs], self.u[pairs], self.lo[pairs], self.hi[pairs]
        dirs = np.repeat(u[:, None, :], k, axis=1)
        radii = np.zeros((len(rows), k))  # probe rows: set below
        b = phase == BISECT
        radii[b] = lo[b, None] + (hi - lo)[b, None] * (np.arange(1, k + 1) / (k + 1))
        s = phase == STEP
        if s.any():
            dirs[s], radii[s] = self._ladder(pairs[s], k)
        out = (radii[:, :, None] * dirs).astype(np.float32)
        p = phase == PROBE
        if p.any():
            centre = (lo[p] + hi[p]) / 2
            delta = np.maximum(self._delta(pairs[p]) * hi[p], 2 * (hi[p] - lo[p]))
            g = _unit(self.g[pairs[p]])[:, None, :]  # zero before the first probe
            w = _unit(unit[p] - (unit[p] * g).sum(2, keepdims=True) * g)  # across g
            out[p] = (centre[:, None, None] * u[p, None, :]
                      + delta[:, None, None] * w).astype(np.float32)
        deltas[rows] = out
        return deltas, keys

    def _delta(self, pairs: np.ndarray) -> np.ndarray:
        """The probe radius / hi of ``pairs``."""
        return np.full(len(pairs), DELTA)

    def _ladder(self, pairs: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The step's direction u' (W, k, d) and norms (W, k) for ``pairs``."""
        u, hi, g = self.u[pairs], self.hi[pairs], _unit(self.g[pairs])
        cos = np.clip((g * u).sum(1), -1.0, 1.0)
        tangent = _unit(g - cos[:, None] * u)
        # the flat boundary's nearest point lies along g: turn by a trusted share of that angle
        turn = np.tan(self.lam[pairs] * np.arccos(cos))
        turned = _unit(u + turn[:, None] * tangent)
        along, new = (u * g).sum(1), (turned * g).sum(1)
        rho = np.where((along > 0) & (new > 0), hi * along / np.maximum(new, 1e-12), 0.0)
        low = np.clip(rho * (1 - MARGIN), FLOOR * hi, hi * (1 - TAU))
        radii = np.geomspace(low, hi, k, axis=1)
        return np.repeat(turned[:, None, :], k, axis=1), radii

    def observe(self, live: np.ndarray, r_min: np.ndarray, best: np.ndarray,
                deltas: np.ndarray, flips: np.ndarray | None = None) -> None:
        """The live pairs' closest flipping proposal (norm ``r_min``, inf: none; index ``best``
        among ``deltas``) and which proposals flipped (``flips``, (L, k))."""
        walking = np.isfinite(self.r[live]) & (self.phase[live] != WALK)
        s = np.flatnonzero(~walking)
        if len(s):
            starting = ~np.isfinite(self.r[live[s]])
            super().observe(live[s], r_min[s], best[s], deltas[s], flips[s])
            # no flip in any shell up to max_radius: another pass with fresh directions before
            # the pair is censored (8 directions per shell are few in 64 dimensions)
            again = live[s[starting & self.done[live[s]] & (self.passes[live[s]] < GROWTH_PASSES)]]
            self.done[again], self.band[again] = False, self.band0
            self.passes[again] += 1
            found = live[s[starting & np.isfinite(r_min[s])]]
            self.phase[found], self.prewalk[found] = WALK, True
            self._walked(live[s])
        w = np.flatnonzero(walking)
        if len(w) == 0:
            return
        pairs, norms = live[w], np.linalg.norm(deltas[w], axis=2)
        better = r_min[w] < self.r[pairs]
        idx = pairs[better]
        self.r[idx] = r_min[w][better]
        self.d[idx] = _unit(deltas[w][better, best[w][better]])
        phase = self.phase[pairs]
        for code, method in ((BISECT, self._bisected), (PROBE, self._probed),
                             (STEP, self._stepped)):
            sel = phase == code
            if sel.any():
                method(pairs[sel], r_min[w][sel], best[w][sel], deltas[w][sel], flips[w][sel],
                       norms[sel])

    def _walked(self, pairs: np.ndarray) -> None:
        """Pairs whose first walk (the local search's) is over start on the boundary from its
        best point; the bracket's lower end is a guess."""
        over = (self.walked[pairs] >= WALK_FIRST) | self.done[pairs]
        ready = pairs[self.prewalk[pairs] & over]
        self.prewalk[ready], self.done[ready] = False, False
        self.u[ready], self.hi[ready] = self.d[ready], self.r[ready]
        self.lo[ready], self.lo_seen[ready] = (1 - LO_GUESS) * self.r[ready], False
        self._next(ready)

    def _next(self, pairs: np.ndarray) -> None:
        """Bisect where the bracket is still wide, else probe."""
        wide = self.hi[pairs] - self.lo[pairs] > self._tolerance(pairs)
        self.phase[pairs] = np.where(wide, BISECT, PROBE)

    def _bisected(self, pairs, r_min, best, deltas, flips, norms) -> None:
        hit = np.isfinite(r_min)
        width = self.hi[pairs] - self.lo[pairs]
        below = np.where(~flips & (norms < r_min[:, None]), norms, -np.inf).max(1)
        # the lowest norm flipped too: where lo is a guess, the boundary may lie below it
        lowest = flips[:, 0] & ~self.lo_seen[pairs]
        lo = np.where(lowest, np.maximum(0.0, self.lo[pairs] - width),
                      np.maximum(self.lo[pairs], below))
        self.lo_seen[pairs] |= np.isfinite(below) & (below >= self.lo[pairs])
        self.hi[pairs] = np.where(hit, r_min, self.hi[pairs])
        self.lo[pairs] = lo
        self._next(pairs)

    def _probed(self, pairs, r_min, best, deltas, flips, norms) -> None:
        self._correct(pairs, deltas, flips)
        self.probes[pairs] += 1
        self.phase[pairs] = np.where(self.probes[pairs] >= MIN_PROBES, STEP, PROBE)

    def _correct(self, pairs: np.ndarray, deltas: np.ndarray, flips: np.ndarray) -> None:
        """Correct the normal g from probes ``deltas`` (W, j, d) around the bracket's centre."""
        centre = (self.lo[pairs] + self.hi[pairs]) / 2
        w = _unit(deltas - centre[:, None, None] * self.u[pairs, None, :])  # (W, j, d)
        self._nudge(pairs, _unit((self._signal(pairs, flips)[:, :, None] * w).sum(1)))

    def _nudge(self, pairs: np.ndarray, e: np.ndarray) -> None:
        """Move g by the correction e (W, d): the first probes' e is g, later ones add eta e, eta
        growing while successive corrections agree and shrinking when they reverse."""
        first = self.probes[pairs] == 0
        agree = (e * self.e[pairs]).sum(1) > 0
        self.eta[pairs] = np.where(first, ETA0,
                                   self.eta[pairs] * np.where(agree, AGREE, REVERSE))
        self.g[pairs] = np.where(first[:, None], e,
                                 _unit(_unit(self.g[pairs]) + self.eta[pairs, None] * e))
        self.e[pairs] = e

    def _signal(self, pairs: np.ndarray, flips: np.ndarray) -> np.ndarray:
        """Each probe's weight (W, k) in the normal's correction: +1 where it flipped, -1 where
        not, less their mean (HopSkipJump's baseline) unless all agree."""
        phi = np.where(flips, 1.0, -1.0)
        mean = phi.mean(1, keepdims=True)
        return np.where(np.abs(mean) < 1, phi - mean, phi)

    def _stepped(self, pairs, r_min, best, deltas, flips, norms) -> None:
        hit = np.isfinite(r_min) & (r_min < self.hi[pairs])
        moved, stayed = pairs[hit], pairs[~hit]
        if len(moved):
            f, n = flips[hit], norms[hit]
            rm = r_min[hit]
            below = np.where(~f & (n < rm[:, None]), n, -np.inf).max(1)
            span = self.hi[moved] - n[:, 0]  # the lowest flipped too: lo moves down by the span
            self.u[moved] = _unit(deltas[hit, 0])
            self.lo[moved] = np.where(np.isfinite(below), below, np.maximum(0.0, n[:, 0] - span))
            self.lo_seen[moved] = np.isfinite(below)
            self.hi[moved] = rm
            self.lam[moved] = np.minimum(self.lam[moved] * GROW, LAM_MAX)
            self._next(moved)
        self.lam[stayed] *= SHRINK
        self.phase[stayed] = PROBE
        ended = stayed[self.lam[stayed] < LAM_MIN]  # the local search's walk, for what is left
        self.phase[ended] = WALK
        self.sigma[ended], self.eps[ended] = WALK_SIGMA, WALK_EPS
