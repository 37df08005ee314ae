"""Classifiers behind one interface: images in, predicted labels (and scores, where the model
gives them) out, as a black box.

The seam is :class:`~auditor.models.protocol.Classifier`; each backend is one file:

- ``onnx_file``: an ONNX file through ONNX Runtime (CUDA where a GPU is really there, else CPU;
  sessions from :mod:`auditor.onnx_session`);
- ``session``: an ``onnxruntime.InferenceSession`` given in memory;
- ``torchscript``: a TorchScript file through ``torch.jit.load`` (never an unpickling
  ``torch.load``);
- ``torch_module``: a ``torch.nn.Module`` given in memory;
- ``function``: any Python function of images.

``contract`` holds the input contract (layout, batch, channels, size, scale, normalisation),
``outputs`` the reading of a model's outputs, ``loading`` the choice of backend
(:func:`load_classifier` for files, :func:`as_classifier` for anything). The reference
classifiers R (:mod:`auditor.reference`, :mod:`auditor.text.reference`) implement the same
protocol.
"""

from __future__ import annotations

from ..onnx_session import cuda_present
from .base import ImageClassifier
from .contract import LAYOUTS, InputContract, ModelOptions, resize
from .function import CallableClassifier
from .loading import (
    ONNX_SUFFIXES,
    TORCHSCRIPT_SUFFIXES,
    as_classifier,
    default_name,
    load_classifier,
    model_digest,
    unique_names,
)
from .onnx_file import OnnxClassifier
from .outputs import labels_from_output, log_probabilities, zipmap
from .protocol import Classifier, ClassifierBase
from .session import OnnxSessionClassifier
from .torch_module import TorchModuleClassifier
from .torchscript import TorchScriptClassifier

_labels_from_output = labels_from_output  # the names before the split into a package
_zipmap = zipmap

__all__ = [
    "LAYOUTS", "ONNX_SUFFIXES", "TORCHSCRIPT_SUFFIXES", "CallableClassifier", "Classifier",
    "ClassifierBase", "ImageClassifier", "InputContract", "ModelOptions", "OnnxClassifier",
    "OnnxSessionClassifier", "TorchModuleClassifier", "TorchScriptClassifier", "as_classifier",
    "cuda_present", "default_name", "labels_from_output", "load_classifier", "log_probabilities",
    "model_digest", "resize", "unique_names", "zipmap",
]
