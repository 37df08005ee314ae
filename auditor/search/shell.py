"""Shared machinery of the paper's two searches: each step samples N perturbations with
random directions and norms uniform in a shell (lo, hi] that the algorithm chooses per
(image, model) pair, and learns only whether one flipped the label and at what norm."""

from __future__ import annotations

import numpy as np


class ShellSearch:
    """Subclasses set ``self.done`` and implement ``interval()`` and ``update()``."""

    done: np.ndarray
    anchors = 0  # no prior samples: the paper's searches know nothing of a model beforehand

    def interval(self) -> tuple[np.ndarray, np.ndarray]:
        """(lo, hi] of the next samples' norms, per pair."""
        raise NotImplementedError

    def update(self, idx: np.ndarray, found: np.ndarray, radius: np.ndarray) -> None:
        """Pairs ``idx`` saw a flip (``found``) at norm ``radius`` in their last shell."""
        raise NotImplementedError

    def propose(self, live: np.ndarray, noise: np.ndarray,
                uniform: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Perturbations (L, N, d) for the live pairs, and keys (L, 2): pairs of one image
        with equal keys get identical perturbations (their decodes are shared)."""
        lo, hi = self.interval()
        lo, hi = lo[live], hi[live]
        radii = (lo[:, None] + uniform * (hi - lo)[:, None]).astype(np.float32)
        dirs = noise / np.linalg.norm(noise, axis=2, keepdims=True)
        return radii[:, :, None] * dirs, np.stack([lo, hi], axis=1)

    def observe(self, live: np.ndarray, r_min: np.ndarray, best: np.ndarray,
                deltas: np.ndarray, flips: np.ndarray | None = None) -> None:
        """The live pairs' closest flipping proposal: its norm ``r_min`` (inf: no flip) and
        index ``best`` among the proposals ``deltas``."""
        found = np.isfinite(r_min)
        self.update(live, found, np.where(found, r_min, 0.0))
