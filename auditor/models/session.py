"""The in-memory ONNX backend: an ``onnxruntime.InferenceSession`` the caller opened, run as a
model file is (its providers and threads are the caller's)."""

from __future__ import annotations

from .contract import ModelOptions
from .onnx_file import OnnxClassifier
from .backends import MODEL_OBJECTS


@MODEL_OBJECTS.register("onnxruntime.InferenceSession")
class OnnxSessionClassifier(OnnxClassifier):
    """An ``onnxruntime.InferenceSession`` given in memory; its providers are the caller's."""

    format = "onnx (session)"

    @staticmethod
    def accepts(model) -> bool:
        """An object models/loading.py gives this backend."""
        return (type(model).__module__.split(".")[0] == "onnxruntime"
                and hasattr(model, "get_inputs") and hasattr(model, "run"))

    def __init__(self, session, name: str, image_shape: tuple[int, int, int],
                 options: ModelOptions):
        super().__init__(None, name, image_shape, options, session=session)
