"""Split the shared Fashion-MNIST images (3,615, with labels) into the project's splits.

A seeded permutation (seed 0): 3,000 train (generator, reference classifier, example and zoo
models), 615 held out (evaluation only; never tuned on). The held-out part is further split for
issue #19's choice of figure: its first 300 rows "validation", the other 315 "test".

    python scripts/fashion_splits.py [SHARED_NPZ] [OUT_DIR]     # default ../shared/data/..., .work/fashion
"""

import sys
from pathlib import Path

import numpy as np

CLASSES = ["T-shirt/top", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "ankle boot"]
ROOT = Path(__file__).resolve().parents[1]
DEFAULT = ROOT.parent / "shared" / "data" / "fashion-mnist-train.npz"


def fashion_splits(path: Path = DEFAULT) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(x_train, y_train, x_holdout, y_holdout); x as (N, 28, 28) uint8."""
    with np.load(path, allow_pickle=False) as npz:
        x, y = npz["images"], npz["labels"]
    order = np.random.default_rng(0).permutation(len(x))
    train, hold = order[:3000], order[3000:]
    return x[train], y[train], x[hold], y[hold]


if __name__ == "__main__":
    src = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT
    out = Path(sys.argv[2] if len(sys.argv) > 2 else ROOT / ".work" / "fashion")
    out.mkdir(parents=True, exist_ok=True)
    x_train, y_train, x_hold, y_hold = fashion_splits(src)
    np.savez_compressed(out / "train.npz", images=x_train, labels=y_train)
    np.savez_compressed(out / "holdout.npz", images=x_hold, labels=y_hold)
    print(f"wrote {len(x_train)} train and {len(x_hold)} held-out images to {out}")
