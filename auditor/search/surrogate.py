"""A surrogate of a classifier's decision regions in the generator's latent space, fitted to
latent points the classifier has already labelled (the local search's anchors), so it costs
no queries of its own.

Linear discriminant analysis (Fisher 1936; Hastie, Tibshirani & Friedman, "The Elements of
Statistical Learning", section 4.3): one Gaussian per class with a shared covariance gives
linear scores s_c(z) = w_c . z + b_c; the boundary between the class t of z0 and a class c
is the hyperplane s_c = s_t, with unit normal (w_c - w_t) / |w_c - w_t| pointing into c.
The real boundary is curved and the surrogate crude, but its normals are far better first
directions than random ones or the line to the nearest differently labelled point (measured
in docs/benchmarks.md).
"""

from __future__ import annotations

import numpy as np

RIDGE = 1e-3  # added to the pooled covariance's diagonal: classes with few points stay solvable


def boundary_normals(
    points: np.ndarray, labels: np.ndarray, z0: np.ndarray, target: np.ndarray, count: int
) -> tuple[np.ndarray, np.ndarray]:
    """For every z0 and its class ``target``, the unit normals of the surrogate's ``count``
    nearest boundaries between ``target`` and another class, nearest first: (m, count, d)
    float32, and (m, count) bool, False where there is no such boundary (the target class
    has no labelled point, or fewer than ``count`` other classes have)."""
    m, d = z0.shape
    dirs = np.zeros((m, count, d), dtype=np.float32)
    ok = np.zeros((m, count), dtype=bool)
    classes, index = np.unique(labels, return_inverse=True)
    if len(classes) < 2 or count == 0:
        return dirs, ok
    p = points.astype(np.float64)
    sizes = np.bincount(index, minlength=len(classes))
    mu = np.zeros((len(classes), d))
    np.add.at(mu, index, p)
    mu /= sizes[:, None]
    centred = p - mu[index]
    cov = centred.T @ centred / len(p) + RIDGE * np.eye(d)
    w = np.linalg.solve(cov, mu.T).T  # (C, d)
    b = -0.5 * np.einsum("cd,cd->c", w, mu) + np.log(sizes / len(p))

    t = np.searchsorted(classes, target)
    known = (t < len(classes)) & (classes[np.minimum(t, len(classes) - 1)] == target)
    t = np.minimum(t, len(classes) - 1)
    rows = np.arange(m)
    # distances to every boundary without an (m, C, d) array: |w_c - w_t|^2 from the Gram matrix
    gram = w @ w.T
    sq = np.diag(gram)
    length = np.sqrt(np.maximum(sq[None] + sq[t][:, None] - 2 * gram[t], 0.0))  # (m, C)
    zf = z0.astype(np.float64)
    score = zf @ w.T + b[None]  # (m, C)
    dist = -(score - score[rows, t][:, None]) / np.maximum(length, 1e-12)
    dist[rows, t] = np.inf  # not a boundary
    dist[length <= 0] = np.inf
    order = np.argsort(dist, axis=1)
    for q in range(min(count, len(classes) - 1)):
        c = order[:, q]
        dirs[:, q] = (w[c] - w[t]) / np.maximum(length[rows, c], 1e-12)[:, None]
        ok[:, q] = known & np.isfinite(dist[rows, c])
    return dirs, ok
