"""The reference classifier R as a :class:`~auditor.models.protocol.Classifier`: a bundle's own
network (torch) or an imported ONNX graph, over the bundle's images (N, C, H, W) float32 in
[0, 1]; and whether R's figures apply to a given model (:func:`mismatch`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..errors import GeneratorError, ModelError
from ..models.outputs import log_probabilities
from ..models.protocol import ClassifierBase
from .networks import build_reference, logits_with, predict_with

BATCH = 4096


class ReferenceClassifier(ClassifierBase):
    """R of a bundle: ``predict(images)`` gives labels for (N, C, H, W) float32 in [0, 1]."""

    format = "reference"
    has_scores = True

    def __init__(self, net: Any, class_names: list[str], record: dict[str, Any],
                 device: str = "cpu", name: str = "reference"):
        self.net, self.class_names, self.device, self.name = net, class_names, device, name
        self.record = record  # the manifest's "reference_classifier" entry

    @property
    def provider(self) -> str:  # type: ignore[override]
        return str(self.device)

    @property
    def n_outputs(self) -> int:  # type: ignore[override]
        return len(self.class_names)

    @property
    def label(self) -> str:
        return "the reference classifier"

    @property
    def contract(self) -> ReferenceClassifier:  # results name R's input in its own words
        return self

    def describe(self) -> str:
        return str(self.record.get("input", "float32 NCHW in [0, 1]"))

    def predict(self, images: np.ndarray) -> np.ndarray:
        return predict_with(self.net, images, self.device)

    def predict_scores(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        logits = logits_with(self.net, images, self.device)
        return logits.argmax(axis=1).astype(np.int64), log_probabilities(logits, self.label)


class OnnxReference(ReferenceClassifier):
    """R brought as ONNX (``import-generator --reference``): scores (N, K) or labels (N,)."""

    format = "onnx reference"

    @property
    def provider(self) -> str:  # type: ignore[override]
        return str(self.net.get_providers()[0])

    @property
    def has_scores(self) -> bool:  # type: ignore[override]
        return len(self.net.get_outputs()[0].shape) == 2

    def _outputs(self, images: np.ndarray):
        name_in, name_out = self.net.get_inputs()[0].name, self.net.get_outputs()[0].name
        for start in range(0, len(images), BATCH):
            batch = np.ascontiguousarray(images[start : start + BATCH])
            yield np.asarray(self.net.run([name_out], {name_in: batch})[0])

    def predict(self, images: np.ndarray) -> np.ndarray:
        out = [arr.argmax(axis=1) if arr.ndim == 2 else arr.reshape(-1)
               for arr in self._outputs(images)]
        return np.concatenate(out).astype(np.int64) if out else np.zeros(0, dtype=np.int64)

    def predict_scores(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if not self.has_scores:
            raise ModelError(f"{self.label} gives labels only, no class scores")
        scores = np.concatenate(list(self._outputs(images)))
        return scores.argmax(axis=1).astype(np.int64), log_probabilities(scores, self.label)


def load_torch_reference(path: Path, manifest: dict[str, Any], device: str) -> ReferenceClassifier:
    """R from its checked ``reference.npz`` (plain arrays) for the bundle's image shape."""
    import torch

    record = manifest["reference_classifier"]
    names = list(record.get("class_names") or [])
    shape = tuple(int(v) for v in manifest["image_shape"])
    net = build_reference(shape, len(names), record["architecture"])  # type: ignore[arg-type]
    try:
        with np.load(path, allow_pickle=False) as npz:
            net.load_state_dict({k: torch.from_numpy(npz[k]) for k in npz.files})
    except (OSError, ValueError, RuntimeError, KeyError) as err:
        raise GeneratorError(f"{path}: the reference classifier does not fit the bundle's images "
                             f"{'x'.join(map(str, manifest['image_shape']))} and {len(names)} "
                             f"classes ({str(err)[:160]})") from err
    return ReferenceClassifier(net.to(device).eval(), names, record, device)


TEXT_KINDS = {True: "premise-hypothesis pairs", False: "single sentences"}  # by ``pairs``


def mismatch(clf, reference, labels: np.ndarray) -> str | None:
    """Why R's figures do not apply to classifier ``clf`` (None: they apply).

    They apply when the model's classes are R's: as many scores as R has classes (where the
    model gives scores), the same class names (where it declares names that are not just
    0, 1, 2, ...), and no predicted label outside R's classes (``labels``: its labels of
    some images)."""
    from ..models.outputs import is_generic

    given, judged = getattr(clf, "pairs", None), getattr(reference, "pairs", None)
    if None not in (given, judged) and given != judged:  # texts of another kind than R's
        return f"it takes {TEXT_KINDS[given]}; the reference classifier judges {TEXT_KINDS[judged]}"
    k = len(reference.class_names)
    n_outputs = clf.n_outputs
    if n_outputs is not None and n_outputs != k:
        return f"it gives {n_outputs} class scores, the reference classifier knows {k} classes"
    names = clf.class_names
    if names and [str(v) for v in names] != [str(i) for i in range(len(names))]:
        theirs = [v.lower() for v in reference.class_names[: len(names)]]
        if [str(v).lower() for v in names] != theirs:
            shown = f"its class names ({', '.join(map(str, names[:3]))}…)"
            if is_generic([str(v) for v in names]):
                return (f"{shown} are generic; pass --class-names {clf.name}=NAME0,NAME1,... in "
                        "the order of its labels (Δz and the ranking hold without)")
            return f"{shown} are not the reference's"
    if len(labels) and (labels.min() < 0 or labels.max() >= k):
        return f"it predicts label {int(labels.max())}, outside the reference's {k} classes"
    return None
