"""One step of a batch's latent search (driver.py): decode the live pairs' proposals, label them
with every model (with scores where the search reads margins), keep each pair's closest flip."""

from __future__ import annotations

import numpy as np

from .subspace import project


class Step:
    """One step of a batch's search: decode each live pair's proposals (each distinct (image,
    state key) once, shared by the models in that state), label them, keep every pair's closest
    flip. Returns per live pair the closest flipping proposal's norm (inf: none) and index, and
    which proposals flipped (L, k)."""

    def __init__(self, decode, classify, models, z0, shape, settings, results, start, target,
                 reference, scored: np.ndarray, basis=None) -> None:
        self.decode, self.classify, self.models, self.z0, self.shape = (
            decode, classify, models, z0, shape)
        self.k, self.results, self.start, self.target = settings.proposals, results, start, target
        self.reference = reference
        self.scored = scored  # (models,) bool: the models whose margins are read
        self.basis = basis  # the algorithm's deltas are y: z = z0 + V y (None: z0 + y)
        # distinct states per generator call
        self.per_call = max(1, settings.chunk_samples // self.k)

    def __call__(self, live, img, deltas, keys):
        k, m = self.k, len(self.z0)
        _, first, inverse = np.unique(np.column_stack([img, keys]), axis=0, return_index=True,
                                      return_inverse=True)
        inverse = inverse.reshape(-1)
        model_of = live // m
        labels = np.empty((len(live), k), dtype=np.int64)
        flips = np.empty((len(live), k), dtype=bool)
        margins = np.full((len(live), k), np.nan)
        for b in range(0, len(first), self.per_call):
            self._block(first[b : b + self.per_call], b, live, img, deltas, inverse, model_of,
                        labels, flips, margins)
        # per live pair: the closest flipping proposal (best) and its norm (r_min; inf: none)
        masked = np.where(flips, np.linalg.norm(deltas, axis=2), np.inf)
        best = masked.argmin(axis=1)
        r_min = masked[np.arange(len(live)), best]
        for j, clf in enumerate(self.models):
            sel = np.flatnonzero(model_of == j)
            if len(sel) == 0:
                continue
            res = self.results[clf.name]
            rows = self.start + img[sel]
            res.queries[rows] += k
            # Keep the closest flip found so far (NaN: none yet). An image occurs once per model.
            b = sel[np.isfinite(r_min[sel]) & ~(r_min[sel] >= res.delta_z[rows])]
            rb = self.start + img[b]
            res.delta_z[rb] = r_min[b]
            res.z_star[rb] = self.z0[img[b]] + self._full(deltas[b, best[b]])
            res.adversary_prediction[rb] = labels[b, best[b]]
        return r_min, best, flips, margins

    def _full(self, deltas: np.ndarray) -> np.ndarray:
        """The algorithm's deltas as moves of z (norms are the same: V is orthonormal)."""
        return deltas if self.basis is None else project(deltas, self.basis.T)

    def _block(self, block, b, live, img, deltas, inverse, model_of, labels, flips,
               margins) -> None:
        """Decode the distinct proposals ``block`` (from index b) and label them for every model."""
        k, shape, d = self.k, self.shape, self.z0.shape[1]
        z = self.z0[img[block]][:, None, :] + self._full(deltas[block])
        decoded = self.decode(z.reshape(-1, d),
                              np.repeat(img[block], k)).reshape(len(block), k, *shape)
        r_labels = (None if self.reference is None
                    else self.reference.predict(decoded.reshape(-1, *shape)).reshape(len(block), k))
        in_block = (inverse >= b) & (inverse < b + len(block))
        for j, clf in enumerate(self.models):
            sel = np.flatnonzero(in_block & (model_of == j))
            if len(sel) == 0:
                continue
            rows = decoded[inverse[sel] - b].reshape(-1, *shape)
            if self.scored[j]:
                found, logp = self.classify(clf, rows, scores=True)
                margins[sel] = score_margins(logp, np.repeat(self.target[live[sel]], k)).reshape(
                    len(sel), k)
            else:
                found = self.classify(clf, rows)
            labels[sel] = found.reshape(len(sel), k)
            flips[sel] = (labels[sel] != self.target[live[sel]][:, None] if r_labels is None
                          else labels[sel] != r_labels[inverse[sel] - b])


def score_margins(logp: np.ndarray, target: np.ndarray) -> np.ndarray:
    """log p_t - max over the other classes, rounded to 1e-5 (so that a model's last bits, which
    may depend on its batch, do not steer the search); NaN where t is no class of the scores."""
    n, k = logp.shape
    ok = (target >= 0) & (target < k)
    t = np.where(ok, target, 0)
    own = logp[np.arange(n), t].astype(np.float64)
    others = np.where(np.arange(k)[None, :] == t[:, None], -np.inf, logp).max(1)
    return np.where(ok, np.round(own - others, 5), np.nan)
