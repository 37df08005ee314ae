"""The search-error estimate: how far above the best adversary a long search finds the scan's
search stops, per model (docs/benchmarks.md, "Search error, per scan").

A long search (LONG_SEARCH, within 0-5% of the best known on the digit zoo) runs on seeded images
of the scan; gap = mean dz / mean of the per-image smaller of the two - 1, over the images where
both flipped, with a 95% bootstrap interval over those images. By default it runs from 200 images
on n/25 of them, at most 20, in groups of GROUP images, and stops after the group that brings its
queries to BUDGET of the scan's own: a long search costs 10-25x the default's queries per image,
more where the latent space is larger (photos), and the estimate must not double a scan.
Queries, not seconds, bound it, so that the estimate is the same on every run and after a resume.
"""

from __future__ import annotations

import time
from dataclasses import replace

import numpy as np

LONG_SEARCH = dict(algorithm="local", samples=64, max_steps=400, step=0.001)
ERROR_IMAGES_MAX = 20
MIN_IMAGES = 200  # by default none below: the long search would cost more than the scan
BUDGET = 0.15  # by default the long search stops once its queries pass this share of the scan's
GROUP = 2  # images searched together; the budget is checked between groups
SEED = 0x5EA4C4


def parse_error_images(value, error) -> int | None:
    """--search-error: auto (None), off (0) or a number of images; ``error`` is the exception
    type to raise on anything else."""
    if value in ("auto", None):
        return None
    if value == "off":
        return 0
    try:
        k = int(value)
    except (TypeError, ValueError):
        raise error("--search-error takes auto, off or a number of images, got "
                    f"{value!r}") from None
    if k < 0:
        raise error(f"--search-error must be 0 or more images, got {k}")
    return k


def auto_error_images(n: int) -> int:
    """The most images the search error is estimated on by default: none below MIN_IMAGES, then
    n / 25 up to ERROR_IMAGES_MAX (the query budget may stop it earlier)."""
    return 0 if n < MIN_IMAGES else min(ERROR_IMAGES_MAX, n // 25)


def search_error_estimate(gen, classifiers, images, output, settings, k: int, progress=None,
                          budget: float | None = None) -> dict:
    """The estimate on at most ``k`` seeded images of the scan (``output``: its search). With a
    ``budget`` (a share of the scan's queries) the long search stops after the group of images
    that passes it; without, it runs on all ``k``."""
    from .driver import search

    started = time.perf_counter()
    n = len(images)
    order = np.random.default_rng([settings.seed, SEED]).choice(n, size=k, replace=False)
    names = [c.name for c in classifiers]
    allowed = (None if budget is None
               else budget * sum(float(output.results[m].queries.sum()) for m in names))
    long_settings = replace(settings, **LONG_SEARCH, batch_images=None)
    dz = {m: [] for m in names}
    queries = {m: [] for m in names}
    spent, done = 0.0, 0
    while done < k and (allowed is None or spent < allowed or done == 0):
        group = order[done:done + GROUP]
        # keyed by the position in the seeded order: the same streams as one search over all k
        long = search(gen, classifiers, images[group], long_settings, progress=progress,
                      first_index=done)
        for m in names:
            dz[m].append(long.results[m].delta_z)
            queries[m].append(long.results[m].queries)
            spent += float(long.results[m].queries.sum())
        done += len(group)
    if progress and done < k:
        progress((k - done) * len(classifiers))  # the bar planned k images
    idx = order[:done]
    models = {}
    rng = np.random.default_rng(0)
    for m in names:
        models[m] = _gap(output.results[m].delta_z[idx], np.concatenate(dz[m]), rng)
        models[m]["long_queries_per_image"] = round(float(np.concatenate(queries[m]).mean()), 1)
    return {"images": int(done), "indices": idx.tolist(), "long_search": " ".join(
        f"--{key.replace('_', '-')} {value}" if key != "algorithm" else f"--search {value}"
        for key, value in LONG_SEARCH.items()),
        **({"budget": budget, "budget_queries": round(allowed)} if budget is not None else {}),
        "seconds": round(time.perf_counter() - started, 2), "models": models}


def _gap(d: np.ndarray, long: np.ndarray, rng) -> dict:
    """Mean dz over the mean of the per-image best known, minus 1, with a bootstrap interval."""
    best = np.fmin(d, long)
    both = ~np.isnan(d) & ~np.isnan(best)
    d, best = d[both], best[both]
    gap = ci = None
    if len(d):
        gap = round(float(d.mean() / best.mean() - 1), 4)
        if len(d) >= 3:
            draws = rng.integers(0, len(d), size=(2000, len(d)))
            boots = d[draws].mean(axis=1) / best[draws].mean(axis=1) - 1
            ci = [round(float(v), 4) for v in np.quantile(boots, [0.025, 0.975])]
    return {"gap": gap, "gap_ci": ci, "n": int(both.sum())}
