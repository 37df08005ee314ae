"""Label-free accuracy estimates from the scanned models' own predictions (issue #33).

Dawid & Skene (1979), "Maximum likelihood estimation of observer error-rates using the EM
algorithm": each model is an annotator with its own confusion matrix; EM alternates the posterior
of every image's true class given all models' labels (E) and each model's confusion matrix and the
class prior given those posteriors (M). A model's estimated accuracy is the expected share of
images on which its label is the true class. It needs no generator and no reference classifier,
so it serves user-trained domains too. It assumes the models' errors are independent given the
true class: models that share errors (checkpoints of one run, one architecture trained twice) pull
the estimate towards their common mistakes.

Peers used by the bundles' validation (they need class probabilities, not only labels):
SoftmaxCorr (Tu et al., ICML 2024) and COT (Lu et al., NeurIPS 2023).
"""

from __future__ import annotations

import numpy as np

ASSUMPTION = ("estimated from the scanned models' predictions alone (Dawid-Skene); it assumes "
              "their errors are independent, so models that share mistakes (checkpoints of one "
              "run, near-copies) are over-rated")
MIN_MODELS = 3


def dawid_skene(votes: np.ndarray, iterations: int = 100,
                tol: float = 1e-7) -> dict[str, np.ndarray]:
    """``votes`` (M models, N images) int labels >= 0. Returns ``accuracy`` (M,), ``posterior``
    (N, K) and ``prior`` (K,)."""
    votes = np.asarray(votes, dtype=np.int64)
    m, n = votes.shape
    k = int(votes.max()) + 1 if votes.size else 1
    onehot = np.zeros((m, n, k))
    onehot[np.arange(m)[:, None], np.arange(n)[None], votes] = 1.0
    posterior = onehot.mean(axis=0)  # the soft majority vote starts EM
    previous = None
    for _ in range(iterations):
        prior = posterior.mean(axis=0) + 1e-9
        # confusion[j, true, given]: smoothed so that an unseen (true, given) pair is unlikely, not
        # impossible
        confusion = np.einsum("nt,jng->jtg", posterior, onehot) + 0.01
        confusion /= confusion.sum(axis=2, keepdims=True)
        log_post = np.log(prior)[None] + np.einsum("jng,jtg->nt", onehot, np.log(confusion))
        log_post -= log_post.max(axis=1, keepdims=True)
        posterior = np.exp(log_post)
        posterior /= posterior.sum(axis=1, keepdims=True)
        if previous is not None and np.abs(posterior - previous).max() < tol:
            break
        previous = posterior
    accuracy = posterior[np.arange(n)[None], votes].mean(axis=1) if n else np.full(m, np.nan)
    return {"accuracy": accuracy, "posterior": posterior,
            "prior": posterior.mean(axis=0) if n else np.zeros(k)}


def consensus_accuracy(predictions: dict[str, np.ndarray]) -> dict[str, float] | None:
    """Per model, its Dawid-Skene accuracy estimate; None with fewer than MIN_MODELS models."""
    if len(predictions) < MIN_MODELS:
        return None
    names = list(predictions)
    votes = np.stack([np.asarray(predictions[k], dtype=np.int64) for k in names])
    if votes.shape[1] == 0:
        return None
    votes = np.where(votes < 0, votes.max() + 1, votes)
    acc = dawid_skene(votes)["accuracy"]
    return {name: float(a) for name, a in zip(names, acc)}


def softmax_corr(probs: np.ndarray) -> float:
    """SoftmaxCorr: cosine similarity of the class-correlation matrix P'P/N with the identity."""
    c = probs.T @ probs / len(probs)
    return float(np.trace(c) / (np.sqrt(len(c)) * np.linalg.norm(c) + 1e-12))


def cot(probs: np.ndarray, prior: np.ndarray | None = None) -> float:
    """COT's estimated accuracy: 1 - the optimal-transport cost (total variation) between the
    model's softmax vectors and one-hot labels drawn in the proportions of ``prior`` (uniform)."""
    from scipy.optimize import linear_sum_assignment

    n, k = probs.shape
    prior = np.full(k, 1.0 / k) if prior is None else np.asarray(prior, dtype=float)
    counts = np.floor(prior * n).astype(int)
    counts[np.argsort(-(prior * n - counts))[: n - counts.sum()]] += 1
    labels = np.repeat(np.arange(k), counts)
    cost = 0.5 * (np.abs(probs).sum(axis=1)[:, None] - probs[:, labels] + (1 - probs[:, labels]))
    rows, cols = linear_sum_assignment(cost)
    return float(1.0 - cost[rows, cols].mean())
