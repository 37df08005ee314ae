"""The model backends' registries, each backend registering itself where it is defined:
model files by format (``@MODEL_FILES.register("onnx")``: the class's ``suffixes`` and
``from_file``) and objects in memory by type (``@MODEL_OBJECTS.register("torch.nn.Module")``:
its ``accepts(model)``; a ``catch_all`` backend is asked last). models/loading.py imports them."""

from __future__ import annotations

from ..registry import Registry

MODEL_FILES: Registry = Registry("model file format")
MODEL_OBJECTS: Registry = Registry("in-memory model type")
