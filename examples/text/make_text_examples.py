"""Build examples/text: 40 held-out SNLI pairs and two small scikit-learn pair classifiers as
ONNX files with a (N, 2) string input. Run after ``python scripts/snli_splits.py``:

    python examples/text/make_text_examples.py

SNLI (Bowman et al. 2015) is CC BY-SA 4.0: these pairs and the models trained on SNLI pairs are
shared under the same licence.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
LABELS = ("entailment", "neutral", "contradiction")


def read(path: Path) -> tuple[np.ndarray, np.ndarray]:
    with path.open(newline="") as f:
        rows = [r for r in csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE) if r["label"] in LABELS]
    return np.array([[r["premise"], r["hypothesis"]] for r in rows], dtype=object), np.array([r["label"] for r in rows])


def model(family: str, n: int, x: np.ndarray, y: np.ndarray, seed: int):
    """A pipeline over [premise, hypothesis]: word counts of each, then a linear model or naive Bayes."""
    from sklearn.compose import ColumnTransformer
    from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.naive_bayes import MultinomialNB
    from sklearn.pipeline import make_pipeline

    words = dict(lowercase=False, token_pattern=r"\S+")  # the texts are lower-case already
    vec = TfidfVectorizer if family == "logreg" else CountVectorizer
    columns = ColumnTransformer([("premise", vec(**words), 0), ("hypothesis", vec(**words, ngram_range=(1, 2)), 1)])
    head = LogisticRegression(max_iter=1000, C=2.0) if family == "logreg" else MultinomialNB()
    idx = np.random.default_rng(seed).permutation(len(x))[:n]
    return make_pipeline(columns, head).fit(x[idx], y[idx])


def export(pipe, path: Path) -> None:
    from skl2onnx import to_onnx
    from skl2onnx.common.data_types import StringTensorType

    onx = to_onnx(pipe, initial_types=[("pair", StringTensorType([None, 2]))])
    path.write_bytes(onx.SerializeToString())


def main() -> None:
    x, y = read(ROOT / ".work" / "snli" / "train.tsv")
    hx, hy = read(ROOT / ".work" / "snli" / "holdout.tsv")
    (HERE / "models").mkdir(exist_ok=True)
    accuracy = {}
    for name, family, n in (("logreg", "logreg", 7000), ("nb500", "nb", 500)):
        pipe = model(family, n, x, y, seed=0)
        export(pipe, HERE / "models" / f"{name}.onnx")
        accuracy[name] = round(float((pipe.predict(hx) == hy).mean()), 4)
    (HERE / "models" / "accuracy.json").write_text(json.dumps(
        {"accuracy_on_holdout": accuracy, "n_holdout": int(len(hy))}, indent=2) + "\n")
    pick = np.random.default_rng(1).permutation(len(hx))[:40]  # held out from the bundle, R and the models
    lines = ["premise\thypothesis"] + [f"{hx[i, 0]}\t{hx[i, 1]}" for i in sorted(pick)]
    (HERE / "pairs.tsv").write_text("\n".join(lines) + "\n")
    print(accuracy)


if __name__ == "__main__":
    main()
