"""The search-error estimate: how far above the best adversary a long search finds the scan's
search stops, per model (docs/benchmarks.md, "Search error, per scan").

A long search runs on seeded inputs of the scan, per model the best of the runs that get closest
to the best known for its kind of model at a few times the default's queries (gap of means to the
best known, docs/benchmarks.md, "Search error, per scan"): on images ``margin`` with 16 proposals
and up to 200 steps for every model (lenet +3% on the README's digits at 2.5x the default's
queries; the photos' networks and forest 0-4% at 2-5x), and for models whose scores are not smooth
(smoothness.py) also ``local`` with 32 proposals and 200 steps of 0.002 (rf5 on the digits +9.5%
at 4x, where the long walk stays +21%: it refines the stretch of boundary it found); on text
``local`` with 64 proposals and 400 fine steps (10-25x). A forest read as its trees (trees.py) walks
the long ``margin`` run from its soft copy's adversary, as the scan does; its long ``local`` run
is black box (other stretches of boundary). gap = mean dz / mean of the per-input
smaller of the two - 1, over the inputs where both flipped, with a 95% bootstrap interval over
those inputs.

By default it aims at ERROR_IMAGES_MAX inputs within BUDGET of the scan's queries: it searches
GROUP inputs at a time and stops before a group that its cost so far says would pass the budget;
it runs by default only where MIN_FIT inputs fit at COST times the scan's queries per input.
Queries, not seconds, bound it, so that the estimate is the same on every run and after a resume.
Each model labels the anchors (local.py) once for the whole estimate, not once per group.
"""

from __future__ import annotations

import math
import time
from dataclasses import replace

import numpy as np

LONG_WALK = dict(algorithm="margin", samples=16, max_steps=200)
LONG_FLAT = dict(algorithm="local", samples=32, max_steps=200, step=0.002)
LONG_TEXT = dict(algorithm="local", samples=64, max_steps=400, step=0.001)
# per modality, one long search for every model (images: per model, by its scores)
LONG_FOR_ALL = {"text": LONG_TEXT}
COST = {"image": 6.0, "text": 15.0}  # the long search's queries per input / the scan's, at most
ERROR_IMAGES_MAX = 20
MIN_FIT = 4  # by default no estimate where fewer inputs are expected to fit the budget
BUDGET = 0.15  # by default the long search's queries stay within this share of the scan's
GROUP = 2  # inputs searched together; the budget is checked between groups
SEED = 0x5EA4C4


def long_searches(gen, classifiers, images) -> list[tuple[dict, list]]:
    """The long searches and the models each runs on (the first on every model): a model's
    long Δz is the smallest of its runs'."""
    every = LONG_FOR_ALL.get(getattr(gen, "modality", "image"))
    if every is not None:
        return [(every, list(classifiers))]
    from .smoothness import flat_models

    flat = set(flat_models(gen, classifiers, images))
    runs = [(LONG_WALK, list(classifiers)), (LONG_FLAT, [c for c in classifiers if c.name in flat])]
    return [(settings, models) for settings, models in runs if models]


def long_cost(modality: str) -> float:
    """The long search's queries per input, at most, as a multiple of the scan's."""
    return COST.get(modality, COST["image"])


def _flags(settings: dict) -> str:
    return " ".join(f"--{key.replace('_', '-')} {value}" if key != "algorithm"
                    else f"--search {value}" for key, value in settings.items())


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


def min_inputs(modality: str) -> int:
    """The fewest inputs from which the estimate runs by default: MIN_FIT long searches within
    BUDGET of the scan's queries."""
    return math.ceil(MIN_FIT * long_cost(modality) / BUDGET)


def auto_error_images(n: int, modality: str = "image") -> int:
    """The most inputs the search error is estimated on by default: none below
    :func:`min_inputs`, else ERROR_IMAGES_MAX (the query budget may stop it earlier)."""
    return 0 if n < min_inputs(modality) else min(ERROR_IMAGES_MAX, n)


def search_error_estimate(gen, classifiers, images, output, settings, k: int, progress=None,
                          budget: float | None = None) -> dict:
    """The estimate on at most ``k`` seeded inputs of the scan (``output``: its search). With a
    ``budget`` (a share of the scan's queries) the long search stops before a group of inputs its
    cost so far says would pass it (but runs the first); without, it runs on all ``k``."""
    from .driver import search

    started = time.perf_counter()
    n = len(images)
    order = np.random.default_rng([settings.seed, SEED]).choice(n, size=k, replace=False)
    names = [c.name for c in classifiers]
    allowed = (None if budget is None
               else budget * sum(float(output.results[m].queries.sum()) for m in names))
    runs = long_searches(gen, classifiers, images)
    dz = {m: [] for m in names}
    queries = {m: [] for m in names}
    spent, done, per_input = 0.0, 0, 0.0  # per_input: the long search's queries per input so far
    kept: dict = {}  # each model's labels of the anchors: labelled (charged) once, not per group
    while done < k:
        group = order[done:done + GROUP]
        if allowed is not None and done and spent + per_input * len(group) > allowed:
            break
        found: dict[str, list] = {}
        for i, (chosen, models) in enumerate(runs):
            # keyed by the position in the seeded order: the same streams as one search of all k
            # its own step budget for every model (stretched=(): no stepwise walk runs longer),
            # black box (white=(): no gradient search; the smaller of it and the scan's counts);
            # the long walk of a tree model starts from its soft copy's adversary as the scan's
            # does, the long local run on its own (other stretches of boundary)
            long = search(gen, models, images[group],
                          replace(settings, **chosen, batch_images=None, chosen=None,
                                  stretched=(), white=(),
                                  trees=settings.trees if chosen is LONG_WALK else ()),
                          progress=progress if i == 0 else None, first_index=done,
                          anchor_labels=kept)
            for m in [c.name for c in models]:
                res = long.results[m]
                found.setdefault(m, []).append((res.delta_z, res.queries))
                spent += float(res.queries.sum())
        for m, parts in found.items():  # the smallest flip of the model's runs, their queries
            dz[m].append(np.fmin.reduce([d for d, _ in parts]))
            queries[m].append(np.sum([q for _, q in parts], axis=0))
        done += len(group)
        per_input = (spent - sum(key[1] for key in kept)) / done  # less the once-only anchors
    if progress and done < k:
        progress((k - done) * len(classifiers))  # the bar planned k images
    idx = order[:done]
    models = {}
    rng = np.random.default_rng(0)
    for m in names:
        models[m] = _gap(output.results[m].delta_z[idx], np.concatenate(dz[m]), rng)
        models[m]["long_queries_per_image"] = round(float(np.concatenate(queries[m]).mean()), 1)
        models[m]["long_search"] = " and ".join(_flags(chosen) for chosen, ms in runs
                                                if m in [c.name for c in ms])
    return {"images": int(done), "indices": idx.tolist(), "planned": int(k),
            "long_search": "; ".join(f"{_flags(chosen)} ({', '.join(c.name for c in ms)})"
                                     for chosen, ms in runs),
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
