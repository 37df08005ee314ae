"""Margin search: the boundary search (boundary.py), steered by the model's class scores where it
gives them.

Score-based (class scores, no gradients), for models that give scores; a pair whose model gives
labels only is walked as ``boundary`` walks it, but with a forest's pooled probes (below: BETWEEN
probe steps between turns at FAR, one correction of the normal from all their labels; on 60 tuning
photos at the same queries resnet8 +49% -> +24%, mlp64 +30% -> +13%). The driver hands this search,
besides which proposals flipped, each proposal's *margin* m(z) = log p_t(G(z)) - max_{c != t} log
p_c(G(z)) (t: the label to flip; m < 0 where it flipped). A margin is a number where a label is a
bit, so the walk changes in these places:

Gradient: every walking step's proposals near the boundary point b = z0 + hi u (a verified flip
    whose margin m_b is known) are finite differences of m: the estimate G of grad m is moved,
    by the least change that fits them (a Broyden update; Broyden 1965, as in Nocedal & Wright,
    "Numerical Optimization", ch. 6), to m(b + D_i) - m_b = G . D_i for each proposal's offset
    D_i from b. Bisection points fit G along u, probes (random directions across u, radius
    RADIUS * hi around b) across it, ladder points along the turned direction: every query
    informs G, where a label only says on which side it fell. The normal is g = -G / |G|.
Ladder: the step turns u towards g by the share lam (as boundary.py, LAM_SCORES at first) and
    puts SLOTS norms around the norm t* at which the linear model m_b + G . (z - b) crosses 0
    along the turned direction (from t* (1 - BELOW) up, spaced SPREAD apart) instead of a
    geometric ladder from the flat boundary's guess to hi; its other k - SLOTS proposals probe
    around the predicted crossing (radius RADIUS * hi), so that where a flip moves b and the
    bracket is narrow the next turn follows at once, with no probe step between. The ladder's
    last norm is a hedge, HEDGE of the way from the first up to hi: where G's crossing is too
    optimistic (curvature), a flip nearer than hi all the same, where a missed step only halved
    lam and cost a probe step. Where G predicts no nearer crossing, the boundary search's ladder.
Moves: a step that moves b turns again at once, without the bisection that would narrow a wide
    bracket where a norm below b did not flip (b's margin is known: the linear model needs no
    narrow bracket; where every norm flipped, b may lie deep inside: bisect), and a probe around the
    crossing that flips below the ladder's best becomes b (it was a lost flip); proposals up to
    NEAR * hi from b inform G (0.3: a missed step's ladder often taught G nothing). On 60 held-out
    photos (bench/search_gap.py --domain cifar10tune, 46 steps, the same queries) median gaps
    resnet8 +5.2% -> +3.8%, resnet9 +10.0% -> +6.0%; the examples' photos +6.5/+10.4% -> +5.6/+6.4%.
Start: the boundary search's, except that its growing shells (no flip yet) aim around the
    direction of the lowest margin seen so far (spread LEAD) instead of anywhere: a model that
    resists every random direction up to max_radius often gives way along the one it liked least.
Probes between turns: PROBES0 before the first turn, PROBES after each. Where margins carry no
gradient (a forest's scores are constant between jumps: a share STEPWISE of the differences
between neighbouring bisection points, or of a probe step's, are below STILL), the pair is
walked by its labels from then on, as the boundary search walks it (the first walking step is
always a bisection: from then on such a pair's walk is the boundary search's), except where
its margins jump: once a probe step's margins repeat a value at least JUMP from 0 and spread at
least JUMP (a forest's vote shares, a kNN's; not a smooth model's rounding where the boundary
lies very near z0), the pair's probes go farther out (FAR * hi: a forest's boundary is jagged
at small scales), it takes BETWEEN probe steps between turns, pooled into one correction of the
normal in which each probe weighs by the centred rank of -m among the pool's probes (equal margins
tied) instead of its label: where a label says only on which side a probe fell, the order of the
margins says which fell deepest. Such pairs and label-only ones of the models SearchSettings.
stretched names (smoothness.py's probe) walk for up to STRETCH times max_steps (the driver steps
on for them alone; bench/search_gap.py: MNIST's forest +18% -> +6%, Fashion's rf20 +11% -> +2%).
Where none is stretched (--search auto on photos: registry.DEFAULTS) they walk max_steps with
FAR_SHORT, BETWEEN_SHORT; a forest first searched by its trees' soft copy (trees.py), from that
start, for max_steps where stretched, else TREES of them. A proposal's label comes from the same
model call as its scores; the driver checks every pair's final adversary with ``predict``."""

