"""Text classifiers: an ONNX file whose first input is a string tensor — (N,) for sentences,
(N, 2) for [premise, hypothesis] pairs — with scores (N, K) or labels (N,) out (scikit-learn text
pipelines exported with skl2onnx are such files), or any Python callable ``list[str]`` or
``list[tuple[str, str]] -> labels | scores`` (transformers pipelines, remote endpoints).

Which input a model takes is read from the ONNX file (its input's shape), for a callable from the
data; a model whose input is not text is refused in one line. String labels map to the bundle's
class names (SNLI's order: 0 entailment, 1 neutral, 2 contradiction); others are appended.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import ModelError, first_line
from ..models.onnx_file import TEXT_INPUTS, open_model_session
from ..models.outputs import labels_from_output, log_probabilities, zipmap
from ..models.protocol import ClassifierBase

LOCALE_HINT = ("its string normaliser needs a locale ONNX Runtime cannot find (en_US.UTF-8); "
               "install that locale, or export the model without lower-casing (the scan's texts "
               "are already lower-case)")


class TextClassifier(ClassifierBase):
    """One text model behind the :class:`~auditor.models.protocol.Classifier` protocol, on
    object arrays of sentences (N,) or pairs (N, 2)."""

    format = "callable"
    provider = "python"
    max_batch = 4096

    def __init__(self, name: str, pairs: bool, class_names: list[str] | None):
        self.name, self.path, self.pairs = name, None, pairs
        self.class_names: list[str] = list(class_names) if class_names else []
        self.n_outputs: int | None = None
        self.has_scores = False
        self._memory: dict = {}  # text -> (label, scores), where ``remember`` is set

    @property
    def contract(self) -> TextClassifier:  # results.json's "input" is the model's description
        return self

    def describe(self) -> str:
        return "text pairs (N, 2) [premise, hypothesis]" if self.pairs else "sentences (N,)"

    def predict(self, items: np.ndarray) -> np.ndarray:
        return self.predict_scores_raw(items)[0]

    def predict_scores(self, items: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Labels (N,) and log-probabilities (N, K), where the model gives scores."""
        labels, scores = self.predict_scores_raw(items)
        if scores is None:
            raise ModelError(f"{self.label} gives labels only, no class scores")
        return labels, log_probabilities(scores, self.label)

    def predict_scores_raw(self, items: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """Labels and raw scores; each distinct text is sent once (a search's candidates repeat:
        nearby latents often decode to the same sentence)."""
        items = np.asarray(items, dtype=object)
        unique, first, inverse = _distinct(items)
        if self.remember:
            labels, scores = self._remembered(unique.tolist(), items[first])
            return labels[inverse], scores[inverse]
        if len(unique) < len(items):
            labels, scores = self._predict_all(items[first])
            return labels[inverse], (None if scores is None else scores[inverse])
        return self._predict_all(items)

    remember = 0  # texts whose scores are kept across calls (0: none; costly models set it)

    def _remembered(self, keys: list, items: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Scores of distinct texts ``items`` (keyed ``keys``), each computed once per process:
        a transformer's search sends two in three texts again in later steps. A model is a
        function of its input, so a text's label never depends on when it was asked."""
        memory = self._memory
        missing = [i for i, k in enumerate(keys) if k not in memory]
        if missing:
            labels, scores = self._predict_all(items[missing])
            if scores is None:
                raise ModelError(f"{self.label}: gave no scores to remember")
            if len(memory) + len(missing) > self.remember:
                memory.clear()  # bounded: a long scan keeps at most ``remember`` rows
            for j, i in enumerate(missing):
                memory[keys[i]] = (int(labels[j]), scores[j])
        rows = [memory[k] for k in keys]
        width = max((len(r[1]) for r in rows), default=0)
        out = np.zeros((len(rows), width))
        for r, (_, sc) in enumerate(rows):
            out[r, : len(sc)] = sc
        return np.array([r[0] for r in rows], dtype=np.int64), out

    def _predict_all(self, items: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        labels, scores = [], []
        for start in range(0, len(items), self.max_batch):
            chunk = items[start : start + self.max_batch]
            lab, sc = self._scored(chunk)
            if len(lab) != len(chunk):
                raise ModelError(f"{self.label}: returned {len(lab)} labels for {len(chunk)} "
                                 "texts; expected one label (N,) or one row of scores (N, K) per "
                                 "text")
            labels.append(lab)
            scores.append(sc)
        if not labels:
            return np.zeros(0, dtype=np.int64), None
        have = all(s is not None for s in scores)
        return np.concatenate(labels), (np.concatenate(scores) if have else None)

    def _scored(self, items: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        raise NotImplementedError

    def _from_output(self, arr: np.ndarray, n: int) -> np.ndarray:
        if arr.dtype == object or arr.dtype.kind in "US":
            return self._string_labels(arr.reshape(-1))
        labels = labels_from_output(arr, n, self.name)
        if labels is None:
            raise ModelError(f"{self.label}: output of shape {arr.shape} and dtype {arr.dtype}; "
                             "expected scores (N, K) or labels (N,)")
        return labels

    def _string_labels(self, arr: np.ndarray) -> np.ndarray:
        """Label names -> ids in the bundle's class order, matched ignoring case and surrounding
        spaces ("Entailment" is entailment); a name the bundle lacks becomes a new class id."""
        index = {v.strip().lower(): i for i, v in enumerate(self.class_names)}
        out = np.empty(len(arr), dtype=np.int64)
        for i, value in enumerate(arr.tolist()):
            key = str(value).strip().lower()
            if key not in index:
                index[key] = len(self.class_names)
                self.class_names.append(str(value))
            out[i] = index[key]
        return out


def _distinct(items: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(distinct keys, index of each key's first item, key index of every item) of texts or
    pairs."""
    keys = np.array(["\x1f".join(r) for r in items.tolist()] if items.ndim == 2 else items.tolist(),
                    dtype=object)
    unique, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
    return unique, first, inverse.reshape(-1)


class OnnxTextClassifier(TextClassifier):
    format = "onnx"

    def __init__(self, path: Path, name: str, class_names: list[str] | None,
                 device: str | None = None, threads: int = 0):
        self.session = open_model_session(path, device, threads)
        self.provider = self.session.get_providers()[0]
        first = self.session.get_inputs()[0]
        if first.name in TEXT_INPUTS:
            raise ModelError(f"{path.name}: a transformer (its input {first.name!r} takes token "
                             "ids) needs its tokenizer: put tokenizer.json beside it, or pass the "
                             "folder `optimum-cli export onnx` wrote")
        if first.type != "tensor(string)":
            raise ModelError(f"{path.name}: its input {first.name!r} is {first.type} of shape "
                             f"{first.shape}, not text; scan it with images (or give a text model: "
                             "a string tensor input (N,) or (N, 2), or a Hugging Face folder)")
        shape = list(first.shape)
        pairs = len(shape) == 2 and shape[1] == 2
        if not (len(shape) == 1 or pairs):
            raise ModelError(f"{path.name}: its string input has shape {shape}; expected (N,) for "
                             "sentences or (N, 2) for [premise, hypothesis] pairs")
        super().__init__(name, pairs, class_names)
        self.path, self.input_name = path, first.name
        outputs = self.session.get_outputs()
        self._label_output = outputs[0].name
        self._score_output = next((o.name for o in outputs[1:]), None)
        self.has_scores = self._score_output is not None

    def _scored(self, items: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        x = np.asarray(items, dtype=object)
        if self.pairs:
            x = x.reshape(len(items), 2)
        names = [self._label_output] + ([self._score_output] if self._score_output else [])
        try:
            outs = self.session.run(names, {self.input_name: x})
        except Exception as err:
            text = first_line(err)
            if "locale" in text.lower():
                raise ModelError(f"{self.label}: {LOCALE_HINT}") from err
            raise ModelError(f"{self.label}: inference failed: {text}") from err
        labels = self._from_output(np.asarray(outs[0]), len(items))
        if len(outs) < 2:
            return labels, None
        raw = outs[1]
        if isinstance(raw, list):  # ZipMap: {class: probability} per row
            keys = list(raw[0].keys()) if raw else []
            named = keys and not isinstance(keys[0], (int, np.integer))
            ids = self._string_labels(np.array(keys, dtype=object)).tolist() if named else []
            scores = zipmap(raw, dict(zip(keys, ids)) if named else {})
        else:
            scores = np.asarray(raw, dtype=np.float64)
            if np.asarray(outs[0]).dtype.kind in "OUS" and scores.ndim == 2:
                scores = self._in_label_order(np.asarray(outs[0]).reshape(-1), scores)
        if scores is None or scores.ndim != 2 or scores.shape[0] != len(items):
            return labels, None
        self.n_outputs = int(scores.shape[1])
        return labels, scores

    def _in_label_order(self, names: np.ndarray, scores: np.ndarray) -> np.ndarray | None:
        """scikit-learn's probability columns follow its sorted class names, not the label ids
        (SNLI's order): reorder them, after checking that each row's largest column is its label."""
        seen = {str(v) for v in names}
        lowered = {v.strip().lower() for v in seen}
        unseen = {c for c in self.class_names[: scores.shape[1]]
                  if c.strip().lower() not in lowered}
        classes = sorted(seen | unseen, key=str.lower)  # as scikit-learn sorts one-case names
        if len(classes) != scores.shape[1]:
            return None
        if any(str(n) != classes[j] for n, j in zip(names.tolist(), scores.argmax(axis=1))):
            return None
        ids = self._string_labels(np.array(classes, dtype=object))
        out = np.zeros((len(scores), max(int(ids.max()) + 1, scores.shape[1])))
        out[:, ids] = scores
        return out


class CallableTextClassifier(TextClassifier):
    """``fn(list[str])`` or ``fn(list[tuple[str, str]])`` -> labels (N,), scores (N, K), or
    label names; a transformers pipeline's list of ``{"label": ..., "score": ...}`` works too."""

    def __init__(self, fn, name: str, pairs: bool, class_names: list[str] | None):
        super().__init__(name, pairs, class_names)
        self.fn = fn

    def _scored(self, items: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        given = [tuple(r) for r in items.tolist()] if self.pairs else list(items.tolist())
        try:
            out = self.fn(given)
        except Exception as err:
            what = "pairs" if self.pairs else "sentences"
            raise ModelError(f"{self.label}: the function raised {type(err).__name__} on "
                             f"{len(given)} {what}: {first_line(err)}") from err
        if hasattr(out, "detach"):
            out = out.detach().cpu().numpy()
        if isinstance(out, list) and out and isinstance(out[0], dict) and "label" in out[0]:
            out = [o["label"] for o in out]
        arr = np.asarray(out)
        labels = self._from_output(arr, len(items))
        if arr.ndim == 2 and arr.dtype.kind == "f" and arr.shape[1] > 1:
            self.n_outputs, self.has_scores = int(arr.shape[1]), True
            return labels, arr
        return labels, None
