"""Make the Fashion-MNIST examples: 60 held-out clothes images and three classifiers of three formats.

Trained on the 3,000-image train split of scripts/fashion_splits.py, evaluated on its 615 held-out
images (whose first 6 per class are the example images):

    models/cnn.onnx    a small CNN (2 conv + 2 dense), ONNX, input (N, 1, 28, 28), logits (N, 10)
    models/mlp.pt      one-hidden-layer MLP of 128, TorchScript, flattened input (N, 784)
    models/rf20.onnx   20-tree random forest via skl2onnx, input (N, 784)
    images/            60 held-out images as PNG, 6 per class, named CLASS_INDEX.png

Run from the repository root (needs the dev extra): python examples/fashion/make_fashion_examples.py
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(0, str(ROOT / "examples"))

from fashion_splits import CLASSES, fashion_splits  # noqa: E402
from make_examples import accuracy_torch, export_onnx, lenet, mlp, train_torch  # noqa: E402


def main() -> None:
    import torch
    from PIL import Image
    from skl2onnx import to_onnx
    from sklearn.ensemble import RandomForestClassifier

    torch.set_num_threads(1)
    x_train, y_train, x_hold, y_hold = fashion_splits()
    xtr, xho = (x_train / 255.0).astype(np.float32)[:, None], (x_hold / 255.0).astype(np.float32)[:, None]
    ytr, yho = y_train.astype(np.int64), y_hold.astype(np.int64)
    models = HERE / "models"
    models.mkdir(exist_ok=True)
    accuracy: dict[str, float] = {}
    net = train_torch(lenet(), xtr, ytr, epochs=10, shift=False)
    accuracy["cnn"] = accuracy_torch(net, xho, yho)
    export_onnx(net, models / "cnn.onnx")
    net = train_torch(mlp(128), xtr, ytr, epochs=15, shift=False)
    accuracy["mlp"] = accuracy_torch(net, xho, yho)
    torch.jit.script(net).save(str(models / "mlp.pt"))
    forest = RandomForestClassifier(n_estimators=20, max_depth=12, random_state=0).fit(xtr.reshape(len(xtr), -1), ytr)
    accuracy["rf20"] = float((forest.predict(xho.reshape(len(xho), -1)) == yho).mean())
    onx = to_onnx(forest, xtr[:1].reshape(1, -1), target_opset={"": 17, "ai.onnx.ml": 3}, options={"zipmap": False})
    (models / "rf20.onnx").write_bytes(onx.SerializeToString())
    images = HERE / "images"
    images.mkdir(exist_ok=True)
    for cls in range(10):
        for i, row in enumerate(np.flatnonzero(y_hold == cls)[:6]):
            Image.fromarray(x_hold[row]).save(images / f"{cls}_{i}.png")
    (models / "accuracy.json").write_text(json.dumps(accuracy, indent=2) + "\n")
    print("held-out accuracy:", json.dumps(accuracy), "; classes:", ", ".join(CLASSES))


if __name__ == "__main__":
    main()
