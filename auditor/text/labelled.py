"""Labelled texts for `auditor validate-generator` with a text bundle: the texts of a .tsv,
.jsonl or folder and their labels, as ids in the bundle's class order (its reference
classifier's, else its manifest's, else the order :func:`auditor.text.training.class_order`
gives the labels found), and the models to rank, as classifiers of those classes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DataError, OptionError
from .data import TextSet, load_labelled


def labelled_texts(path: Path, gen: Any, limit: int | None = None,
                   column: str | None = None) -> tuple[TextSet, list[str]]:
    """(texts with ``labels`` set, class names): texts without a label (an empty cell, SNLI's
    "-") are left out; a label outside the bundle's classes is refused."""
    from ..models.hf_folder import bundle_classes
    from .training import MISSING, class_order

    texts, raw = load_labelled(path, column)
    if raw is None:
        raise OptionError(f"no labels in {path}: give a label (or gold_label) field, or name the "
                          "column with --labels COLUMN")
    bundle_pairs = gen.manifest.get("texts", "pairs") == "pairs"
    if texts.pairs != bundle_pairs:
        raise DataError(f"{path} holds {texts.kind}, and generator {gen.name} was trained on "
                        f"{'pairs' if bundle_pairs else 'sentences'}: give texts of its kind")
    keep = [i for i, v in enumerate(raw) if v.lower() not in MISSING]
    names = bundle_classes(gen) or class_order([raw[i] for i in keep])
    index = {n.strip().lower(): k for k, n in enumerate(names)}
    ids = []
    for i in keep:
        if raw[i].lower() not in index:
            raise DataError(f"{texts.names[i]}: label {raw[i]!r} is not one of generator "
                            f"{gen.name}'s classes ({', '.join(names)})")
        ids.append(index[raw[i].lower()])
    keep = keep[:limit] if limit is not None else keep
    rows = np.asarray(keep, dtype=np.int64)
    out = TextSet(items=texts.items[rows], names=[texts.names[i] for i in keep],
                  pairs=texts.pairs, labels=np.asarray(ids[: len(keep)], dtype=np.int64))
    return out, list(names)


def text_models(gen: Any, paths: list[Path], names: list[str], pairs: bool,
                class_names: list[str]) -> list[Any]:
    """The models as classifiers of ``class_names`` (the labelled texts' ids)."""
    from .model_loading import as_text_classifier

    return [as_text_classifier(p, n, pairs, class_names) for p, n in zip(paths, names)]
