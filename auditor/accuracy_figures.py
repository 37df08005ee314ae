"""Validating a generator: which label-free figure ranks models by accuracy on its domain.

Per model, the scan's figures (mean and median dz, the natural-error figures where the bundle
has a reference classifier R) and label-free peers are computed over images whose labels are
known, and each figure's Spearman rho with accuracy is measured. The figure to read as accuracy
is *chosen* on the first half of the images (the highest rho; figures within TIE of it are tied,
and the one that needs the least computation wins: ``choose``) and every rho is *reported* on the
second half, so the reported rho of the chosen figure was not used to choose it. The result is the
``validation`` record of a bundle's manifest, which scans state (issues #13, #19). Used by
`auditor validate-generator` and bench/validate_zoo.py.
"""

from __future__ import annotations

import datetime as dt

import numpy as np

from auditor import stats

# the product's own figures, one of which a bundle's validation names as "read as accuracy"
FIGURES = ("mean_dz", "median_dz", "mean_error_distance", "median_error_distance",
           "agreement_with_reference",
           "consensus_accuracy")
# figures whose validation rho is within TIE of the best are tied (with 10-20 models, rho moves by
# more than that between two halves of the same images); among tied figures the one that needs the
# least is chosen: R's agreement needs no search, Dawid-Skene three models, Δz one search, the
# error distances a second
TIE = 0.01
PREFERENCE = ("agreement_with_reference", "consensus_accuracy", "mean_dz", "median_dz",
              "mean_error_distance", "median_error_distance")
# label-free peers
PEERS = ("confidence", "majority_agreement", "nuclear_norm", "dawid_skene", "softmax_corr", "cot")
# the results.json field of each product figure (in every models[] entry; an object's
# "mean"/"median" is the figure)
RESULTS_FIELDS = {"mean_dz": "mean_delta_z", "median_dz": "median_delta_z",
                  "mean_error_distance": "error_distance",
                  "median_error_distance": "error_distance",
                  "agreement_with_reference": "agreement_with_reference",
                  "consensus_accuracy": "consensus_accuracy"}
LABELS = {
    "mean_dz": "mean Δz",
    "median_dz": "median Δz",
    "mean_error_distance": "mean distance to the nearest natural error",
    "median_error_distance": "median distance to the nearest natural error",
    "agreement_with_reference": "agreement with the reference classifier R",
    "confidence": "mean max-softmax confidence (peer)",
    "majority_agreement": "agreement with the zoo's majority vote (peer)",
    "nuclear_norm": "normalised nuclear norm of the softmax matrix (peer; Deng et al. 2023)",
    "consensus_accuracy": "consensus accuracy estimate (Dawid-Skene over the scanned models)",
    "dawid_skene": "Dawid-Skene accuracy estimate over the zoo (peer; Dawid & Skene 1979)",
    "softmax_corr": "SoftmaxCorr (peer; Tu et al. 2024)",
    "cot": "COT, optimal-transport accuracy estimate (peer; Lu et al. 2023)",
}


def chosen_figure(record: dict) -> str | None:
    """The figure a validation record chose (its key in ``spearman_test``); records before issue
    #33 name it in ``read_as_accuracy`` only, which now names the results.json field."""
    return record.get("figure", record.get("read_as_accuracy"))


def rank_corr(a, b) -> float:
    """Spearman rho; NaN where either side is constant (no ranking to compare)."""
    from scipy.stats import spearmanr

    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if len(a) < 3 or len(set(a.tolist())) < 2 or len(set(b.tolist())) < 2:  # inf: all censored
        return float("nan")
    return float(spearmanr(a, b).statistic)


def nuclear_norm(p: np.ndarray) -> float:
    """||P||_* / sqrt(N min(N, K)) of the (N, K) softmax matrix (Deng et al., ICML 2023)."""
    n, k = p.shape
    return float(np.linalg.svd(p, compute_uv=False).sum() / np.sqrt(n * min(n, k)))


