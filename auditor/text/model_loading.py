"""Which backend runs a text model: an ONNX file with a string input, a Hugging Face model
folder (or its model.onnx with tokenizer.json beside it), a transformers pipeline or
``(model, tokenizer)`` pair, or a Python callable; a model of the wrong modality is refused in
one line."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..errors import ModelError
from ..models.contract import ModelOptions
from ..models.hf_folder import given_names
from .models import CallableTextClassifier, OnnxTextClassifier, TextClassifier


def as_text_classifier(model: Any, name: str, pairs: bool, class_names: list[str] | None,
                       options: ModelOptions | None = None, threads: int = 0) -> TextClassifier:
    """A text classifier from an ONNX path, a Hugging Face model folder, a transformers
    pipeline or (model, tokenizer) pair, or a callable; refuses a model of the wrong modality.
    ``class_names``: the generator's classes; ``threads``: ONNX Runtime's intra-op threads (0:
    its default)."""
    from .hf_python import transformers_classifier

    options = options or ModelOptions()
    if isinstance(model, (str, os.PathLike)):
        clf: TextClassifier = _from_path(Path(model), name, pairs, class_names, options, threads)
    elif (found := transformers_classifier(model, name, pairs, class_names, options)) is not None:
        clf = found
    elif callable(model):
        clf = CallableTextClassifier(model, name, pairs, given_names(options, name) or class_names)
    else:
        raise ModelError(f"model {name!r} is a {type(model).__name__}: give an ONNX path, a "
                         "Hugging Face model folder, a transformers pipeline or (model, "
                         "tokenizer), or a function of a list of texts")
    if clf.pairs != pairs:
        holds = "pairs" if pairs else "single sentences"
        raise ModelError(f"{clf.label} takes {clf.describe()}, but the data holds {holds}; give "
                         f"{'pairs' if clf.pairs else 'sentences'}")
    return clf


def _from_path(path: Path, name: str, pairs: bool, class_names: list[str] | None,
               options: ModelOptions, threads: int) -> TextClassifier:
    """A text model file: an ONNX file with a string input, or a transformer (a model folder, or
    its model.onnx with tokenizer.json beside it)."""
    from .transformer import TransformerTextClassifier, text_folder

    if not path.exists():
        raise ModelError(f"{path}: no such model file or folder")
    if not path.is_dir() and path.suffix.lower() != ".onnx":
        raise ModelError(f"{path.name}: a text model must be an ONNX file with a string input, a "
                         "Hugging Face model folder (or, from Python, a function of a list of "
                         "texts); TorchScript text models are not read")
    folder = text_folder(path)
    if folder is not None and folder.tokenizer is not None:
        return TransformerTextClassifier(folder, name, pairs, class_names, options, threads)
    if folder is not None and folder.preprocessor is not None:
        raise ModelError(f"{path}: an image model (preprocessor_config.json), and the data is "
                         "text; scan it with images")
    clf = OnnxTextClassifier(folder.onnx if folder is not None else path, name, class_names,
                             options.device, threads)
    clf.path = path
    return clf
