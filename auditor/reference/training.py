"""Training the reference classifier R on a bundle author's labelled images, and saving it
into the bundle (``reference.npz`` and its manifest entry, through the bundle module)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import GeneratorError
from .networks import ARCHITECTURE, REFERENCE_FILE, build_reference, predict_with


def train_reference(
    images: np.ndarray, labels: np.ndarray, train_idx: np.ndarray, hold_idx: np.ndarray,
    class_names: list[str] | None = None, steps: int = 5000, batch_size: int = 128,
    lr: float = 1e-3, seed: int = 0, device: str = "cpu",
) -> tuple[Any, dict[str, Any]]:
    """Train R on ``images[train_idx]`` (Adam, cross-entropy, random shifts of up to 2 pixels),
    measure it on ``images[hold_idx]``. Returns the network and its manifest record."""
    import torch

    labels = np.asarray(labels, dtype=np.int64)
    n_classes = int(labels.max()) + 1
    if class_names is not None and len(class_names) < n_classes:
        raise GeneratorError(f"{len(class_names)} class names for labels 0..{n_classes - 1}: "
                             "give one name per class")
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
        "file": REFERENCE_FILE, "architecture": ARCHITECTURE, "class_names": names,
        "input": "float32 NCHW in [0, 1]",
        "training": {"n_train": int(len(train_idx)), "steps": steps, "batch_size": batch_size,
                     "lr": lr, "seed": seed, "seconds": round(time.perf_counter() - started, 1)},
    }
    if len(hold_idx):
        predicted = predict_with(net, images[hold_idx], device)
        truth = labels[hold_idx]
        record["accuracy"] = round(float((predicted == truth).mean()), 4)
        record["per_class_accuracy"] = {
            names[k]: round(float((predicted[truth == k] == k).mean()), 4)
            for k in range(len(names)) if (truth == k).any()}
        record["n_images"] = int(len(hold_idx))
    return net, record


def save_reference(bundle: Path, net, record: dict[str, Any]) -> None:
    """Write ``reference.npz`` and record it (and its checksum) in the bundle's manifest."""
    from ..files import atomic_write
    from ..generators.bundle import record_file

    arrays = {k: v.detach().cpu().numpy() for k, v in net.state_dict().items()}
    atomic_write(bundle / REFERENCE_FILE, lambda fh: np.savez(fh, **arrays), binary=True)
    record_file(bundle, REFERENCE_FILE, "reference_classifier", record)
