"""The model zoo of the search gap benchmark (issue 16): one model per family, trained on the
train split (DESIGN.md §3) and cached under .work/zoo/ (git-ignored), loaded through
``auditor.models.load_classifier`` as users' models are.

    cnn     examples/models/lenet.onnx (LeNet-style CNN, ONNX)
    mlp     examples/models/mlp.pt (one hidden layer, TorchScript)
    linear  logistic regression, skl2onnx
    forest  50-tree random forest, skl2onnx (examples/models/rf5.onnx is the 5-tree one)
    tree    one decision tree, skl2onnx
    knn     5-nearest-neighbour classifier on 1,000 train digits, skl2onnx

    python bench/search_zoo.py      # trains what is missing, prints test-split accuracies
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

from mnist_splits import mnist_splits  # noqa: E402

ZOO = ROOT / ".work" / "zoo"
FAMILIES = {
    "cnn": ROOT / "examples/models/lenet.onnx",
    "mlp": ROOT / "examples/models/mlp.pt",
    "linear": ZOO / "logreg.onnx",
    "forest": ZOO / "rf50.onnx",
    "forest5": ROOT / "examples/models/rf5.onnx",
    "tree": ZOO / "tree.onnx",
    "knn": ZOO / "knn.onnx",
}


def _estimator(family: str):
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.tree import DecisionTreeClassifier

    return {
        "linear": lambda: LogisticRegression(max_iter=300, C=0.1),
        "forest": lambda: RandomForestClassifier(n_estimators=50, random_state=0),
        "tree": lambda: DecisionTreeClassifier(random_state=0),
        "knn": lambda: KNeighborsClassifier(n_neighbors=5),
    }[family]()


def build(verbose: bool = True) -> dict[str, Path]:
    """Train the zoo's missing sklearn models; {family: model path}."""
    from skl2onnx import to_onnx

    missing = [f for f, p in FAMILIES.items() if not p.exists()]
    if missing:
        ZOO.mkdir(parents=True, exist_ok=True)
        x_train, y_train, x_test, y_test = mnist_splits()
        xtr = (x_train / 255.0).astype(np.float32).reshape(len(x_train), -1)
        xte = (x_test / 255.0).astype(np.float32).reshape(len(x_test), -1)
        for family in missing:
            est = _estimator(family)
            # kNN: 1,000 train digits (100 per class) keep its ONNX graph fast
            rows = (np.concatenate([np.flatnonzero(y_train == c)[:100] for c in range(10)])
                    if family == "knn" else np.arange(len(xtr)))
            est.fit(xtr[rows], y_train[rows].astype(np.int64))
            acc = float((est.predict(xte) == y_test).mean())
            options = {id(est): {"zipmap": False, **({"optim": "cdist"} if family == "knn" else {})}}
            onx = to_onnx(est, xtr[:1], target_opset={"": 17, "ai.onnx.ml": 3}, options=options)
            FAMILIES[family].write_bytes(onx.SerializeToString())
            if verbose:
                print(f"{family}: test-split accuracy {acc:.3f} -> {FAMILIES[family].relative_to(ROOT)}")
    return dict(FAMILIES)


def load(gen, families=None):
    """The zoo's classifiers, named by family."""
    from auditor.models import load_classifier

    paths = build(verbose=False)
    return [load_classifier(paths[f], f, gen.image_shape) for f in (families or paths)]


if __name__ == "__main__":
    build()
