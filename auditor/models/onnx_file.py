"""The ONNX backend: a model file run by ONNX Runtime (through :mod:`auditor.onnx_session`).

Its input contract is read from the declared input (layout, fixed batch, dtype); its outputs
are probed once with a batch of blank images: a label output is preferred, else the first
scores output (N, K); scikit-learn's probability maps (ZipMap) count as scores.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ModelError, first_line
from ..onnx_session import open_session, read_graph
from .base import ImageClassifier
from .contract import InputContract, ModelOptions, contract_from_shape
from .outputs import class_order, labels_from_output, zipmap
from .backends import MODEL_FILES

TEXT_INPUTS = ("input_ids", "attention_mask", "token_type_ids")  # a tokenizer's outputs
INPUT_TYPES = {"tensor(float)": np.float32, "tensor(double)": np.float64,
               "tensor(float16)": np.float16, "tensor(uint8)": np.uint8}


def open_model_session(path: Path, device: str | None = None, threads: int = 0) -> Any:
    """A model file's session; a file ONNX Runtime cannot load is a one-line ModelError."""
    return open_session(path, device=device, threads=threads, error=lambda err: ModelError(
        f"{path.name}: not a loadable ONNX model ({first_line(err)}); check the file"))


@MODEL_FILES.register("onnx")
class OnnxClassifier(ImageClassifier):
    format = "onnx"
    suffixes = (".onnx",)  # the files models/loading.py gives this backend

    @classmethod
    def from_file(cls, path: Path, name: str, image_shape: tuple[int, int, int],
                  options: ModelOptions, threads: int = 0,
                  class_names: list[str] | None = None) -> OnnxClassifier:
        return cls(path, name, image_shape, options, threads=threads, bundle=class_names)

    def __init__(self, path: Path | None, name: str, image_shape: tuple[int, int, int],
                 options: ModelOptions, session: Any = None, threads: int = 0,
                 bundle: list[str] | None = None):
        self.name, self.path = name, path
        self.session = session if session is not None else open_model_session(
            path, options.device, threads)  # type: ignore[arg-type]
        self.provider = self.session.get_providers()[0]
        self._read_contract(image_shape, options)
        self._name_classes(string_classes(path) if path is not None else None, bundle)

    def _name_classes(self, classes: list[str] | None, bundle: list[str] | None) -> None:
        """A model with string classes (a scikit-learn export): label ids in its score columns'
        order, not in the order its labels are first met, or, where its classes are exactly the
        generator's ``bundle`` (ignoring case), the generator's ids, so that its labels and R's
        compare. ``file_classes``: the file's name of each id."""
        self.file_classes: list[str] | None = classes
        self._perm: np.ndarray | None = None  # score column of each id (None: the same)
        self._ids: dict[str, int] = {}  # the file's class -> its id
        if not classes:
            return
        columns, names = class_order(classes, bundle)
        if columns is not None and sorted(columns.tolist()) == list(range(len(bundle or []))):
            self.file_classes = [classes[j] for j in np.argsort(columns)]
            self._perm = None if (columns == np.arange(len(columns))).all() else np.argsort(
                columns)
            self.class_names = list(names or [])
            self.notes = [f"model {self.name}: its classes mapped onto the generator's"
                          + ("" if self._perm is None else ", reordered")]
        else:
            self.class_names = list(classes)
        self._ids = {c: i for i, c in enumerate(self.file_classes)}

    def _string_labels(self, arr: np.ndarray) -> np.ndarray:
        if not self._ids:
            return super()._string_labels(arr)
        values = arr.tolist()
        if not all(v in self._ids for v in values):
            raise ModelError(f"{self.label}: labels {sorted(set(values) - set(self._ids))} are "
                             f"none of its declared classes {self.file_classes}")
        return np.array([self._ids[v] for v in values], dtype=np.int64)

    def _read_contract(self, image_shape: tuple[int, int, int], options: ModelOptions) -> None:
        inputs = self.session.get_inputs()
        strings = [i.name for i in inputs if i.name in TEXT_INPUTS or i.type == "tensor(string)"]
        if strings:  # the graph reads strings, not pixels: refused by this image backend
            raise ModelError(f"{self.label}: a text model (its input {strings[0]!r}), and the data "
                             "is images; scan it with texts: pairs in a .tsv/.jsonl or sentences "
                             "in a .txt")
        if len(inputs) != 1:
            raise ModelError(
                f"{self.label}: expected a model with one image input, got {len(inputs)} inputs "
                f"({', '.join(i.name for i in inputs)})"
            )
        self.input_name = inputs[0].name
        dtype = INPUT_TYPES.get(inputs[0].type)
        if dtype is None:
            raise ModelError(f"{self.label}: input type {inputs[0].type} is not an image tensor; "
                             "expected float")
        self.contract = self._make_contract(list(inputs[0].shape), image_shape, options, dtype)
        self.output_names = [o.name for o in self.session.get_outputs()]
        self._output: str | None = None
        self._probe(image_shape)

    def _make_contract(self, shape: list[Any], image_shape: tuple[int, int, int],
                       options: ModelOptions, dtype: Any) -> InputContract:
        """The input contract read from the declared input ``shape``."""
        contract = contract_from_shape(self.label, shape, image_shape, options, dtype)
        if dtype == np.uint8 and options.input_scale == 1.0:
            contract.input_scale = 255.0
        return contract

    def _probe(self, image_shape: tuple[int, int, int]) -> None:
        n = self.contract.batch or 2
        x = self.contract.prepare(np.zeros((n, *image_shape), dtype=np.float32))
        try:
            outs = self.session.run(None, {self.input_name: x})
        except Exception as err:
            raise ModelError(
                f"{self.label}: the model fails on {self.contract.describe()} input of "
                f"shape {x.shape}: {first_line(err)}"
            ) from err
        label_outputs = []
        score_outputs = []
        self._zipmap_output = None
        for name, out in zip(self.output_names, outs):
            if isinstance(out, list) and len(out) == n and all(isinstance(r, dict) for r in out):
                self._zipmap_output = name  # scikit-learn's probabilities as maps (ZipMap)
                continue
            arr = np.asarray(out) if not isinstance(out, list) else None
            if arr is None or arr.dtype == object:
                if arr is not None and arr.ndim == 1 and len(arr) == n and arr.dtype == object:
                    label_outputs.append(name)  # string labels
                continue
            if arr.ndim == 2 and arr.shape == (n, 1) or arr.ndim == 1 and arr.shape[0] == n:
                label_outputs.append(name)
            elif arr.ndim == 2 and arr.shape[0] == n and arr.shape[1] >= 2:
                score_outputs.append(name)
        chosen = (label_outputs or score_outputs or [None])[0]
        if chosen is None:
            shapes = ", ".join(f"{nm} {np.shape(o) if not isinstance(o, list) else 'list'}"
                               for nm, o in zip(self.output_names, outs))
            raise ModelError(
                f"{self.label}: expected an output of scores (N, K) or labels (N,), got {shapes}"
            )
        self._output = chosen
        self._score_output = score_outputs[0] if score_outputs else self._zipmap_output
        self.has_scores = self._score_output is not None

    def _scored(self, x: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
        names = list(dict.fromkeys([self._output, self._score_output]))
        try:
            outs = self.session.run(names, {self.input_name: x})
        except Exception as err:
            raise ModelError(f"{self.label}: inference failed: {first_line(err)}") from err
        labels, raw = self._labels_of(outs[0], n), outs[-1]
        if isinstance(raw, list):  # ZipMap: string classes are registered in the labels' order
            keys = list(raw[0].keys()) if raw else []
            if keys and not isinstance(keys[0], (int, np.integer)):
                self._string_labels(np.array(keys, dtype=object))
            scores = zipmap(raw, self._ids or {v: i for i, v in enumerate(self.class_names or [])})
        else:
            scores = np.asarray(raw)
            if self._perm is not None and scores.ndim == 2 and scores.shape[1] == len(self._perm):
                scores = scores[:, self._perm]
        return labels, scores

    def _labels(self, x: np.ndarray, n: int) -> np.ndarray:
        try:
            (out,) = self.session.run([self._output], {self.input_name: x})
        except Exception as err:
            raise ModelError(f"{self.label}: inference failed: {first_line(err)}") from err
        return self._labels_of(out, n)

    def _labels_of(self, out: Any, n: int) -> np.ndarray:
        arr = np.asarray(out)
        if arr.dtype == object or arr.dtype.kind in "US":
            return self._string_labels(arr.reshape(-1))
        if arr.ndim == 2 and arr.dtype.kind == "f" and arr.shape[1] > 1:
            self.n_outputs = int(arr.shape[1])
        labels = labels_from_output(arr, n, self.name)
        if labels is None:
            raise ModelError(
                f"{self.label}: output {self._output!r} has shape {arr.shape} and dtype "
                f"{arr.dtype}; "
                "expected scores (N, K) or integer labels (N,)"
            )
        return labels


def string_classes(path: Path) -> list[str] | None:
    """The string class labels of a classifier exported with them (scikit-learn through skl2onnx:
    a node's ``classlabels_strings``), in the order of its score columns; None where it has none
    (or onnx cannot read the file ONNX Runtime loaded: its ids are then the labels' first-met)."""
    graph = read_graph(path, b"classlabels_strings")
    for node in [] if graph is None else graph.node:
        for a in node.attribute:
            if a.name == "classlabels_strings" and a.strings:
                return [v.decode() for v in a.strings]
    return None
