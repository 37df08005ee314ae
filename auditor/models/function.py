"""The Python backend: any function ``f(images) -> labels (N,) or scores (N, K)`` (scikit-learn
through a lambda, JAX, TensorFlow, a remote endpoint), as a black box."""

from __future__ import annotations

import numpy as np

from ..errors import ModelError, first_line
from .base import ImageClassifier
from .contract import InputContract, ModelOptions, normalisation
from .outputs import labels_from_output
from .backends import MODEL_OBJECTS


@MODEL_OBJECTS.register("function")
class CallableClassifier(ImageClassifier):
    """Any function ``f(images) -> labels (N,) or scores (N, K)``: images are float32 (N, C, H, W)
    in [0, 1] (after ``input_scale`` and ``normalize``; ``layout`` changes the array's shape),
    the result a NumPy array, a list or a tensor. Covers scikit-learn
    (``lambda x: est.predict(x.reshape(len(x), -1))``), JAX, TensorFlow and remote endpoints."""

    format = "callable"
    provider = "python"
    catch_all = True  # accepts anything callable: asked after the other in-memory backends

    @staticmethod
    def accepts(model) -> bool:
        """An object models/loading.py gives this backend: anything callable (tried last)."""
        return callable(model)

    def __init__(self, fn, name: str, image_shape: tuple[int, int, int], options: ModelOptions):
        self.name, self.path, self.fn = name, None, fn
        c = image_shape[0]
        mean, std = normalisation(options, c)
        self.contract = InputContract(options.layout or "nchw", None, c, options.input_scale, mean,
                                      std)
        self.predict(np.zeros((2, *image_shape), dtype=np.float32))  # fails early, with the reason

    def _labels(self, x: np.ndarray, n: int) -> np.ndarray:
        return self._scored(x, n)[0]

    def _scored(self, x: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray | None]:
        try:
            out = self.fn(x)
        except Exception as err:
            raise ModelError(f"{self.label}: the function raised {type(err).__name__} on input of "
                             f"shape {x.shape} ({self.contract.describe()}): "
                             f"{first_line(err)}") from err
        if hasattr(out, "detach"):  # a torch tensor
            out = out.detach().cpu().numpy()
        arr = np.asarray(out)
        if arr.dtype == object or arr.dtype.kind in "US":
            return self._string_labels(arr.reshape(-1)), None
        labels = labels_from_output(arr, n, self.name)
        if labels is None:
            raise ModelError(f"{self.label}: the function returned shape {arr.shape} and dtype "
                             f"{arr.dtype} for {n} images; expected scores (N, K) or integer "
                             "labels (N,)")
        if arr.ndim == 2 and arr.dtype.kind == "f" and arr.shape[1] > 1:
            self.n_outputs, self.has_scores = int(arr.shape[1]), True
            return labels, arr
        return labels, None
