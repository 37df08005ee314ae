"""The classifier seam: the :class:`Classifier` protocol every model backend implements (and
the reference classifiers R too), and :class:`ClassifierBase`, the defaults they share.

A scan, the searches, the pixel attacks and the reference checks read a classifier only
through these members; a new backend is one file that subclasses ClassifierBase (or sets them
all) and one line in :func:`auditor.models.loading.as_classifier`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from ..errors import ModelError


class Describable(Protocol):
    def describe(self) -> str: ...


@runtime_checkable
class Classifier(Protocol):
    """One model behind one interface. Inputs are what the generator makes: images (N, C, H, W)
    float32 in [0, 1], or for text object arrays of sentences (N,) or pairs (N, 2)."""

    name: str  # the model's name in results and reports
    path: Path | None  # its file; None for a model given in memory
    format: str  # "onnx", "torchscript", "torch.nn.Module", "onnx (session)", "callable", ...
    provider: str  # where it runs: an ONNX Runtime provider, a torch device, "python"
    contract: Describable  # how inputs are fed to it (``describe()``: one line for the log)
    class_names: list[str] | None  # names of labels 0, 1, ... where known, else None
    n_outputs: int | None  # K of its scores (N, K); None: labels only, or not known yet
    has_scores: bool  # it gives class scores besides labels (``predict_scores`` works)
    pairs: bool | None  # text models: takes [premise, hypothesis] pairs; None for images
    gradient_module: Any  # the torch module white-box attacks differentiate; None: a black box

    @property
    def label(self) -> str:
        """How messages name the model: its file name, or its name when given in memory."""
        ...

    def predict(self, inputs: np.ndarray) -> np.ndarray:
        """Inputs (N, ...) -> (N,) int64 labels."""
        ...

    def predict_scores(self, inputs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Labels (N,) and log-probabilities (N, K); a ModelError where ``has_scores`` is False."""
        ...


class ClassifierBase:
    """Defaults of the protocol's members: a black box that gives labels only."""

    name: str
    path: Path | None = None
    format: str = "callable"
    provider: str = "python"
    contract: Any
    class_names: list[str] | None = None
    n_outputs: int | None = None
    has_scores: bool = False
    pairs: bool | None = None
    gradient_module: Any = None

    @property
    def label(self) -> str:
        return self.path.name if self.path is not None else f"model {self.name!r}"

    def predict(self, inputs: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def predict_scores(self, inputs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        raise ModelError(f"{self.label} gives labels only, no class scores")

