"""Split the shared CIFAR-10 training photos (50,000 JPEGs, quality 75) into the project's splits.

Read straight from ``../shared/data/cifar10-train.tar`` (``train/<class>/NNNN.jpg``) without
unpacking. A seeded permutation per class (seed 0): 4,500 photos per class train (45,000: the
generator, the reference classifier, example and zoo models), 500 per class held out (5,000:
evaluation only; never tuned on). The held-out part is further split for the choice of figure:
its rows with even index "validation" (2,500), the odd ones "test" (2,500).

    python scripts/cifar10_splits.py [SHARED_TAR] [OUT_DIR]     # default ../shared/data/..., .work/cifar10

Writes ``train.npz`` and ``holdout.npz``: ``images`` uint8 (N, 32, 32, 3) as decoded by Pillow,
``labels`` uint8, ``class_names``.
"""

import io
import sys
import tarfile
from pathlib import Path

import numpy as np
from PIL import Image

CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
PER_CLASS_HOLDOUT = 500
ROOT = Path(__file__).resolve().parents[1]
DEFAULT = ROOT.parent / "shared" / "data" / "cifar10-train.tar"


def read_tar(path: Path = DEFAULT) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """All photos sorted by (class, file name): (images uint8 (N, 32, 32, 3), labels, member names)."""
    images, labels, names = [], [], []
    with tarfile.open(path) as tar:
        members = sorted((m for m in tar.getmembers() if m.isfile() and m.name.endswith(".jpg")),
                         key=lambda m: m.name)
        for m in members:
            cls = m.name.split("/")[-2]
            data = tar.extractfile(m).read()  # type: ignore[union-attr]
            images.append(np.asarray(Image.open(io.BytesIO(data)).convert("RGB"), dtype=np.uint8))
            labels.append(CLASSES.index(cls))
            names.append(m.name)
    return np.stack(images), np.asarray(labels, dtype=np.uint8), names


def cifar10_splits(path: Path = DEFAULT):
    """(x_train, y_train, x_holdout, y_holdout, names_holdout)."""
    x, y, names = read_tar(path)
    rng = np.random.default_rng(0)
    train, hold = [], []
    for k in range(len(CLASSES)):
        rows = rng.permutation(np.flatnonzero(y == k))
        hold.append(rows[:PER_CLASS_HOLDOUT])
        train.append(rows[PER_CLASS_HOLDOUT:])
    train_idx = rng.permutation(np.concatenate(train))
    hold_idx = rng.permutation(np.concatenate(hold))
    return x[train_idx], y[train_idx], x[hold_idx], y[hold_idx], [names[i] for i in hold_idx]


if __name__ == "__main__":
    src = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT
    out = Path(sys.argv[2] if len(sys.argv) > 2 else ROOT / ".work" / "cifar10")
    out.mkdir(parents=True, exist_ok=True)
    x_train, y_train, x_hold, y_hold, names = cifar10_splits(src)
    np.savez_compressed(out / "train.npz", images=x_train, labels=y_train, class_names=np.array(CLASSES))
    np.savez_compressed(out / "holdout.npz", images=x_hold, labels=y_hold, class_names=np.array(CLASSES),
                        names=np.array(names))
    print(f"wrote {len(x_train)} train and {len(x_hold)} held-out photos to {out}")
