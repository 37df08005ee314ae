"""Algorithm 1 of Zhao, Dua & Singh, "Generating Natural Adversarial Examples" (ICLR 2018):
iterative stochastic search.

    r = 0
    loop: sample N perturbations with norm in (r, r + dr]; if one flips the label,
          return the flipping sample closest to z0; else r = r + dr

Vectorised over (image, model) pairs: every array below has one entry per pair.
"""

from __future__ import annotations

import numpy as np

from .shell import ShellSearch
from .searches import SEARCHES


@SEARCHES.register("iterative")
class IterativeSearch(ShellSearch):
    name = "iterative"
    defaults = {"samples": 250, "step": 0.1, "max_steps": 200}

    def __init__(self, n: int, settings, latent_dim: int, context=None) -> None:
        self.step = settings.step
        self.max_radius = settings.max_radius
        self.lo = np.zeros(n)
        self.done = np.zeros(n, dtype=bool)

    def interval(self) -> tuple[np.ndarray, np.ndarray]:
        """(lo, hi] of the next samples' norms, per pair."""
        return self.lo, np.minimum(self.lo + self.step, self.max_radius)

    def update(self, idx: np.ndarray, found: np.ndarray, radius: np.ndarray) -> None:
        """Pairs ``idx`` saw a flip (``found``) at norm ``radius`` in their last shell."""
        self.done[idx[found]] = True
        miss = idx[~found]
        self.lo[miss] += self.step
        self.done[miss[self.lo[miss] >= self.max_radius - 1e-12]] = True