from __future__ import annotations

import numpy as np

from .boundary import (BISECT, GROW, LAM_MAX, PROBE, STEP, TAU, WALK, BoundarySearch, _across,
                       _unit)
from .searches import SEARCHES

PROBES0, PROBES = 1, 1  # probe steps before the first turn, and between turns
RADIUS = 0.03  # probe radius / hi
NEAR = 0.6  # proposals farther than NEAR * hi from b do not update G (curvature; 0.3: worse)
BELOW, SPREAD = 0.01, 0.012  # the ladder around t*: from t* (1 - BELOW), norms SPREAD apart
STILL, STEPWISE = 5e-6, 0.25  # a change below STILL is none (margins are rounded to 1e-5)
SLOTS = 3  # a guided step's ladder points; its other proposals probe around the crossing
RIDGE = 1e-6  # relative ridge of the Broyden update's small solve
LEAD = 0.7  # before a flip: the shells' directions spread this far around the lowest margin's
LAM_SCORES = 0.7  # the first turn's share, where G comes from scores
JUMP = 1e-3  # a stepwise pair's probe margins repeat a value this far from 0 and spread this far
# such a pair's probe radius / hi (the boundary search's: 0.06), and probe steps between turns,
# pooled: one correction of g ranks all their probes; a stretched walk's (0.15, 0.3: no better), and
# a walk of max_steps only: wider, fewer (the tuning photos' rf10 +10.3% -> +5.8% at 380 queries)
(FAR, BETWEEN), (FAR_SHORT, BETWEEN_SHORT) = (0.2, 4), (0.3, 3)
HEDGE = 0.5  # a guided ladder's last norm: this share of the way from t* (1 - BELOW) up to hi
STRETCH = 2  # a stepwise pair's steps / max_steps (its walk needs more: docs/benchmarks.md)
TREES = 0.75  # a pair searched by a soft copy of its trees first (trees.py): its share of the steps


