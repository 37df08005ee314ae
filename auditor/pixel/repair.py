"""Does the generator repair an adversary? Map it through the inverter and the generator,
x' -> G(I(x')) (I refined on ||G(z) - x'|| like z0), and ask the model again: repaired where the
label is back to the model's label of the clean image x.

Pixel adversaries are mostly off the generator's manifold, so the round trip tends to undo them;
natural adversaries G(z*) lie on it and reconstruct to themselves, so their rate would be 0 but for
one thing: each sits just past the decision boundary (the search stops at the first flip), where the
round trip's small error can cross back. Their rate is the control the pixel rate is read against.
Images whose own reconstruction G(I(x)) already changes the model's label are left out (and
counted).
"""

from __future__ import annotations

import numpy as np

BATCH = 256


def round_trip(generator, images: np.ndarray, refine_steps: int) -> np.ndarray:
    """G(I(x)) for (N, C, H, W) images, I refined by ``refine_steps`` gradient steps."""
    out = np.empty_like(images)
    for start in range(0, len(images), BATCH):
        x = images[start : start + BATCH]
        z = generator.encode(x)
        if refine_steps and generator.gradients:
            z = generator.refine(x, z, refine_steps)
        out[start : start + BATCH] = generator.decode(z)
    return out


def repair(generator, classifier, adversaries: np.ndarray, labels: np.ndarray, usable: np.ndarray,
           refine_steps: int, examples: int = 0) -> dict:
    """Share of ``adversaries`` (rows where ``usable``: an adversary exists and the clean image's
    reconstruction keeps the label) whose round trip gets back ``labels``. With ``examples``, also
    up to that many cases to show (in image order, repaired ones first, then one that is not where
    there is one) under ``"_examples"``: (index, adversary, round trip, the round trip's label)."""
    rows = np.flatnonzero(usable)
    if not len(rows):
        return {"n": 0, "repaired": None} | ({"_examples": []} if examples else {})
    trips = round_trip(generator, adversaries[rows].astype(np.float32), refine_steps)
    back = classifier.predict(trips)
    out: dict = {"n": int(len(rows)), "repaired": round(float((back == labels[rows]).mean()), 4)}
    if examples:
        fixed, kept = np.flatnonzero(back == labels[rows]), np.flatnonzero(back != labels[rows])
        chosen = list(fixed[: max(1, examples - 1) if len(kept) else examples])
        chosen += list(kept[: examples - len(chosen)])
        out["_examples"] = [(int(rows[k]), adversaries[rows[k]], trips[k], int(back[k]))
                            for k in sorted(chosen)]
    return out
