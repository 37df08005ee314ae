"""The pixel view's figures for results.json: per model the median eps with its interval, the
share of images stable at fixed eps (the label-free analogue of robust accuracy), sign tests and a
ranking by eps, and how eps relates to dz (Spearman over models and over images)."""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import stats
from . import LEVELS, REGISTRY, PixelOutput


def _num(value, digits: int = 6):
    return None if value is None or not np.isfinite(value) else round(float(value), digits)


def effective_eps(out: PixelOutput, name: str, n: int) -> np.ndarray:
    """eps with censored pairs (no adversary within the cap and the budget) as +inf."""
    eps = out.results[name].eps[:n]
    return np.where(np.isnan(eps), np.inf, eps)


def figures(out: PixelOutput, dz: dict[str, np.ndarray], n: int, alpha: float, degenerate: set[str],
            dz_cap: float) -> dict[str, Any]:
    """``dz``: each model's effective dz (censored +inf, excluded NaN) over the same n images;
    ``dz_cap`` the latent search's radius cap."""
    from scipy.stats import spearmanr

    complete = out.n_done >= n
    names = list(out.results)
    effective = {name: effective_eps(out, name, out.n_done) for name in names}
    models: dict[str, Any] = {}
    for name in names:
        eff = effective[name]
        censored = np.isinf(eff)
        eps = np.where(censored, np.nan, eff)
        med = float(stats.median(eff)) if len(eff) else None
        rho = None
        d = dz[name][: out.n_done]
        both = ~np.isnan(d)
        if (complete and both.sum() >= 5 and len(np.unique(d[both])) > 1
            and len(np.unique(eff[both])) > 1):
            rho = _num(spearmanr(d[both], eff[both]).statistic, 4)
        models[name] = {
            "median_eps": _num(med),
            "median_eps_ci": stats.bootstrap_ci(eps, censored, "median") if complete else None,
            "mean_eps": _num(np.nanmean(eps)) if (~censored).any() else None,
            "n_censored": int(censored.sum()), "n_images": int(len(eff)),
            "stable": {f"{level:g}": _num((eff > level).mean(), 4) if len(eff) else None
                       for level in LEVELS[out.norm]},
            "queries_per_image": (_num(out.results[name].queries[: out.n_done].mean(), 1)
                                  if out.n_done else None),
            "spearman_dz_images": rho,
        }
    pairs = stats.pairwise(effective)
    ranking = stats.ranking(names, stats.restricted_means(effective, out.cap), pairs, alpha=alpha,
                            degenerate=degenerate)
    over_models = None
    if complete and len(names) >= 5:
        cap_dz = stats.restricted_means(dz, dz_cap)
        means_eps = stats.restricted_means(effective, out.cap)
        pairs_xy = [(cap_dz[k], means_eps[k]) for k in names if cap_dz[k] is not None
                    and means_eps[k] is not None]
        if len(pairs_xy) >= 5:
            over_models = _num(spearmanr(*zip(*pairs_xy)).statistic, 4)
    info = REGISTRY[out.attack]
    return {
        "attack": out.attack, "attack_name": info.title, "paper": info.paper, "box": info.box,
        # white box: forward and backward passes (one per image each), counted like queries
        "budget_unit": "passes" if info.box == "white" else "queries",
        "norm": out.norm, "max_eps": out.cap, "queries_budget": out.budget,
        "levels": list(LEVELS[out.norm]), "progress": {"done": out.n_done, "total": n},
        "complete": complete,
        "seconds": round(out.seconds, 2), "models": models, "pairwise": [p.__dict__ for p in pairs],
        "ranking": ranking, "spearman_dz_models": over_models,
    }
