"""A reference classifier R inside a generator bundle (issue #19).

A bundle's author has labels when training a generator; a small CNN trained on them can stand
in for the true class of generated images, which a scan (without labels) never has. R takes
the bundle's images, float32 (N, C, H, W) in [0, 1], no normalisation. It is stored like the
generator: plain arrays in ``reference.npz`` (never a pickle), its SHA-256 in the manifest's
``files``, and its description under the manifest key ``reference_classifier``:
architecture, class names, accuracy overall and per class on the author's held-out labelled
images, and their number.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .errors import GeneratorError

REFERENCE_FILE = "reference.npz"
# conv5x5/2 (16) conv5x5/2 (32) fc(128) fc(K). R labels every decode of the error search, so its
# cost is the scan's: strided convolutions instead of pooled ones cost 8x less per image on CPU
# (81 against 670 us in a 4,096 batch, 2 cores; the MLP decoder: 23 us), at no measured loss of accuracy.
ARCHITECTURE = "cnn-strided-v1"
# The photo bundles' R: a ResNet-9 (Page 2018's layout: conv, conv+pool, residual block, conv+pool,
# conv+pool, residual block, global max pool) at a quarter of its width (16-32-64-128 channels),
# batch-normalised. A 2-layer strided CNN reached 54% on CIFAR-10 where the models it judges reach
# 81-84%; this one is trained with crops and flips by scripts/cifar10_reference.py.
RESNET = "resnet9-w16-v1"
ARCHITECTURES = (ARCHITECTURE, RESNET)


def build_reference(image_shape: tuple[int, int, int], n_classes: int, architecture: str = ARCHITECTURE):
    from torch import nn

    c, h, w = image_shape
    if architecture == RESNET:
        return _resnet9(c, n_classes, 16)
    return nn.Sequential(
        nn.Conv2d(c, 16, 5, stride=2, padding=2), nn.ReLU(),
        nn.Conv2d(16, 32, 5, stride=2, padding=2), nn.ReLU(),
        nn.Flatten(), nn.Linear(32 * ((h + 3) // 4) * ((w + 3) // 4), 128), nn.ReLU(), nn.Dropout(0.3),
        nn.Linear(128, n_classes),
    )


def _resnet9(channels: int, n_classes: int, width: int):
    from torch import nn

    def conv(ci: int, co: int) -> nn.Sequential:
        return nn.Sequential(nn.Conv2d(ci, co, 3, padding=1, bias=False), nn.BatchNorm2d(co), nn.ReLU())

    class Residual(nn.Module):
        def __init__(self, c: int):
            super().__init__()
            self.a, self.b = conv(c, c), conv(c, c)

        def forward(self, x):
            return x + self.b(self.a(x))

    w = width
    return nn.Sequential(
        conv(channels, w), conv(w, 2 * w), nn.MaxPool2d(2), Residual(2 * w),
        conv(2 * w, 4 * w), nn.MaxPool2d(2), conv(4 * w, 8 * w), nn.MaxPool2d(2), Residual(8 * w),
        nn.AdaptiveMaxPool2d(1), nn.Flatten(), nn.Linear(8 * w, n_classes),
    )


def train_reference(
    images: np.ndarray, labels: np.ndarray, train_idx: np.ndarray, hold_idx: np.ndarray,
    class_names: list[str] | None = None, steps: int = 5000, batch_size: int = 128, lr: float = 1e-3,
    seed: int = 0, device: str = "cpu",
) -> tuple[Any, dict[str, Any]]:
    """Train R on ``images[train_idx]`` (Adam, cross-entropy, random shifts of up to 2 pixels),
    measure it on ``images[hold_idx]``. Returns the network and its manifest record."""
    import torch

    labels = np.asarray(labels, dtype=np.int64)
    n_classes = int(labels.max()) + 1
    if class_names is not None and len(class_names) < n_classes:
        raise GeneratorError(f"{len(class_names)} class names for labels 0..{n_classes - 1}: give one name per class")
    names = list(class_names) if class_names else [str(k) for k in range(n_classes)]
    started = time.perf_counter()
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    net = build_reference(tuple(images.shape[1:]), len(names)).to(device)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    x_train = torch.from_numpy(images[train_idx]).to(device)
    y_train = torch.from_numpy(labels[train_idx]).to(device)
    net.train()
    for _ in range(steps):
        rows = torch.from_numpy(rng.integers(0, len(train_idx), batch_size)).to(device)
        dy, dx = (int(v) for v in rng.integers(-2, 3, 2))
        x = torch.roll(x_train[rows], shifts=(dy, dx), dims=(2, 3))
        loss = torch.nn.functional.cross_entropy(net(x), y_train[rows])
        opt.zero_grad()
        loss.backward()
        opt.step()
    net.eval()
    record: dict[str, Any] = {
        "file": REFERENCE_FILE, "architecture": ARCHITECTURE, "class_names": names, "input": "float32 NCHW in [0, 1]",
        "training": {"n_train": int(len(train_idx)), "steps": steps, "batch_size": batch_size, "lr": lr, "seed": seed,
                     "seconds": round(time.perf_counter() - started, 1)},
    }
    if len(hold_idx):
        predicted = predict_with(net, images[hold_idx], device)
        truth = labels[hold_idx]
        record["accuracy"] = round(float((predicted == truth).mean()), 4)
        record["per_class_accuracy"] = {names[k]: round(float((predicted[truth == k] == k).mean()), 4)
                                        for k in range(len(names)) if (truth == k).any()}
        record["n_images"] = int(len(hold_idx))
    return net, record


def predict_with(net, images: np.ndarray, device: str = "cpu", batch: int = 4096) -> np.ndarray:
    import torch

    out = []
    with torch.inference_mode():
        for start in range(0, len(images), batch):
            x = torch.from_numpy(np.ascontiguousarray(images[start : start + batch])).to(device)
            out.append(net(x).argmax(1).cpu().numpy())
    return np.concatenate(out) if out else np.zeros(0, dtype=np.int64)


def save_reference(bundle: Path, net, record: dict[str, Any]) -> None:
    """Write ``reference.npz`` and record it (and its checksum) in the bundle's manifest."""
    import json

    from .files import atomic_write, write_text
    from .generators import MANIFEST, read_manifest, sha256

    arrays = {k: v.detach().cpu().numpy() for k, v in net.state_dict().items()}
    atomic_write(bundle / REFERENCE_FILE, lambda fh: np.savez(fh, **arrays), binary=True)
    manifest = read_manifest(bundle)
    manifest["reference_classifier"] = record
    manifest["files"] = dict(manifest["files"], **{REFERENCE_FILE: sha256(bundle / REFERENCE_FILE)})
    write_text(bundle / MANIFEST, json.dumps(manifest, indent=2) + "\n")


