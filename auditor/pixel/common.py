"""What every pixel attack shares: norms, projections, and the oracle that counts queries,
enforces the budget and keeps each pair's closest adversary."""

from __future__ import annotations

import numpy as np


def distance(delta: np.ndarray, norm: str) -> np.ndarray:
    """Row-wise L2 or Linf norm of (n, d) differences."""
    delta = delta.reshape(len(delta), -1).astype(np.float64)
    return np.sqrt((delta**2).sum(axis=1)) if norm == "l2" else np.abs(delta).max(axis=1)


def project(x: np.ndarray, adv: np.ndarray, t: np.ndarray, norm: str) -> np.ndarray:
    """Points between x and adv: L2, the blend x + t (adv - x); Linf, adv clipped to the Linf
    ball of radius t around x."""
    t = np.asarray(t, dtype=np.float32)[:, None]
    if norm == "l2":
        return x + t * (adv - x)
    return np.clip(adv, x - t, x + t)


def clip_ball(x: np.ndarray, candidate: np.ndarray, eps: np.ndarray, norm: str) -> np.ndarray:
    """candidate pulled into the eps-ball around x (rows), then into [0, 1]."""
    delta = candidate - x
    eps = np.asarray(eps, dtype=np.float32)
    if norm == "l2":
        length = np.sqrt((delta.astype(np.float64) ** 2)
                         .sum(axis=-1, keepdims=True)).astype(np.float32)
        delta = delta * np.minimum(1.0, eps[..., None] / np.maximum(length, 1e-12))
    else:
        delta = np.clip(delta, -eps[..., None], eps[..., None])
    return np.clip(x + delta, 0.0, 1.0)


class Oracle:
    """One model's black box for a batch of images (flattened, float32 in [0, 1]).

    Every image a query asks about costs one query of its pair; a pair whose budget is spent is
    no longer ``live`` and is never queried again. Every adversarial query (label != the label of
    the clean image) is compared with the pair's best so far, by its measured norm: the attack's
    result is the closest adversary it ever saw, so eps is the measured norm of a verified flip.
    """

    def __init__(self, classifier, x: np.ndarray, labels: np.ndarray, shape: tuple[int, ...],
                 budget: int, norm: str, scores: bool = False) -> None:
        self.clf, self.x, self.labels, self.shape = classifier, x, labels, shape
        self.budget, self.norm, self.scores = budget, norm, scores
        n = len(x)
        self.queries = np.zeros(n, dtype=np.int64)
        self.best = np.full(n, np.inf)
        self.best_x = np.full_like(x, np.nan)
        self.best_label = np.full(n, -1, dtype=np.int64)

    def live(self) -> np.ndarray:
        return self.queries < self.budget

    def ask(self, owners: np.ndarray, images: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """Labels (and log-probabilities where ``scores``) of ``images``, one per row of ``owners``
        (pairs may repeat); rows whose pair is out of budget are not asked: label -1."""
        owners = np.asarray(owners)
        # a pair may only spend what it has left, in order
        order = np.argsort(owners, kind="stable")
        rank = np.empty(len(owners), dtype=np.int64)
        counts = np.bincount(owners, minlength=len(self.x))
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        rank[order] = np.arange(len(owners)) - starts[owners[order]]
        allowed = self.queries[owners] + rank < self.budget
        labels = np.full(len(owners), -1, dtype=np.int64)
        logp = None
        idx = np.flatnonzero(allowed)
        if len(idx):
            batch = images[idx].reshape(len(idx), *self.shape).astype(np.float32)
            if self.scores:
                lab, lp = self.clf.predict_scores(batch)
                logp = np.full((len(owners), lp.shape[1]), np.nan)
                logp[idx] = lp
            else:
                lab = self.clf.predict(batch)
            labels[idx] = lab
            np.add.at(self.queries, owners[idx], 1)
            adversarial = lab != self.labels[owners[idx]]
            if adversarial.any():
                hit = idx[adversarial]
                dist = distance(images[hit] - self.x[owners[hit]], self.norm)
                for row, dd in zip(hit, dist):  # few per call
                    pair = owners[row]
                    if dd < self.best[pair]:
                        (self.best[pair], self.best_x[pair],
                         self.best_label[pair]) = dd, images[row], labels[row]
        return labels, logp

    def adversarial(self, owners: np.ndarray, images: np.ndarray) -> np.ndarray:
        """Whether each image flips its pair's label (False where not asked: out of budget)."""
        labels, _ = self.ask(owners, images)
        return (labels >= 0) & (labels != self.labels[np.asarray(owners)])

    def finish(self) -> None:
        """Nothing to check: every adversary kept was labelled by the model itself."""
