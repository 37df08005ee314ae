"""A reference classifier R inside a generator bundle (issue #19).

A bundle's author has labels when training a generator; a small CNN trained on them can stand
in for the true class of generated images, which a scan (without labels) never has. R takes
the bundle's images, float32 (N, C, H, W) in [0, 1], no normalisation. It is stored like the
generator: plain arrays in ``reference.npz`` (never a pickle), its SHA-256 in the manifest's
``files``, and its description under the manifest key ``reference_classifier``:
architecture, class names, accuracy overall and per class on the author's held-out labelled
images, and their number.

``networks``: R's architectures; ``training``: training and saving R; ``classifiers``: R as a
:class:`~auditor.models.protocol.Classifier` (torch or ONNX) and whether its figures apply to
a model. The bundle module (:mod:`auditor.generators.bundle`) checks R's file and loads it.
"""

from __future__ import annotations

from .classifiers import OnnxReference, ReferenceClassifier, load_torch_reference, mismatch
from .networks import (
    ARCHITECTURE,
    ARCHITECTURES,
    REFERENCE_FILE,
    RESNET,
    build_reference,
    logits_with,
    predict_with,
)
from .training import save_reference, train_reference

__all__ = [
    "ARCHITECTURE", "ARCHITECTURES", "REFERENCE_FILE", "RESNET", "OnnxReference",
    "ReferenceClassifier", "build_reference", "load_torch_reference", "logits_with", "mismatch",
    "predict_with", "save_reference", "train_reference",
]