@dataclass
class ReferenceClassifier:
    """R of a bundle: ``predict(images)`` gives labels for (N, C, H, W) float32 in [0, 1]."""

    net: Any
    class_names: list[str]
    record: dict[str, Any]
    device: str = "cpu"
    name: str = "reference"

    def predict(self, images: np.ndarray) -> np.ndarray:
        return predict_with(self.net, images, self.device)


class OnnxReference(ReferenceClassifier):
    """R brought as ONNX (``import-generator --reference``): scores (N, K) or labels (N,)."""

    def predict(self, images: np.ndarray) -> np.ndarray:
        name_in, name_out = self.net.get_inputs()[0].name, self.net.get_outputs()[0].name
        out = []
        for start in range(0, len(images), 4096):
            arr = np.asarray(self.net.run([name_out], {name_in: np.ascontiguousarray(images[start : start + 4096])})[0])
            out.append(arr.argmax(axis=1) if arr.ndim == 2 else arr.reshape(-1))
        return np.concatenate(out).astype(np.int64) if out else np.zeros(0, dtype=np.int64)


def load_reference(bundle: Path, manifest: dict[str, Any], device: str = "cpu") -> ReferenceClassifier | None:
    """The bundle's R, or None where it has none; a damaged or ill-fitting one is refused."""
    import torch

    from .generators import sha256

    record = manifest.get("reference_classifier")
    if record is None:
        return None
    path = bundle / str(record.get("file", REFERENCE_FILE))
    expected = manifest.get("files", {}).get(path.name)
    if record.get("architecture") == "onnx":
        if not path.is_file() or expected is None or sha256(path) != expected:
            raise GeneratorError(f"{path}: the reference classifier is missing or its checksum does not match the "
                                 "manifest; re-import the bundle")
        from .importing import _session

        return OnnxReference(_session(path, device), list(record.get("class_names") or []), record, device)
    if record.get("architecture") not in ARCHITECTURES:
        raise GeneratorError(f"{bundle}: reference classifier architecture {record.get('architecture')!r} is unknown; "
                             f"expected one of {', '.join(ARCHITECTURES)} (a newer auditor may read it)")
    if not path.is_file() or expected is None or sha256(path) != expected:
        raise GeneratorError(f"{path}: the reference classifier is missing or its checksum does not match the "
                             "manifest; re-create the bundle (or remove its reference_classifier entry)")
    names = list(record.get("class_names") or [])
    net = build_reference(tuple(int(v) for v in manifest["image_shape"]), len(names), record["architecture"])
    try:
        with np.load(path, allow_pickle=False) as npz:
            net.load_state_dict({k: torch.from_numpy(npz[k]) for k in npz.files})
    except (OSError, ValueError, RuntimeError, KeyError) as err:
        raise GeneratorError(f"{path}: the reference classifier does not fit the bundle's images "
                             f"{'x'.join(map(str, manifest['image_shape']))} and {len(names)} classes ({str(err)[:160]})") from err
    return ReferenceClassifier(net.to(device).eval(), names, record, device)


def mismatch(clf, reference: ReferenceClassifier, labels: np.ndarray) -> str | None:
    """Why R's figures do not apply to classifier ``clf`` (None: they apply).

    They apply when the model's classes are R's: as many scores as R has classes (where the
    model gives scores), the same class names (where it declares names that are not just
    0, 1, 2, ...), and no predicted label outside R's classes (``labels``: its labels of
    some images)."""
    if getattr(clf, "pairs", None) is False and getattr(reference, "pairs", False):
        return "it takes single sentences; the reference classifier judges premise-hypothesis pairs"
    k = len(reference.class_names)
    n_outputs = getattr(clf, "n_outputs", None)
    if n_outputs is not None and n_outputs != k:
        return f"it gives {n_outputs} class scores, the reference classifier knows {k} classes"
    names = getattr(clf, "class_names", None)
    if names and [str(v) for v in names] != [str(i) for i in range(len(names))]:
        if [str(v).lower() for v in names] != [v.lower() for v in reference.class_names[: len(names)]]:
            return f"its class names ({', '.join(map(str, names[:4]))}…) are not the reference's"
    if len(labels) and (labels.min() < 0 or labels.max() >= k):
        return f"it predicts label {int(labels.max())}, outside the reference's {k} classes"
    return None
