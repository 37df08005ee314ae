"""Make the CIFAR-10 examples: 60 held-out photos and three small classifiers of three formats.

The photos are the original JPEG files (quality 75) of 60 held-out photos of
``scripts/cifar10_splits.py`` (6 per class, named ``CLASS_INDEX.jpg``), copied byte for byte from
``../shared/data/cifar10-train.tar``; never seen by the generator, R or these models. The models
are three of the validation zoo's (``bench/cifar10_zoo.py``, trained on the train split):

    models/resnet8.onnx   ResNet-8, exported to ONNX, input (N, 3, 32, 32), probabilities (N, 10)
    models/mlp64.pt       MLP of 64 units, TorchScript, input (N, 3, 32, 32), probabilities (N, 10)
    models/rf10.onnx      10-tree random forest via skl2onnx, flattened input (N, 3072)

Run from the repository root after the splits and the zoo:

    python scripts/cifar10_splits.py && python bench/cifar10_zoo.py
    python examples/cifar10/make_cifar10_examples.py
"""

from __future__ import annotations

import json
import shutil
import sys
import tarfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

from cifar10_splits import CLASSES, DEFAULT  # noqa: E402

PER_CLASS = 6


def export_onnx(script_path: Path, out: Path) -> None:
    import torch

    module = torch.jit.load(str(script_path)).eval()
    torch.onnx.export(module, torch.zeros(1, 3, 32, 32), str(out), dynamo=False, input_names=["x"],
                      output_names=["probabilities"], dynamic_axes={"x": {0: "N"}, "probabilities": {0: "N"}})


def main() -> None:
    work = ROOT / ".work" / "cifar10"
    photos, models = HERE / "photos", HERE / "models"
    photos.mkdir(exist_ok=True)
    models.mkdir(exist_ok=True)
    with np.load(work / "holdout.npz") as npz:
        labels, names = npz["labels"], [str(v) for v in npz["names"]]
    chosen = [i for k in range(len(CLASSES)) for i in np.flatnonzero(labels == k)[:PER_CLASS]]
    with tarfile.open(DEFAULT) as tar:
        for i in chosen:
            k = int(labels[i])
            data = tar.extractfile(names[i]).read()  # type: ignore[union-attr]
            (photos / f"{k}_{len(list(photos.glob(f'{k}_*.jpg')))}.jpg").write_bytes(data)
    zoo = work / "zoo"
    export_onnx(zoo / "resnet8.pt", models / "resnet8.onnx")
    shutil.copyfile(zoo / "mlp64.pt", models / "mlp64.pt")
    shutil.copyfile(zoo / "rf10.onnx", models / "rf10.onnx")
    accuracy = held_out_accuracy(models, work)
    (models / "accuracy.json").write_text(json.dumps(accuracy, indent=2) + "\n")
    print(f"{len(chosen)} photos in {photos}; models in {models}: {accuracy}")


def held_out_accuracy(models: Path, work: Path) -> dict[str, float]:
    from auditor.models import ModelOptions, load_classifier

    with np.load(work / "holdout.npz") as npz:
        x = (npz["images"].transpose(0, 3, 1, 2) / 255.0).astype(np.float32)
        y = npz["labels"].astype(np.int64)
    out = {}
    for path in sorted(models.iterdir()):
        if path.suffix in (".onnx", ".pt"):
            clf = load_classifier(path, path.stem, (3, 32, 32), ModelOptions(device="cpu"))
            out[path.name] = round(float((clf.predict(x) == y).mean()), 4)
    return out


if __name__ == "__main__":
    main()
