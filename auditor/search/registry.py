"""The latent searches: the protocol each implements, the registry they register in
(search/searches.py; the imports below register them), and --search auto's choice. A new search
is one new module decorated ``@SEARCHES.register("name")`` plus its import here
(docs/architecture.md)."""

from __future__ import annotations

from typing import Protocol

import numpy as np

from . import boundary, hybrid, iterative, local, margin  # noqa: F401  (register the searches)
from .searches import SEARCHES


class LatentSearch(Protocol):
    """A search's state over a batch's (image, model) pairs, stepped by the driver (driver.py):
    ``propose`` perturbations of z0 for the live pairs, ``observe`` which flipped. Pair p is
    image p % m under model p // m. Optional ``stretch`` (margin.py): the driver steps up to that
    many times max_steps, and the search marks done the pairs it does not give them. Optional
    ``subspace`` (local.py and its heirs): it searches within the generator's active directions
    (subspace.py), its latent_dim theirs, its deltas and the context's points in their basis."""

    name: str
    defaults: dict  # the settings it fills in where the user gave none (samples, step, max_steps)
    anchors: int  # prior samples each model labels per batch before the search (0: none)
    done: np.ndarray  # (pairs,) bool: the pair's search has ended

    def __init__(self, n: int, settings, latent_dim: int, context) -> None: ...

    def propose(self, live: np.ndarray, noise: np.ndarray, uniform: np.ndarray):
        """(deltas (L, k, d), keys (L, c)): k perturbations per live pair; pairs of one image
        with equal keys get identical perturbations (their decodes are shared)."""

    def observe(self, live: np.ndarray, r_min: np.ndarray, best: np.ndarray,
                deltas: np.ndarray, flips: np.ndarray) -> None:
        """Each live pair's closest flipping proposal (``best``) and its norm (inf: none), and
        which of its proposals flipped (``flips``, (L, k) bool)."""


ALGORITHMS = SEARCHES  # --search's names -> classes

AUTO = "auto"  # --search auto (the default): the search DEFAULTS names for the generator
WIDE = 32  # latent sizes above this are "wide" (the photos' 64; the grayscale bundles have 16)
# (modality, wide latent) -> the default search and the settings it changes. Chosen by the gap to
# the best known adversary per input at equal queries (docs/benchmarks.md, "The default search").
# On images margin.py reads each model its own way: smooth scores by their gradient, scores flat
# between jumps (forests) and labels only by the boundary's pooled probes, those two kinds for
# STRETCH times the steps (smoothness.py tells them apart before the search), so that their Δz is
# not left far looser than a network's beside them, which would bias a comparison. On the photos'
# wide latent none is walked longer ("stretched": ()): in the generator's active directions a
# forest's walk of the networks' 46 steps (380 queries) stays within 10% of the best known
# (docs/benchmarks.md, "A forest's walk on photos"), and an ONNX tree ensemble is searched by the
# gradients of a soft copy of its trees first (trees.py; "A forest read as its trees"). On the
# grayscale bundles ("trees": ()) the black-box walk of twice the steps stays a little closer.
DEFAULTS: dict[tuple[str, bool], dict] = {
    ("image", False): {"algorithm": "margin", "trees": ()},
    ("image", True): {"algorithm": "margin", "max_steps": 46, "stretched": ()},
    ("text", False): {"algorithm": "local"},
    ("text", True): {"algorithm": "local"},
}


def default_search(modality: str, latent_dim: int) -> dict:
    """The algorithm (and settings) --search auto runs for a generator of this modality and
    latent size."""
    wide = latent_dim > WIDE
    return DEFAULTS.get((modality, wide), DEFAULTS[("image", wide)])


def auto_search(generator, classifiers, inputs, seed: int = 0) -> tuple[dict, str]:
    """--search auto's algorithm (and settings) for these models and this generator, and why, in
    words; for a search with a stretch (margin.py), which models it walks longer: those whose
    scores are flat between jumps or who give labels only (smoothness.py)."""
    from .gradient import gradient_models
    from .smoothness import SMOOTH, score_kinds
    from .trees import tree_models

    modality = getattr(generator, "modality", "image")
    chosen = default_search(modality, generator.latent_dim)
    if getattr(ALGORITHMS[chosen["algorithm"]], "stretch", 1) == 1:
        return chosen, f"auto: the default on {modality}"
    kinds = score_kinds(generator, classifiers, inputs, seed)
    found = sorted(set(kinds.values()))
    white = gradient_models(generator, classifiers)
    trees = chosen["trees"] if "trees" in chosen else tuple(tree_models(generator, classifiers,
                                                                           inputs))
    longer = chosen.get("stretched", tuple(n for n, k in kinds.items() if k != SMOOTH))
    chosen = {**chosen, "stretched": longer, "white": white, "trees": trees}
    also = (f"; {', '.join(white)} also by {'its' if len(white) == 1 else 'their'} gradients "
            "through the generator" if white else "")
    also += (f"; {', '.join(trees)} first by the gradients of a soft copy of "
             f"{'its' if len(trees) == 1 else 'their'} trees" if trees else "")
    if found == [SMOOTH]:
        return chosen, f"auto: every model's scores are smooth{also}"
    told = "; ".join(f"{', '.join(n for n, k in kinds.items() if k == kind)}: {kind}"
                     for kind in found)
    doubled = [n for n in longer if n not in trees]
    twice = f"; {', '.join(doubled)} for up to twice the steps" if doubled else ""
    return chosen, f"auto: each model is walked its own way ({told}){twice}{also}"


def describe_search(settings, classifiers) -> str:
    """One line for the scan's log: the latent search, why auto chose it, and, where it reads
    scores, what it reads of each model (scores: margin-guided where smooth, a stepwise walk where
    flat between jumps, as margin.py finds on its own; labels only: the boundary's pooled walk)."""
    why = f"; {settings.chosen}" if getattr(settings, "chosen", None) else ""
    if getattr(settings, "active_dims", None):
        why += f"; z moves in the generator's {settings.active_dims} active latent directions"
    if not getattr(ALGORITHMS.get(settings.algorithm), "scores", False):
        return f"latent search: {settings.algorithm} (labels only{why})"
    white = getattr(settings, "white", None) or ()
    trees = getattr(settings, "trees", None) or ()
    reads = [f"{c.name}: " + ("gradients, scores at half the steps" if c.name in white
                              else "its trees' soft gradients, then scores" if c.name in trees
                              else "scores" if getattr(c, "has_scores", False)
                              else "labels only, pooled boundary walk") for c in classifiers]
    return f"latent search: {settings.algorithm} ({'; '.join(reads)}{why})"
