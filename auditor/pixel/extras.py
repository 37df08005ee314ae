"""What the pixel view adds to a scan's results once both searches are done: how natural each
pixel adversary is, beside the natural ones (``naturalness.natural_view``), and whether the
generator repairs either (``repair.py``); per instance, the out-of-domain flags."""

from __future__ import annotations

import logging

import numpy as np

log = logging.getLogger("auditor")

REPAIR_EXAMPLES = 3  # per model, the report shows this many pixel adversaries and their round trips


def pixel_extras(gen, classifiers, images, output, pixel, natural, refine_steps: int) -> dict:
    """The naturalness and repair records of the pixel view (``natural``: the natural view)."""
    from ..naturalness import summary
    from .repair import repair

    log.info("measuring how natural the pixel adversaries are and whether the generator repairs "
             "them")
    nat = natural["nat"]
    models = {}
    flags = {"natural_out_of_domain": natural["flags"], "pixel_out_of_domain": {}}
    n = len(images)
    for clf in classifiers:
        res, px = output.results[clf.name], pixel.results[clf.name]
        has_z, adversaries = natural["has"][clf.name], natural["adversaries"][clf.name]
        has_px = ~np.isnan(px.eps)
        px_scores = nat.score(np.nan_to_num(px.adversary[has_px]), np.flatnonzero(has_px))
        flag = np.zeros(n, dtype=bool)
        flag[has_px] = px_scores["out_of_domain"]
        flags["pixel_out_of_domain"][clf.name] = flag
        keeps = ~res.reconstruction_changed
        pixel_repair = repair(gen, clf, np.nan_to_num(px.adversary), res.prediction, has_px & keeps,
                              refine_steps, examples=REPAIR_EXAMPLES)
        models[clf.name] = {
            "naturalness": {"natural": natural["models"][clf.name], "pixel": summary(px_scores)},
            "repair": {"pixel": with_pngs(pixel_repair, images, res.prediction,
                                          px.adversary_prediction),
                       "natural": repair(gen, clf, adversaries, res.prediction, has_z & keeps,
                                         refine_steps),
                       "n_reconstruction_changed": int((~keeps).sum())},
        }
    return {"naturalness": natural["record"], "_models": models, "_flags": flags}


def with_pngs(record: dict, images: np.ndarray, labels: np.ndarray,
              adversary_labels: np.ndarray) -> dict:
    """A repair record whose examples (index, x', G(I(x')), label) become what results.json keeps:
    the clean image, the adversary and its round trip as inline PNGs, with the model's labels."""
    from ..pictures import png_data_uri

    examples = record.pop("_examples", [])
    record["examples"] = [{"index": i, "label": int(labels[i]),
                           "adversary_label": int(adversary_labels[i]),
                           "round_trip_label": back, "repaired": back == int(labels[i]),
                           "image_png": png_data_uri(images[i]), "adversary_png": png_data_uri(adv),
                           "round_trip_png": png_data_uri(trip)}
                          for i, adv, trip, back in examples]
    return record