def model_figures(zoo, out, images: np.ndarray, labels: np.ndarray,
                  rows: np.ndarray) -> dict[str, dict[str, float]]:
    """Every figure of every model over the images ``rows`` (a boolean mask). ``out`` is the
    SearchOutput of a scan of ``images``; the natural-error figures need it to hold error
    distances (a reference classifier), the confidence peers a ``proba`` method on the model."""
    from .consensus import cot, dawid_skene, softmax_corr

    votes = np.stack([m.predict(images[rows]) for m in zoo])
    majority = np.array([np.bincount(col).argmax() for col in votes.T])
    ds = dawid_skene(votes)["accuracy"] if len(zoo) >= 3 else np.full(len(zoo), np.nan)
    figures = {}
    for m, pred, ds_m in zip(zoo, votes, ds):
        res = out.results[m.name]
        dz = stats.summary(res.delta_z[rows], res.censored[rows])
        f = {"accuracy": float((pred == labels[rows]).mean()), "mean_dz": dz["mean_delta_z"],
             "median_dz": dz["median_delta_z"] if dz["median_delta_z"] is not None else np.inf,
             "majority_agreement": float((pred == majority).mean()),
             "consensus_accuracy": float(ds_m), "dawid_skene": float(ds_m)}
        if out.errors is not None and m.name in out.errors:
            err = out.errors[m.name]
            r_x = out.reference_prediction[rows]
            ed = stats.summary(err.delta_z[rows], np.isnan(err.delta_z[rows]))
            agrees = pred == r_x
            has_adv = ~np.isnan(res.delta_z[rows]) & agrees
            kept = has_adv & (out.reference_adversary[m.name][rows] == r_x)
            f |= {"mean_error_distance": ed["mean_delta_z"] or 0.0,
                  "median_error_distance": (ed["median_delta_z"]
                                            if ed["median_delta_z"] is not None else np.inf),
                  "agreement_with_reference": float(agrees.mean()),
                  "kept_class": float(kept.sum() / max(1, has_adv.sum() + (~agrees).sum())),
                  "censored_errors": int(np.isnan(err.delta_z[rows]).sum())}
        if hasattr(m, "proba"):
            probs = m.proba(images[rows])
            f |= {"confidence": float(probs.max(axis=1).mean()),
                  "nuclear_norm": nuclear_norm(probs),
                  "softmax_corr": softmax_corr(probs), "cot": cot(probs)}
        figures[m.name] = f
    return figures


def correlations(zoo,
                 figures: dict[str, dict[str, dict[str, float]]]) -> dict[str, dict[str, float]]:
    """Per split, Spearman rho of every figure that all models have, with accuracy."""
    out = {}
    for split, f in figures.items():
        keys = [k for k in (*FIGURES, *PEERS) if all(k in f[m.name] for m in zoo)]
        out[split] = {k: rank_corr([f[m.name][k] for m in zoo],
                                   [f[m.name]["accuracy"] for m in zoo]) for k in keys}
    return out


def validate(zoo, out, images: np.ndarray, labels: np.ndarray, zoo_name: str) -> tuple[dict, dict]:
    """(validation record, per-split figures) of a scan of labelled ``images`` with ``zoo``."""
    half = len(images) // 2
    splits = {"validation": np.arange(len(images)) < half, "test": np.arange(len(images)) >= half}
    figures = {name: model_figures(zoo, out, images, labels, rows) for name, rows in splits.items()}
    corr = correlations(zoo, figures)
    chosen = choose(corr["validation"])
    record = validation_record(zoo_name, zoo, corr, chosen,
                               {k: int(v.sum()) for k, v in splits.items()})
    return record, figures


def choose(rho: dict[str, float]) -> str:
    """The product figure to read as accuracy, given each figure's validation rho: the highest,
    or, among those within TIE of it, the first in PREFERENCE."""
    scores = {k: rho[k] for k in FIGURES if k in rho and not np.isnan(rho[k])}
    if not scores:
        return next(k for k in FIGURES if k in rho)
    best = max(scores.values())
    return min((k for k, v in scores.items() if v >= best - TIE), key=PREFERENCE.index)


def figures_table(corr: dict[str, dict[str, float]]) -> list[str]:
    lines = ["| label-free figure | Spearman ρ, validation part "
             "| Spearman ρ, test part (report this) |",
             "|---|---:|---:|"]
    for key in (k for k in (*FIGURES, *PEERS) if k in corr["test"]):
        lines.append(f"| {LABELS[key]} | {corr['validation'][key]:.3f} | {corr['test'][key]:.3f} |")
    return lines


def validation_record(zoo_name: str, zoo, corr, chosen: str, n_images: dict[str, int]) -> dict:
    """What a bundle's manifest records under ``validation``."""
    return {
        "zoo": zoo_name, "n_models": len(zoo),
        "families": sorted({getattr(m, "family", "given") for m in zoo}), "n_images": n_images,
        "read_as_accuracy": RESULTS_FIELDS[chosen], "figure": chosen,
        "chosen_by": (f"highest Spearman rho on the validation part; figures within {TIE} of it "
                      f"are tied, and the first of {', '.join(PREFERENCE)} among them is chosen"),
        "spearman_test": {k: None if np.isnan(v) else round(v, 3) for k, v in corr["test"].items()},
        "spearman_validation": {k: None if np.isnan(v) else round(v, 3)
                                for k, v in corr["validation"].items()},
        "labels": {k: LABELS[k] for k in corr["test"]},
        "date": dt.date.today().isoformat(),
    }
