"""What every image backend shares: feeding images through the input contract in batches (a
model fixed at batch B gets chunks of B, the last one padded), labels and log-probabilities
from one call per batch, and string labels mapped to label ids in the order first seen."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import ModelError
from .contract import InputContract
from .outputs import log_probabilities
from .protocol import ClassifierBase


class ImageClassifier(ClassifierBase):
    """A backend's ``_labels(x, n)`` and ``_scored(x, n)`` (on the model's own input ``x`` of
    ``n`` rows) become :meth:`predict` and :meth:`predict_scores` on images (N, C, H, W)."""

    name: str
    path: Path | None
    contract: InputContract
    max_batch = 4096

    def _chunks(self, images: np.ndarray):
        """(model input chunk, rows of it that are real images) in batches of the contract."""
        x = self.contract.prepare(images)
        fixed = self.contract.batch
        step = fixed or self.max_batch
        for start in range(0, len(x), step):
            chunk = x[start : start + step]
            n = len(chunk)
            if fixed and n < fixed:  # pad a short last chunk to the fixed batch size
                pad = np.zeros((fixed - n, *chunk.shape[1:]), dtype=chunk.dtype)
                chunk = np.concatenate([chunk, pad])
            yield chunk, n

    def predict(self, images: np.ndarray) -> np.ndarray:
        """(N, C, H, W) float32 in [0, 1] -> (N,) int64 labels."""
        labels = []
        for chunk, n in self._chunks(images):
            found = self._labels(chunk, len(chunk))
            if len(found) != len(chunk):
                raise ModelError(f"{self.label}: returned {len(found)} labels for {len(chunk)} "
                                 "images; expected one label (N,) or one row of scores (N, K) per "
                                 "image")
            labels.append(found[:n])
        return np.concatenate(labels) if labels else np.zeros(0, dtype=np.int64)

    def predict_scores(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Labels (N,) and log-probabilities (N, K) from one model call per image: log-softmax
        of logits, or the log of probabilities clipped away from 0. Only where ``has_scores``."""
        if not self.has_scores:
            raise ModelError(f"{self.label} gives labels only, no class scores")
        labels, scores = [], []
        for chunk, n in self._chunks(images):
            lab, sc = self._scored(chunk, len(chunk))
            labels.append(lab[:n])
            scores.append(log_probabilities(sc[:n], self.label))
        return np.concatenate(labels), np.concatenate(scores)

    def _labels(self, x: np.ndarray, n: int) -> np.ndarray:
        raise NotImplementedError

    def _scored(self, x: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def _string_labels(self, arr: np.ndarray) -> np.ndarray:
        names = self.class_names if self.class_names is not None else []
        self.class_names = names
        index = {v: i for i, v in enumerate(names)}
        out = np.empty(len(arr), dtype=np.int64)
        for i, value in enumerate(arr.tolist()):
            if value not in index:
                index[value] = len(names)
                names.append(str(value))
            out[i] = index[value]
        return out