@SEARCHES.register("margin")
class MarginSearch(BoundarySearch):
    name = "margin"
    defaults = {"samples": 8, "step": 0.005, "max_steps": 36}
    scores = True  # the driver passes each proposal's margin (NaN for label-only models)
    stretch = STRETCH  # the driver steps up to stretch * max_steps; only stepwise pairs use them

    def __init__(self, n: int, settings, latent_dim: int, context) -> None:
        super().__init__(n, settings, latent_dim, context)
        self.G = np.zeros((n, latent_dim))  # estimate of grad m (0: none yet)
        self.m_r = np.full(n, np.nan)  # margin at the best point (r, d)
        self.m_hi = np.full(n, np.nan)  # margin at b = z0 + hi u
        self.scored = np.zeros(n, dtype=bool)  # the pair's model gives margins
        self.stepwise = np.zeros(n, dtype=bool)  # its margins are flat between jumps: labels
        self.jumps = np.zeros(n, dtype=bool)  # probes pooled: margins jumped, or labels only
        self.turned_at = np.full(n, -1)  # probe steps taken at the last turn (-1: none yet)
        self.guided = np.zeros(n, dtype=bool)  # its last step was around the model's crossing
        self.m_low = np.full(n, np.inf)  # before any flip: the lowest margin seen, its direction
        self.d_low = np.zeros((n, latent_dim), dtype=np.float32)
        self.m_step = np.full((n, settings.proposals), np.nan)  # the last step's margins
        self.taken = np.zeros(n, dtype=int)  # steps observed
        pool = settings.proposals * (BETWEEN - 1)  # a jumping pair's held probes of this turn:
        self.w_pool = np.zeros((n, pool, latent_dim), dtype=np.float32)  # directions,
        self.m_pool = np.full((n, pool), np.nan)  # margins,
        self.f_pool = np.zeros((n, pool), dtype=bool)  # labels,
        self.held = np.zeros(n, dtype=int)  # and how many probe steps of it are held
        # long: pairs of a model SearchSettings.stretched names, walked for up to STRETCH times
        # max_steps once they walk so (per model: not a network's pair whose margins round flat
        # near z0). Half: a model searched by gradients too (gradient.py) walks half the steps;
        # trees (trees.py): TREES of them, all where stretched (the copy's start is the stretch)
        self.long, half, trees = (np.repeat(np.zeros(context.n_models, dtype=bool) if v is None
                                            else v, n // context.n_models)
                                  for v in (context.stretched, context.white, context.trees))
        share = np.where(half, 0.5, np.where(trees, np.where(self.long, 1.0, TREES), 1.0))
        self.limit, self.long = np.floor(share * settings.max_steps).astype(int), self.long & ~trees
        self.far, self.between = (np.where(self.long, a, b) for a, b in ((FAR, FAR_SHORT),
                                                                        (BETWEEN, BETWEEN_SHORT)))

    def _valued(self, pairs: np.ndarray) -> np.ndarray:
        """Mask over ``pairs``: walked by margins (scores, a known m_b and a gradient)."""
        return self.scored[pairs] & np.isfinite(self.m_hi[pairs])

    def propose(self, live: np.ndarray, noise: np.ndarray,
                uniform: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        deltas, keys = super().propose(live, noise, uniform)
        walking = np.isfinite(self.r[live]) & (self.phase[live] != WALK) & self._valued(live)
        unit = _unit(noise)
        _, growing, _ = self._phases(live)
        lead = np.flatnonzero(growing & self.scored[live] & np.isfinite(self.m_low[live]))
        if len(lead):  # the growing shells' directions around the lowest margin seen so far
            pairs = live[lead]
            dirs = _unit(self.d_low[pairs][:, None, :] + LEAD * unit[lead])
            deltas[lead] = np.linalg.norm(deltas[lead], axis=2, keepdims=True) * dirs
            keys[lead] = np.stack([np.ones(len(lead)), pairs.astype(float)], 1)
        probe = np.flatnonzero(walking & (self.phase[live] == PROBE))
        if len(probe):
            pairs = live[probe]
            u, hi = self.u[pairs], self.hi[pairs]
            deltas[probe] = (hi[:, None, None] * u[:, None, :] + (RADIUS * hi)[:, None, None]
                             * _across(unit[probe], u)).astype(np.float32)
        self.guided[live] = False
        step = np.flatnonzero(walking & (self.phase[live] == STEP))
        if len(step):
            turned, radii, ok = self._guided(live[step], SLOTS)
            rows, pairs = step[ok], live[step[ok]]
            self.guided[pairs] = True
            ladder = radii[ok][:, :, None] * turned[ok][:, None, :]
            # the other slots probe around the predicted crossing: G for the next turn
            centre = radii[ok][:, 1, None] * turned[ok]
            around = centre[:, None, :] + (RADIUS * self.hi[pairs])[:, None, None] * _across(
                unit[rows, SLOTS:], turned[ok])
            deltas[rows] = np.concatenate([ladder, around], axis=1).astype(np.float32)
        return deltas, keys

    def _guided(self, pairs: np.ndarray, k: int):
        """The turned direction (W, d), the norms around the linear model's crossing (W, k), and
        whether the model predicts a crossing nearer than hi (W,)."""
        u, hi, lam = self.u[pairs], self.hi[pairs], self.lam[pairs]
        grad = self.G[pairs]
        g = _unit(-grad)
        cos = np.clip((g * u).sum(1), -1.0, 1.0)
        tangent = _unit(g - cos[:, None] * u)
        turned = _unit(u + np.tan(lam * np.arccos(cos))[:, None] * tangent)
        # m_b + G . (t u' - hi u) = 0
        slope = (grad * turned).sum(1)
        start = (grad * u).sum(1) * hi - self.m_hi[pairs]
        t = np.where(slope < 0, start / np.where(slope < 0, slope, -1.0), np.inf)
        low = t * (1 - BELOW)
        radii = low[:, None] * (1 + SPREAD) ** np.arange(k)[None, :]
        ok = (slope < 0) & (low > 0.5 * hi) & (low < hi)
        # a hedge: where G's crossing is too optimistic, a flip nearer than hi all the same
        radii[:, -1] = np.maximum(radii[:, -1], (1 - HEDGE) * low + HEDGE * hi)
        radii = np.minimum(radii, hi[:, None] * (1 - 1e-3))
        return turned, radii, ok

    def observe(self, live: np.ndarray, r_min: np.ndarray, best: np.ndarray,
                deltas: np.ndarray, flips: np.ndarray | None = None,
                margins: np.ndarray | None = None) -> None:
        if margins is None:
            margins = np.full(flips.shape, np.nan)
        self.scored[live] |= np.isfinite(margins).all(1) & ~self.stepwise[live]
        self.jumps[live[np.isnan(margins).all(1)]] = True  # labels only: probes pooled too
        rows = np.arange(len(live))
        phase = np.where(np.isfinite(self.r[live]) & self._valued(live), self.phase[live], -1)
        before = np.flatnonzero(phase == PROBE)  # G first: the probes' turn reads it
        if len(before):
            self._absorb(live[before], deltas[before], margins[before], probes=True)
        hi, u = self.hi[live].copy(), self.u[live].copy()
        lowest = np.nanargmin(np.where(np.isfinite(margins), margins, np.inf), axis=1)
        m = margins[rows, lowest]
        low = ~np.isfinite(self.r[live]) & (m < self.m_low[live])
        self.m_low[live[low]] = m[low]
        self.d_low[live[low]] = _unit(deltas[rows[low], lowest[low]])
        better = np.isfinite(r_min) & (r_min < self.r[live])
        self.m_step[live] = margins
        self._jumped(live, margins)
        super().observe(live, r_min, best, deltas, flips)
        self.m_r[live[better]] = margins[rows, best][better]
        moved = np.flatnonzero((self.hi[live] != hi) | (self.u[live] != u).any(1))
        if len(moved):
            self._anchor(live[moved], deltas[moved], margins[moved])
        line = np.flatnonzero(phase == BISECT)  # points along u: a forest's margins repeat
        if len(line):
            order = np.argsort(np.linalg.norm(deltas[line], axis=2), axis=1)
            steps = np.diff(np.take_along_axis(margins[line], order, 1), axis=1)
            still = live[line[(np.abs(steps) < STILL).mean(1) >= STEPWISE]]
            self.stepwise[still], self.scored[still] = True, False
        after = np.flatnonzero(((phase == BISECT) | (phase == STEP)) & self._valued(live))
        if len(after):  # the new b's neighbours: the ladder's and the probes' differences
            self._absorb(live[after], deltas[after], margins[after])
            p = live[after]
            self.g[p] = _unit(-self.G[p]).astype(np.float32)
        self.taken[live] += 1  # max_steps ends all but the stretched pairs, as for any search
        ends = ~(self.long[live] & ~self.scored[live])  # stepwise, or labels only
        self.done[live[(self.taken[live] >= self.limit[live]) & ends]] = True

    def _anchor(self, pairs: np.ndarray, deltas: np.ndarray, margins: np.ndarray) -> None:
        """m_b of pairs whose b moved: the proposal at b, else the best point's, else unknown."""
        b = self.hi[pairs, None] * self.u[pairs]
        gap = np.linalg.norm(deltas - b[:, None, :], axis=2)
        slot = gap.argmin(1)
        rows = np.arange(len(pairs))
        here = gap[rows, slot] <= 1e-4 * np.maximum(self.hi[pairs], 1e-12)
        known = np.where(self.hi[pairs] == self.r[pairs], self.m_r[pairs], np.nan)
        self.m_hi[pairs] = np.where(here, margins[rows, slot], known)

    def _absorb(self, pairs: np.ndarray, deltas: np.ndarray, margins: np.ndarray,
                probes: bool = False) -> None:
        """The least change of G that fits m(b + D_i) - m_b = G . D_i for the proposals near b
        (``probes``: they are a probe step's, random moves, which change a smooth margin)."""
        b = self.hi[pairs, None] * self.u[pairs].astype(np.float64)
        offsets = deltas.astype(np.float64) - b[:, None, :]  # (W, k, d)
        size = np.linalg.norm(offsets, axis=2)
        near = (size <= NEAR * self.hi[pairs, None]) & (size > 0) & np.isfinite(margins)
        offsets = np.where(near[:, :, None], offsets, 0.0)
        residual = np.where(near, margins - self.m_hi[pairs, None], 0.0)
        # a forest's margins: most small moves change nothing; walk such a pair by its labels
        if probes:
            flat = (near & (np.abs(residual) < STILL)).sum(1) >= STEPWISE * near.sum(1)
            self.stepwise[pairs[flat]], self.scored[pairs[flat]] = True, False
        residual -= np.einsum("wkd,wd->wk", offsets, self.G[pairs])
        gram = np.einsum("wkd,wjd->wkj", offsets, offsets)
        scale = np.maximum(np.trace(gram, axis1=1, axis2=2), 1e-12)
        gram += (RIDGE * scale)[:, None, None] * np.eye(gram.shape[1])[None]
        coef = np.linalg.solve(gram, residual[:, :, None])[:, :, 0]
        self.G[pairs] += np.einsum("wk,wkd->wd", coef, offsets)

    def _probed(self, pairs, r_min, best, deltas, flips, norms) -> None:
        valued = self._valued(pairs) & (np.linalg.norm(self.G[pairs], axis=1) > 0)
        plain = ~valued
        if plain.any():
            q = pairs[plain]
            super()._probed(q, r_min[plain], best[plain], deltas[plain], flips[plain],
                            norms[plain])
            more = q[self.jumps[q] & (self.turned_at[q] >= 0)
                     & (self.probes[q] - self.turned_at[q] < self.between[q])]
            self.phase[more] = PROBE
        p = pairs[valued]
        if len(p) == 0:
            return
        self.g[p] = _unit(-self.G[p]).astype(np.float32)
        first = self.probes[p] == 0
        self.lam[p[first]] = LAM_SCORES
        self.probes[p] += 1
        turned = self.turned_at[p] >= 0
        since = self.probes[p] - np.where(turned, self.turned_at[p], 0)
        self.phase[p] = np.where(since >= np.where(turned, PROBES, PROBES0), STEP, PROBE)

    def _stepped(self, pairs, r_min, best, deltas, flips, norms) -> None:
        """A guided step's ladder is its first SLOTS proposals (the rest probed); where it moved b
        the next turn follows at once (its probes came with it), as it does where a plain step
        moved a pair walked by margins; a probe that flipped below the ladder's best is b."""
        self.turned_at[pairs] = self.probes[pairs]
        guided = self.guided[pairs]
        plain = ~guided
        if plain.any():
            q = pairs[plain]
            valued, hi = self._valued(q), self.hi[q].copy()
            super()._stepped(q, r_min[plain], best[plain], deltas[plain],
                             flips[plain], norms[plain])
            self._again(q[valued & (self.hi[q] < hi)])
        p = pairs[guided]
        if len(p) == 0:
            return
        f, n = flips[guided, :SLOTS], norms[guided, :SLOTS]
        ladder = np.where(f, n, np.inf).min(1)
        hi, lam = self.hi[p].copy(), self.lam[p].copy()
        super()._stepped(p, ladder, best[guided], deltas[guided, :SLOTS], f, n)
        self._again(p[self.hi[p] < hi])
        self._aside(p, r_min[guided], best[guided], deltas[guided], hi, lam)

    def _again(self, pairs: np.ndarray) -> None:
        """Pairs walked by margins whose step moved b turn again at once (a guided step's probes
        came with it, a plain step's ladder informed G) where the bracket is narrow, or wide but
        seen: a norm below b did not flip, so b lies near the boundary, and its margin is known
        (the linear model needs no narrow bracket). Where even the lowest flipped, b may lie deep
        inside: bisect first."""
        again = (self.phase[pairs] == PROBE) | ((self.phase[pairs] == BISECT) & self.lo_seen[pairs])
        self.phase[pairs[again]] = STEP

    def _aside(self, pairs, r_min, best, deltas, hi, lam) -> None:
        """Where a probe around the crossing flipped below the ladder's best (and below the old
        hi), b moves there and the next turn follows at once: its margin is known (the linear
        model needs no bracket), and its neighbours are the step's other probes."""
        side = np.isfinite(r_min) & (r_min < np.minimum(self.hi[pairs], hi) * (1 - 1e-6))
        if not side.any():
            return
        q, rows = pairs[side], np.flatnonzero(side)
        self.u[q] = _unit(deltas[rows, best[rows]])
        self.hi[q] = r_min[side]
        self.lo[q], self.lo_seen[q] = (1 - TAU) * self.hi[q], False
        self.lam[q] = np.minimum(lam[side] * GROW, LAM_MAX)
        self.phase[q] = STEP

    def _jumped(self, live: np.ndarray, margins: np.ndarray) -> None:
        """Stepwise pairs whose probe step's margins repeat a value at least JUMP from 0 and
        spread at least JUMP: their margins jump (a forest's vote shares), from then on."""
        probing = np.flatnonzero(np.isfinite(self.r[live]) & (self.phase[live] == PROBE)
                                 & self.stepwise[live])  # only these: the rest skip the test
        if len(probing) == 0:
            return
        m = margins[probing]
        big = np.where(np.abs(m) >= JUMP, m, np.nan)  # NaN: never equal
        equal = (big[:, :, None] == big[:, None, :]).sum((1, 2))
        tied = equal > (~np.isnan(big)).sum(1)  # more than each with itself
        spread = np.nanmax(m, 1, initial=-np.inf) - np.nanmin(m, 1, initial=np.inf)
        self.jumps[live[probing[tied & (spread >= JUMP)]]] = True

    def _delta(self, pairs: np.ndarray) -> np.ndarray:
        """A pair whose margins jump probes farther out (a forest's boundary is jagged at small
        scales): FAR, or FAR_SHORT; the others as the boundary search."""
        return np.where(self.jumps[pairs], self.far[pairs], super()._delta(pairs))

    def _correct(self, pairs: np.ndarray, deltas: np.ndarray, flips: np.ndarray) -> None:
        """A pair whose margins jump pools its BETWEEN probe steps after a turn: each step's
        probes are held and the last one corrects g once, by the ranks of all their margins (on
        the photos' forest a rank over 32 probes steers better than four over 8); the others,
        and a pool that missed a step, as the boundary search."""
        slot = self.probes[pairs] - self.turned_at[pairs]  # the probe step since the turn
        between = self.between[pairs]
        pooled = self.jumps[pairs] & (self.turned_at[pairs] >= 0) & (slot < between)
        last = pooled & (slot == between - 1)
        full = last & (self.held[pairs] == between - 1)
        centre = (self.lo[pairs] + self.hi[pairs]) / 2
        w = _unit(deltas - centre[:, None, None] * self.u[pairs, None, :]).astype(np.float32)
        k = deltas.shape[1]
        for s in range(BETWEEN - 1):  # hold this step's probes in the pool's slot s (not the last)
            rows = np.flatnonzero(pooled & ~last & (slot == s))
            p, at = pairs[rows], slice(s * k, (s + 1) * k)
            self.w_pool[p, at], self.m_pool[p, at], self.f_pool[p, at] = (
                w[rows], self.m_step[p], flips[rows])
            self.held[p] = np.where((s == 0) | (self.held[p] == s), s + 1, 0)
        plain = ~pooled | (last & ~full)
        if plain.any():
            super()._correct(pairs[plain], deltas[plain], flips[plain])
        for size in np.unique(between[full]):  # the pairs whose pool is full, by its size
            rows = np.flatnonzero(full & (between == size))
            p, held = pairs[rows], slice(0, (size - 1) * k)
            ws = np.concatenate([self.w_pool[p, held], w[rows]], 1)
            m = np.concatenate([self.m_pool[p, held], self.m_step[p]], 1)
            phi = BoundarySearch._signal(self, p, np.concatenate([self.f_pool[p, held],
                                                                  flips[rows]], 1))
            phi = _by_rank(phi, m, np.ones(len(p), bool))
            self._nudge(p, _unit((phi[:, :, None] * ws).sum(1)))

    def _signal(self, pairs: np.ndarray, flips: np.ndarray) -> np.ndarray:
        """A pair whose margins jump weighs its probes by their margins (a forest's change in
        many small steps across its boundary): the centred ranks of -m, equal margins tied, so
        that the probes' order says more than their labels; the others by their labels."""
        return _by_rank(super()._signal(pairs, flips), self.m_step[pairs], self.jumps[pairs])


def _by_rank(phi: np.ndarray, m: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """``phi`` with the ``rows`` whose margins m differ (beyond rounding) weighed instead by the
    centred ranks of -m."""
    ranked = rows & np.isfinite(m).all(1) & (m.max(1) - m.min(1) > STILL)
    if ranked.any():
        phi[ranked] = _ranks(-m[ranked])
    return phi


def _ranks(v: np.ndarray) -> np.ndarray:
    """Per row the ranks of v (ties share their mean rank), centred, in [-1, 1]."""
    k = v.shape[1]
    less = (v[:, None, :] < v[:, :, None]).sum(2)
    equal = (v[:, None, :] == v[:, :, None]).sum(2)
    rank = less + (equal - 1) / 2  # 0 .. k-1
    return (2 * rank - (k - 1)) / max(k - 1, 1)

