"""What kind of class scores a model gives in z: smooth, flat between jumps, or none (labels only);
--search auto's question: which models the margin search walks for longer (registry.auto_search).

The margin search (margin.py) walks each kind its own way: by the margin's gradient where margins
change with every small move of z (networks, linear models), by labels and the order of margins
where they are constant between jumps (forests, trees, kNN), by labels alone where there are no
scores; the last two kinds' walks for up to STRETCH times max_steps where the default stretches
them (latent sizes up to 32: at the networks' steps their Δz stays far looser than a network's
beside them, which biases their comparison; docs/benchmarks.md, "The default search").

The check: the first PROBE_INPUTS inputs are encoded, each moved by PROBE_DIRECTIONS random
directions of norm RADIUS sqrt(d) (a bisection's spacing near the boundary), and a model is smooth
where fewer than FLAT_SHARE of its margins stayed where they were (rounded as the search rounds
them). Measured on the example models: the networks' margins change on all of the moves, the
forests' on none (docs/benchmarks.md). Seeded and on the scan's first inputs, so the same for a
resume and with workers; PROBE_INPUTS (1 + PROBE_DIRECTIONS) calls per model with scores, not
counted in the search's queries.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .margin import STILL
from .step import score_margins

PROBE_INPUTS, PROBE_DIRECTIONS = 4, 8
RADIUS = 1e-3  # the moves' norm / sqrt(latent size)
FLAT_SHARE = 0.5  # a model with at least this share of unchanged margins is flat between jumps
SEED = 0x5300


SMOOTH, STEPWISE, LABELS = "smooth", "flat between jumps", "labels only"


def score_kinds(generator, classifiers: Sequence, inputs: np.ndarray,
                seed: int = 0) -> dict[str, str]:
    """Each model's kind of scores, by name: SMOOTH, STEPWISE (flat between jumps) or LABELS."""
    kinds = {c.name: SMOOTH if getattr(c, "has_scores", False) else LABELS for c in classifiers}
    scored = [c for c in classifiers if kinds[c.name] == SMOOTH]
    if not scored or len(inputs) == 0:
        return kinds
    x = inputs[:PROBE_INPUTS]
    z0 = generator.encode(x)
    base = generator.decode(z0)
    m, d = z0.shape
    rng = np.random.default_rng([seed, SEED])
    u = rng.standard_normal((m, PROBE_DIRECTIONS, d))
    u *= RADIUS * np.sqrt(d) / np.linalg.norm(u, axis=2, keepdims=True)
    z = (z0[:, None, :] + u).reshape(-1, d).astype(np.float32)
    rows = np.repeat(np.arange(m), PROBE_DIRECTIONS)
    centres = generator.render(z0, x, base)
    moved = generator.render(z, x[rows], base[rows])
    for clf in scored:
        label, logp = clf.predict_scores(centres)
        m0 = score_margins(logp, label)
        _, logp = clf.predict_scores(moved)
        still = np.abs(score_margins(logp, label[rows]) - m0[rows]) < STILL
        if still.mean() >= FLAT_SHARE:
            kinds[clf.name] = STEPWISE
    return kinds


def flat_models(generator, classifiers: Sequence, inputs: np.ndarray, seed: int = 0) -> list[str]:
    """The names of the models whose scores do not steer a search by their gradient: labels
    only, or margins flat between jumps; [] where every model's margins are smooth."""
    kinds = score_kinds(generator, classifiers, inputs, seed)
    return [name for name, kind in kinds.items() if kind != SMOOTH]

