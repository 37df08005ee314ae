"""A Hugging Face model folder as a model: what ``optimum-cli export onnx --task
text-classification`` (or ``image-classification``) writes, read without ``transformers``.

A folder holds ``model.onnx`` (or one other ``.onnx`` file) and beside it:

- ``config.json``: ``id2label``, the model's class names in its own order;
- text models: ``tokenizer.json`` (the ``tokenizers`` library's whole pipeline) and
  ``tokenizer_config.json`` (``model_max_length``, special tokens); the ONNX model takes int64
  ``input_ids``, ``attention_mask`` (and BERT-style ``token_type_ids``);
- image models: ``preprocessor_config.json`` (resize, rescale, normalise, centre crop); the ONNX
  model takes float ``pixel_values`` (N, 3, H, W).

This module reads those files (:func:`read_folder`) and maps a model's class names onto a
generator's (:func:`auditor.models.outputs.class_order`); the backends are
:class:`HFImageClassifier` (here) and :class:`auditor.text.transformer.TransformerTextClassifier`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ModelError
from .contract import InputContract, ModelOptions, normalisation
from .onnx_file import OnnxClassifier, open_model_session
from .outputs import class_order

# PIL's resampling filters by number, as preprocessor_config.json's ``resample`` gives them
ABSENT = -1e9  # the logit of a generator class a model does not have
RESAMPLE = {0: "nearest", 1: "bicubic", 2: "bilinear", 3: "bicubic", 4: "bilinear", 5: "bicubic"}


@dataclass
class HFFolder:
    """The files of a model folder that a scan reads (None where absent)."""

    path: Path
    onnx: Path
    config: dict[str, Any] = field(default_factory=dict)
    tokenizer: Path | None = None
    tokenizer_config: dict[str, Any] = field(default_factory=dict)
    preprocessor: dict[str, Any] | None = None
    given: Path | None = None  # what the user named: the folder, or its ONNX file

    @property
    def model_path(self) -> Path:
        return self.given or self.path

    @property
    def id2label(self) -> list[str] | None:
        """The class names of labels 0, 1, ... from config.json, or None."""
        raw = self.config.get("id2label")
        if not isinstance(raw, dict) or not raw:
            return None
        try:
            by_id = {int(k): str(v) for k, v in raw.items()}
        except ValueError:
            return None
        if sorted(by_id) != list(range(len(by_id))):
            return None
        return [by_id[i] for i in range(len(by_id))]

    def files(self) -> list[Path]:
        """The files that make the model (its identity in results.json and for Ray workers)."""
        names = ("config.json", "tokenizer.json", "tokenizer_config.json",
                 "special_tokens_map.json", "vocab.txt", "preprocessor_config.json")
        return [self.onnx] + [self.path / n for n in names if (self.path / n).is_file()]


def is_model_folder(path: Path) -> bool:
    return Path(path).is_dir()


def read_folder(path: Path, onnx: Path | None = None) -> HFFolder:
    """The model files of folder ``path`` (``onnx``: its model file, where the user named it);
    a ModelError naming what is missing."""
    path = Path(path)
    model = onnx or _onnx_file(path)
    config = _json(path / "config.json")
    tokenizer = path / "tokenizer.json"
    preprocessor = path / "preprocessor_config.json"
    return HFFolder(path, model, config or {},
                    tokenizer if tokenizer.is_file() else None,
                    _json(path / "tokenizer_config.json") or {},
                    _json(preprocessor) if preprocessor.is_file() else None, given=onnx or path)


def beside(onnx: Path) -> HFFolder | None:
    """The folder files around an ONNX file given directly (``folder/model.onnx``), where its
    folder holds a Hugging Face config, tokenizer or preprocessor; else None."""
    folder = onnx.parent
    markers = ("config.json", "tokenizer.json", "preprocessor_config.json")
    if not any((folder / m).is_file() for m in markers):
        return None
    found = read_folder(folder, onnx)
    if found.tokenizer is None and found.preprocessor is None and found.id2label is None:
        return None
    return found


def _onnx_file(path: Path) -> Path:
    preferred = path / "model.onnx"
    if preferred.is_file():
        return preferred
    found = sorted(p for p in path.glob("*.onnx") if p.is_file())
    if len(found) == 1:
        return found[0]
    if not found:
        raise ModelError(f"{path}: the folder holds no ONNX model (model.onnx); export it with "
                         "`optimum-cli export onnx --model NAME --task text-classification "
                         f"{path}` (or image-classification), or pass a model file")
    raise ModelError(f"{path}: the folder holds {len(found)} ONNX files and no model.onnx "
                     f"({', '.join(p.name for p in found[:4])}); pass the model file itself")


def _json(path: Path) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as err:
        raise ModelError(f"{path}: not readable JSON ({err}); fix or remove the file") from err
    if not isinstance(data, dict):
        raise ModelError(f"{path}: expected a JSON object, got {type(data).__name__}")
    return data


def given_names(options: ModelOptions, model: str) -> list[str] | None:
    """The class names ``--class-names`` gives ``model`` (None: none given)."""
    for name, names in options.class_names:
        if name in (model, "*"):
            return list(names)
    return None


def reorder(scores: np.ndarray, columns: np.ndarray | None, k: int) -> np.ndarray:
    """(N, K) scores in the model's column order -> the bundle's order (K' = ``k`` columns; a
    bundle class the model lacks gets a logit far below any other)."""
    if columns is None:
        return scores
    out = np.full((len(scores), max(k, int(columns.max()) + 1)), ABSENT, dtype=np.float64)
    out[:, columns] = scores
    return out


def describe_names(model: str, names: list[str] | None, columns: np.ndarray | None,
                   given: bool) -> str | None:
    """One line on how a model's class names were read (``given``: by --class-names), or None
    where there is nothing to say."""
    if names is None:
        return None
    if columns is not None:
        moved = "" if np.array_equal(columns, np.arange(len(columns))) else ", reordered"
        source = "--class-names" if given else "config.json"
        return f"model {model}: class names from {source} mapped onto the generator's{moved}"
    return None  # generic names: the reference check says so (reference.mismatch)


def preprocessing(pre: dict[str, Any], model: str, options: ModelOptions, channels: int,
                  declared: tuple[int | None, int | None]) -> tuple[dict[str, Any], str]:
    """InputContract fields from preprocessor_config.json (size, resample, crop, scale, mean,
    std) and a note where --normalize / --input-scale override it."""
    size = _size(pre.get("size"), declared) if pre.get("do_resize", True) else None
    crop = (_size(pre.get("crop_size"), declared)
            if pre.get("do_center_crop") and pre.get("crop_size") else None)
    pct = pre.get("crop_pct")
    if size and not crop and isinstance(pct, (int, float)) and 0 < pct < 1 and size[0] < 384:
        crop, size = size, (int(size[0] / pct), int(size[1] / pct))  # ConvNeXT's rule
    resample = RESAMPLE.get(int(pre.get("resample", 2) or 2), "bilinear")
    scale = 255.0 * float(pre.get("rescale_factor", 1 / 255)) if pre.get("do_rescale", True) \
        else 255.0
    mean, std = (0.0,), (1.0,)
    if pre.get("do_normalize", "image_mean" in pre):
        mean = _per_channel(pre.get("image_mean", 0.0), channels, model, "image_mean")
        std = _per_channel(pre.get("image_std", 1.0), channels, model, "image_std")
    note = ""
    if options.normalize is not None or options.input_scale != 1.0:
        if options.normalize is not None:
            mean, std = normalisation(options, channels)
        if options.input_scale != 1.0:
            scale = options.input_scale
        note = (f"note: model {model}: --normalize/--input-scale given, used instead of its "
                "preprocessor_config.json's rescale and normalisation")
    return dict(size=size, crop=crop, resample=resample, input_scale=round(scale, 6),
                mean=mean, std=std), note


def _size(value: Any, declared: tuple[int | None, int | None]) -> tuple[int, int] | None:
    """(H, W) from a preprocessor ``size``: an int, {"height", "width"}, or {"shortest_edge"}
    (the generator's images are square, so the shortest edge is both)."""
    if isinstance(value, int):
        return (value, value)
    if isinstance(value, dict):
        if "height" in value and "width" in value:
            return (int(value["height"]), int(value["width"]))
        if "shortest_edge" in value:
            return (int(value["shortest_edge"]), int(value["shortest_edge"]))
    if isinstance(value, (list, tuple)) and len(value) == 2:
        return (int(value[0]), int(value[1]))
    if all(d is not None for d in declared):
        return (int(declared[0]), int(declared[1]))  # type: ignore[arg-type]
    return None


def _per_channel(value: Any, channels: int, model: str, key: str) -> tuple[float, ...]:
    values = tuple(float(v) for v in (value if isinstance(value, (list, tuple)) else [value]))
    if len(values) not in (1, channels):
        raise ModelError(f"model {model}: preprocessor_config.json's {key} has {len(values)} "
                         f"values for {channels} channels")
    return values


class HFImageClassifier(OnnxClassifier):
    """An image model folder: ``pixel_values`` (N, 3, H, W) fed as its preprocessor_config.json
    says, class names from config.json mapped onto the generator's by name."""

    format = "onnx (Hugging Face folder)"

    def __init__(self, folder: HFFolder, name: str, image_shape: tuple[int, int, int],
                 options: ModelOptions, threads: int = 0, bundle_names: list[str] | None = None):
        self.folder, self._note = folder, ""
        session = open_model_session(folder.onnx, options.device, threads)
        names = given_names(options, name) or folder.id2label
        self._columns, self.class_names = class_order(names, bundle_names)
        super().__init__(folder.model_path, name, image_shape, options, session=session)
        given = given_names(options, name) is not None
        self.notes = [n for n in (self._note, describe_names(name, names, self._columns, given))
                      if n]

    @classmethod
    def from_folder(cls, path: Path, name: str, image_shape: tuple[int, int, int],
                    options: ModelOptions, threads: int = 0,
                    bundle_names: list[str] | None = None) -> HFImageClassifier:
        return cls(read_folder(path), name, image_shape, options, threads, bundle_names)

    def _make_contract(self, shape: list[Any], image_shape: tuple[int, int, int],
                       options: ModelOptions, dtype: Any) -> InputContract:
        pre = self.folder.preprocessor
        if pre is None:
            return super()._make_contract(shape, image_shape, options, dtype)
        c, h, w = image_shape
        rank = len(shape)
        channels = shape[1] if rank == 4 and isinstance(shape[1], int) and shape[1] > 0 else 3
        declared = tuple(d if isinstance(d, int) and d > 0 else None for d in shape[2:4])
        batch = shape[0] if rank and isinstance(shape[0], int) and shape[0] > 0 else None
        if rank != 4 or channels not in (1, 3) or (channels == 1 and c == 3):
            raise ModelError(f"{self.label}: its input {self.input_name!r} has shape {shape}; "
                             f"expected pixel_values (N, 3, H, W) for the generator's {c}x{h}x{w} "
                             "images")
        fields, self._note = preprocessing(pre, self.label, options, channels,
                                           declared)  # type: ignore[arg-type]
        return InputContract("nchw", batch, channels, dtype=dtype, **fields)

    def _labels(self, x: np.ndarray, n: int) -> np.ndarray:
        if self._columns is None or not self.has_scores:
            return super()._labels(x, n)
        return self._scored(x, n)[0]

    def _scored(self, x: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
        labels, scores = super()._scored(x, n)
        if self._columns is None:
            return labels, scores
        scores = reorder(np.asarray(scores, dtype=np.float64), self._columns,
                         len(self.class_names or []))
        self.n_outputs = scores.shape[1]
        return scores.argmax(axis=1).astype(np.int64), scores


def bundle_classes(gen: Any) -> list[str] | None:
    """A generator's class names (its reference classifier's, else its manifest's), which model
    folders' class names are mapped onto."""
    names = (gen.reference.class_names if getattr(gen, "reference", None) is not None else None)
    return list(names or gen.manifest.get("class_names") or []) or None
