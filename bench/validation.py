"""Shared by the zoo benchmarks: per-model label-free figures, their rank correlation with
accuracy, and the validation record a generator bundle's manifest keeps (issues #13, #19)."""

from __future__ import annotations

import datetime as dt

import numpy as np

from auditor import stats

# the product's own figures, one of which a bundle's validation names as "read as accuracy"
FIGURES = ("mean_dz", "median_dz", "mean_error_distance", "median_error_distance", "agreement_with_reference")
# label-free peers
PEERS = ("confidence", "majority_agreement", "nuclear_norm")
LABELS = {
    "mean_dz": "mean Δz",
    "median_dz": "median Δz",
    "mean_error_distance": "mean distance to the nearest natural error",
    "median_error_distance": "median distance to the nearest natural error",
    "agreement_with_reference": "agreement with the reference classifier R",
    "confidence": "mean max-softmax confidence (peer)",
    "majority_agreement": "agreement with the zoo's majority vote (peer)",
    "nuclear_norm": "normalised nuclear norm of the softmax matrix (peer; Deng et al. 2023)",
}


def rank_corr(a, b) -> float:
    from scipy.stats import spearmanr

    return float(spearmanr(a, b).statistic)


def nuclear_norm(p: np.ndarray) -> float:
    """||P||_* / sqrt(N min(N, K)) of the (N, K) softmax matrix (Deng et al., ICML 2023)."""
    n, k = p.shape
    return float(np.linalg.svd(p, compute_uv=False).sum() / np.sqrt(n * min(n, k)))


def model_figures(zoo, out, images: np.ndarray, labels: np.ndarray, rows: np.ndarray) -> dict[str, dict[str, float]]:
    """Every figure of every model over the images ``rows`` (a boolean mask)."""
    votes = np.stack([m.predict(images[rows]) for m in zoo])
    majority = np.array([np.bincount(col, minlength=10).argmax() for col in votes.T])
    r_x = out.reference_prediction[rows]
    figures = {}
    for m, pred in zip(zoo, votes):
        res, err = out.results[m.name], out.errors[m.name]
        dz = stats.summary(res.delta_z[rows], res.censored[rows])
        ed = stats.summary(err.delta_z[rows], np.isnan(err.delta_z[rows]))
        agrees = pred == r_x
        has_adv = ~np.isnan(res.delta_z[rows]) & agrees
        kept = has_adv & (out.reference_adversary[m.name][rows] == r_x)
        probs = m.proba(images[rows])
        figures[m.name] = {
            "accuracy": float((pred == labels[rows]).mean()),
            "mean_dz": dz["mean_delta_z"], "median_dz": dz["median_delta_z"] if dz["median_delta_z"] is not None else np.inf,
            "mean_error_distance": ed["mean_delta_z"] or 0.0,
            "median_error_distance": ed["median_delta_z"] if ed["median_delta_z"] is not None else np.inf,
            "agreement_with_reference": float(agrees.mean()),
            "kept_class": float(kept.sum() / max(1, has_adv.sum() + (~agrees).sum())),
            "censored_errors": int(np.isnan(err.delta_z[rows]).sum()),
            "confidence": float(probs.max(axis=1).mean()),
            "majority_agreement": float((pred == majority).mean()),
            "nuclear_norm": nuclear_norm(probs),
        }
    return figures


def figures_table(corr: dict[str, dict[str, float]]) -> list[str]:
    lines = ["| label-free figure | Spearman ρ, validation part | Spearman ρ, test part (report this) |",
             "|---|---:|---:|"]
    for key in (*FIGURES, *PEERS):
        lines.append(f"| {LABELS[key]} | {corr['validation'][key]:.3f} | {corr['test'][key]:.3f} |")
    return lines


def validation_record(zoo_name: str, zoo, corr, chosen: str, n_images: dict[str, int]) -> dict:
    """What a bundle's manifest records under ``validation``."""
    return {
        "zoo": zoo_name, "n_models": len(zoo), "families": sorted({m.family for m in zoo}), "n_images": n_images,
        "read_as_accuracy": chosen,
        "spearman_test": {k: round(v, 3) for k, v in corr["test"].items()},
        "spearman_validation": {k: round(v, 3) for k, v in corr["validation"].items()},
        "labels": {k: LABELS[k] for k in (*FIGURES, *PEERS)},
        "date": dt.date.today().isoformat(),
    }
