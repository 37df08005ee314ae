"""Which backend runs a model: a file by its extension (:func:`load_classifier`), anything a
user may pass by its type (:func:`as_classifier`); and a model's name and identity for results
(its default name, names made unique, an in-memory module's weight digest)."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from ..errors import ModelError
from .backends import MODEL_FILES, MODEL_OBJECTS
from .contract import ModelOptions
from .function import CallableClassifier  # noqa: F401  (the backends' imports register them)
from .hf_folder import HFImageClassifier, beside, read_folder
from .onnx_file import OnnxClassifier
from .protocol import Classifier
from .session import OnnxSessionClassifier  # noqa: F401
from .torch_module import TorchModuleClassifier  # noqa: F401
from .torchscript import TorchScriptClassifier

# The backends (docs/architecture.md, models/backends.py; the imports above register them): a
# model file goes to the backend whose ``suffixes`` hold its extension (``from_file``); an object
# in memory to the first whose ``accepts`` it, catch-all backends last.
FILE_BACKENDS = MODEL_FILES.values()
MEMORY_BACKENDS = sorted(MODEL_OBJECTS.values(), key=lambda b: getattr(b, "catch_all", False))
ONNX_SUFFIXES = set(OnnxClassifier.suffixes)
TORCHSCRIPT_SUFFIXES = set(TorchScriptClassifier.suffixes)


def load_classifier(path: Path, name: str, image_shape: tuple[int, int, int],
                    options: ModelOptions | None = None, threads: int = 0,
                    class_names: list[str] | None = None) -> Classifier:
    """Load ``path`` by its extension (a folder: a Hugging Face model folder) and fit its input
    contract to ``image_shape`` (C, H, W). ``threads``: ONNX Runtime's intra-op threads (0: its
    default; a Ray worker passes its share of the machine's cores). ``class_names``: the
    generator's classes, which a folder's ``id2label`` and an ONNX file's string classes are
    mapped onto."""
    options = options or ModelOptions()
    path = Path(path)
    if not path.exists():
        raise ModelError(f"model file {str(path)!r} does not exist")
    if path.is_dir() or (path.suffix.lower() in ONNX_SUFFIXES and beside(path) is not None):
        folder = read_folder(path) if path.is_dir() else beside(path)
        assert folder is not None
        return HFImageClassifier(folder, name, image_shape, options, threads, class_names)
    suffix = path.suffix.lower()
    for backend in FILE_BACKENDS:
        if suffix in backend.suffixes:
            return backend.from_file(path, name, image_shape, options, threads, class_names)
    raise ModelError(
        f"{path.name}: unknown model format {suffix or '(no extension)'!r}; expected .onnx "
        "(ONNX) or .pt/.ts (TorchScript, saved with torch.jit.save)"
    )


def as_classifier(model: Any, name: str, image_shape: tuple[int, int, int],
                  options: ModelOptions | None = None, threads: int = 0,
                  class_names: list[str] | None = None) -> Classifier:
    """A classifier from a model file's (or folder's) path, a ``torch.nn.Module``, an
    ``onnxruntime.InferenceSession`` or a function ``f(images) -> labels or scores``."""
    options = options or ModelOptions()
    if isinstance(model, (str, os.PathLike)):
        return load_classifier(Path(model), name, image_shape, options, threads, class_names)
    kind = type(model)
    for backend in MEMORY_BACKENDS:
        if backend.accepts(model):
            return backend(model, name, image_shape, options)
    hint = (" (a scikit-learn estimator: pass `lambda x: est.predict(x.reshape(len(x), -1))`)"
            if hasattr(model, "predict") else "")
    raise ModelError(f"model {name!r} is a {kind.__name__}, not a model: pass a .onnx or "
                     "TorchScript path, a torch.nn.Module, an onnxruntime.InferenceSession or a "
                     f"function images -> labels{hint}")


def model_digest(model: Any) -> str | None:
    """SHA-256 that identifies an in-memory model's weights (a torch module's state dict), else
    None."""
    import hashlib

    if not _is_torch_module(model):
        return None
    digest = hashlib.sha256()
    for key, tensor in model.state_dict().items():
        digest.update(key.encode())
        flat = tensor.detach().cpu().contiguous().reshape(-1)
        digest.update(flat.view(sys.modules["torch"].uint8).numpy().tobytes())  # any dtype
    return digest.hexdigest()


def _is_torch_module(model: Any) -> bool:
    torch = sys.modules.get("torch")  # never imported for a model that cannot be one
    return torch is not None and isinstance(model, torch.nn.Module)


def default_name(model: Any) -> str:
    """A model's name where none is given: a file's stem, a function's or class's name."""
    if isinstance(model, (str, os.PathLike)):
        path = Path(model)
        return path.name if path.is_dir() else (path.stem or path.name)
    name = getattr(model, "__name__", None)
    return name if isinstance(name, str) and name != "<lambda>" else type(model).__name__.lower()


def unique_names(models: list[Any]) -> list[str]:
    """Default names (file stems, function names), made unique when two collide: lenet,
    lenet-2, ..."""
    names: list[str] = []
    for model in models:
        stem = default_name(model)
        name, k = stem, 2
        while name in names:
            name, k = f"{stem}-{k}", k + 1
        names.append(name)
    return names
