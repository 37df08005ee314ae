"""Reading what a model returns: labels from scores (N, K) or labels (N,), scores as
log-probabilities, scikit-learn's ZipMap probabilities as a matrix, and a model's class names
mapped onto the generator's."""

from __future__ import annotations

import re

import numpy as np

from ..errors import ModelError


def labels_from_output(out: np.ndarray, n: int, model: str) -> np.ndarray | None:
    """Scores (N, K) -> argmax; labels (N,) or (N, 1) integer -> labels; else None."""
    arr = np.asarray(out)
    if arr.ndim >= 1 and arr.shape[0] != n:
        return None
    if arr.ndim == 2 and arr.shape[1] >= 2 and np.issubdtype(arr.dtype, np.number):
        if not np.all(np.isfinite(arr)):
            bad = int((~np.isfinite(arr)).any(axis=1).sum())
            raise ModelError(
                f"model {model!r} returned NaN or infinite scores for {bad} of {n} images; check "
                "its input preprocessing (--input-scale, --normalize)"
            )
        return arr.argmax(axis=1).astype(np.int64)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim == 1 and (np.issubdtype(arr.dtype, np.integer) or arr.dtype == bool):
        return arr.astype(np.int64)
    if arr.ndim == 1 and np.issubdtype(arr.dtype, np.floating):
        if np.all(np.isfinite(arr)) and np.all(arr == np.round(arr)):
            return arr.astype(np.int64)
        return None
    return None


def log_probabilities(scores: np.ndarray, model: str) -> np.ndarray:
    """(N, K) scores -> log-probabilities: rows that are probabilities (non-negative, summing to
    1) -> log(clip(p, 1e-12)), anything else is taken as logits -> log-softmax."""
    s = np.asarray(scores, dtype=np.float64)
    if not np.all(np.isfinite(s)):
        raise ModelError(f"{model} returned NaN or infinite scores; check its input preprocessing")
    if s.min() >= 0 and np.allclose(s.sum(axis=1), 1.0, atol=1e-3):
        return np.log(np.clip(s, 1e-12, None))
    s = s - s.max(axis=1, keepdims=True)
    return s - np.log(np.exp(s).sum(axis=1, keepdims=True))


def zipmap(rows: list, index: dict) -> np.ndarray:
    """scikit-learn's ONNX probabilities, a list of {class: probability} maps -> (N, K), the
    columns in the model's label indices (integer classes are their own index, string classes
    their position in ``index``)."""
    keys = list(rows[0].keys()) if rows else []
    column = {k: int(k) if isinstance(k, (int, np.integer)) else index[k] for k in keys}
    out = np.zeros((len(rows), max(column.values(), default=-1) + 1))
    for i, row in enumerate(rows):
        for k, v in row.items():
            out[i, column[k]] = v
    return out


GENERIC = re.compile(r"^(label_?\d+|\d+)$", re.IGNORECASE)


def is_generic(names: list[str]) -> bool:
    """Names that carry no meaning: LABEL_0, LABEL_1, ... or 0, 1, ..."""
    return all(GENERIC.match(str(n).strip()) for n in names)


def class_order(names: list[str] | None, bundle: list[str] | None,
                ) -> tuple[np.ndarray | None, list[str] | None]:
    """(columns, class names) of a model whose labels 0, 1, ... are ``names``: where every name
    is one of the generator's classes ``bundle`` (ignoring case), ``columns[j]`` is the bundle
    class of the model's column j and the names become the bundle's, in its order; else
    (None, names), the model's own order and names."""
    if not names or not bundle or is_generic(names):
        return None, names
    index = {b.strip().lower(): i for i, b in enumerate(bundle)}
    keys = [str(n).strip().lower() for n in names]
    if len(set(keys)) != len(keys) or not all(k in index for k in keys) or len(keys) > len(bundle):
        return None, names
    columns = np.array([index[k] for k in keys], dtype=np.int64)
    return columns, list(bundle[: max(len(bundle), int(columns.max()) + 1)])
