"""Algorithm 2 of Zhao, Dua & Singh, "Generating Natural Adversarial Examples" (ICLR 2018):
hybrid shrinking search, about 4x faster than Algorithm 1 for similar results.

Recursive phase, from (l, r] = (0, max_radius]:
    sample N perturbations with norm in (l, r]; if none flips, l = (l + r) / 2;
    if one flips, keep the closest, set l = 0, r = its norm; repeat while r - l >= dr.
Iterative phase:
    sample in (max(0, r - dr), r]; a flip sets r to the closest flip's norm and resets a
    miss counter; a miss moves r down by dr and counts; stop after B consecutive misses.

A pair that never sees a flip ends censored (its optimal norm lies beyond max_radius).
Vectorised over (image, model) pairs.
"""

from __future__ import annotations

import numpy as np

from .shell import ShellSearch
from .searches import SEARCHES


@SEARCHES.register("hybrid")
class HybridSearch(ShellSearch):
    name = "hybrid"
    defaults = {"samples": 250, "step": 0.1, "max_steps": 200}

    def __init__(self, n: int, settings, latent_dim: int, context=None) -> None:
        self.step = settings.step
        self.patience = settings.patience
        self.lo = np.zeros(n)
        self.hi = np.full(n, float(settings.max_radius))
        self.iterative = np.zeros(n, dtype=bool)  # in the iterative phase
        self.misses = np.zeros(n, dtype=int)
        self.found_any = np.zeros(n, dtype=bool)
        self.done = np.zeros(n, dtype=bool)

    def interval(self) -> tuple[np.ndarray, np.ndarray]:
        lo = np.where(self.iterative, np.maximum(0.0, self.hi - self.step), self.lo)
        return lo, self.hi

    def update(self, idx: np.ndarray, found: np.ndarray, radius: np.ndarray) -> None:
        it = self.iterative[idx]
        # recursive phase
        rec_hit, rec_miss = idx[~it & found], idx[~it & ~found]
        self.hi[rec_hit] = radius[~it & found]
        self.lo[rec_hit] = 0.0
        self.found_any[rec_hit] = True
        self.lo[rec_miss] = (self.lo[rec_miss] + self.hi[rec_miss]) / 2
        rec = idx[~it]
        narrow = rec[self.hi[rec] - self.lo[rec] < self.step]
        # a bracket narrower than dr without any flip: nothing below max_radius flips
        self.done[narrow[~self.found_any[narrow]]] = True
        self.iterative[narrow[self.found_any[narrow]]] = True
        # iterative phase
        it_hit, it_miss = idx[it & found], idx[it & ~found]
        self.hi[it_hit] = radius[it & found]
        self.misses[it_hit] = 0
        self.hi[it_miss] = self.hi[it_miss] - self.step
        self.misses[it_miss] += 1
        stop = it_miss[(self.misses[it_miss] >= self.patience) | (self.hi[it_miss] <= 0)]
        self.done[stop] = True
