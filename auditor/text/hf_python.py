"""``transformers`` objects given from Python: a text-classification ``pipeline``, or a
``(model, tokenizer)`` pair, as text classifiers. ``transformers`` is never imported here: an
object is recognised by its type's module, so a scan without it never loads it.

Scores come by label name (the pipeline's ``top_k=None``, the model's logits in
``config.id2label`` order) and are mapped onto the generator's classes by name, as a model
folder's are (:func:`auditor.models.outputs.class_order`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import ModelError, first_line
from ..models.contract import ModelOptions
from ..models.hf_folder import describe_names, given_names, reorder
from ..models.outputs import class_order
from .models import TextClassifier

BATCH = 64


def _from_transformers(obj: Any) -> bool:
    return type(obj).__module__.split(".")[0] == "transformers"


def _id2label(config: Any) -> list[str] | None:
    raw = getattr(config, "id2label", None) or {}
    try:
        by_id = {int(k): str(v) for k, v in dict(raw).items()}
    except (TypeError, ValueError):
        return None
    return [by_id[i] for i in range(len(by_id))] if sorted(by_id) == list(range(len(by_id))) \
        else None


def transformers_classifier(model: Any, name: str, pairs: bool, class_names: list[str] | None,
                            options: ModelOptions) -> TextClassifier | None:
    """A classifier for a transformers pipeline or (model, tokenizer) pair; None for anything
    else."""
    if _from_transformers(model) and hasattr(model, "model") and hasattr(model, "tokenizer"):
        return TransformersClassifier(model.model, model.tokenizer, name, pairs, class_names,
                                      options, pipeline=model)
    if (isinstance(model, (tuple, list)) and len(model) == 2
            and all(_from_transformers(m) for m in model)):
        net, tok = model if hasattr(model[0], "config") else model[::-1]
        if hasattr(net, "config") and callable(tok):
            return TransformersClassifier(net, tok, name, pairs, class_names, options)
    return None


class TransformersClassifier(TextClassifier):
    """A transformers sequence classifier run in this process: the pipeline's own call where a
    pipeline was given (``{"text", "text_pair"}`` rows), else tokenizer then model."""

    format = "transformers"
    remember = 500_000  # scores of texts already asked (TextClassifier._remembered)

    def __init__(self, net: Any, tokenizer: Any, name: str, pairs: bool,
                 class_names: list[str] | None, options: ModelOptions, pipeline: Any = None):
        self.net, self.tokenizer, self.pipeline = net, tokenizer, pipeline
        self.format = "transformers pipeline" if pipeline is not None else "transformers"
        own_names = _id2label(getattr(net, "config", None))
        names = given_names(options, name) or own_names
        self._pipeline_names = own_names or names
        self._columns, own = class_order(names, class_names)
        super().__init__(name, pairs, own)
        self.has_scores = True
        self.provider = str(getattr(net, "device", "python"))
        self.notes = [n for n in [describe_names(name, names, self._columns,
                                                      given_names(options, name) is not None)]
                      if n]

    def _scored(self, items: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        rows = items.tolist()
        out = []
        try:
            for start in range(0, len(rows), BATCH):
                chunk = rows[start : start + BATCH]
                out.append(self._pipeline(chunk) if self.pipeline is not None
                           else self._logits(chunk))
        except ModelError:
            raise
        except Exception as err:
            raise ModelError(f"{self.label}: the transformers model raised "
                             f"{type(err).__name__}: {first_line(err)}") from err
        scores = np.concatenate(out) if out else np.zeros((0, 0))
        scores = reorder(scores, self._columns, len(self.class_names))
        self.n_outputs = int(scores.shape[1])
        return scores.argmax(axis=1).astype(np.int64), scores

    def _logits(self, rows: list) -> np.ndarray:
        import torch

        texts = ([str(p) for p, _ in rows], [str(h) for _, h in rows]) if self.pairs \
            else ([str(s) for s in rows],)
        enc = self.tokenizer(*texts, padding=True, truncation=True, return_tensors="pt")
        device = getattr(self.net, "device", None)
        if device is not None:
            enc = {k: v.to(device) for k, v in enc.items()}
        with torch.no_grad():
            logits = self.net(**enc).logits
        return logits.detach().float().cpu().numpy().astype(np.float64)

    def _pipeline(self, rows: list) -> np.ndarray:
        given = ([{"text": str(p), "text_pair": str(h)} for p, h in rows] if self.pairs
                 else [str(s) for s in rows])
        found = self.pipeline(given, top_k=None, truncation=True)
        names = self._pipeline_names or []
        index = {str(n): j for j, n in enumerate(names)}
        out = np.zeros((len(rows), max(len(names), 1)))
        for r, scores in enumerate(found):
            for entry in (scores if isinstance(scores, list) else [scores]):
                label = str(entry["label"])
                if label not in index:
                    raise ModelError(f"{self.label}: the pipeline returned label {label!r}, which "
                                     "its model's config.id2label lacks")
                out[r, index[label]] = float(entry["score"])
        return np.log(np.clip(out, 1e-12, None))  # log-probabilities: argmax and softmax kept
