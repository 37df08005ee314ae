"""A zoo of scikit-learn SNLI pair classifiers for the snli validation (issue 29 item 6).
Run after ``python scripts/snli_splits.py``; takes a few minutes on one core:

    OMP_NUM_THREADS=1 python bench/snli_zoo.py [--zoo zoo-spread]   # .work/snli/ZOO/NAME.onnx and zoo.json

Every model is a pipeline over [premise, hypothesis] strings trained on .work/snli/train.tsv only
(never the holdout): word counts / tf-idf of each side (``lowercase=False, token_pattern=r"\\S+"``:
the texts are lower-case and tokenised already, and lower-casing in ONNX needs a locale), then a
logistic regression (several training sizes and C values), multinomial or Bernoulli naive Bayes,
extra-trees, a small MLP, a log-loss SGD linear model, or hypothesis-only variants. Each is
exported with skl2onnx (a (N, 2) string input) and its ONNX labels are checked against
scikit-learn's on 200 holdout pairs. zoo.json records family, training size and holdout accuracy.
"""

from __future__ import annotations

import csv
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
FOLDER = ROOT / ".work" / "snli"
LABELS = ("entailment", "neutral", "contradiction")


def read(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """[premise, hypothesis] pairs, normalised as a scan normalises them, and their label names."""
    from auditor.text.tokens import normalise

    with path.open(newline="") as f:
        rows = [r for r in csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE) if r["label"] in LABELS]
    x = np.array([[normalise(r["premise"]), normalise(r["hypothesis"])] for r in rows], dtype=object)
    return x, np.array([r["label"] for r in rows], dtype=object)


def pipeline(head, vec: str = "tfidf", hyp_only: bool = False, bigrams: bool = True, binary: bool = False):
    from sklearn.compose import ColumnTransformer
    from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer
    from sklearn.pipeline import make_pipeline

    words = dict(lowercase=False, token_pattern=r"\S+")
    make = TfidfVectorizer if vec == "tfidf" else CountVectorizer
    extra = {"binary": True} if binary else {}
    cols = [("hypothesis", make(**words, **extra, ngram_range=(1, 2) if bigrams else (1, 1)), 1)]
    if not hyp_only:
        cols.insert(0, ("premise", make(**words, **extra), 0))
    return make_pipeline(ColumnTransformer(cols), head)


def zoo_specs():
    """(name, family, n_train, pipeline factory)."""
    from sklearn.ensemble import ExtraTreesClassifier
    from sklearn.linear_model import LogisticRegression, SGDClassifier
    from sklearn.naive_bayes import BernoulliNB, MultinomialNB
    from sklearn.neural_network import MLPClassifier

    lr = lambda c: LogisticRegression(max_iter=1000, C=c)  # noqa: E731
    specs = []
    for n in (100, 300, 1000, 3000, None):
        specs.append((f"lr-tfidf-n{n or 'all'}", "tf-idf logistic regression (training size)", n,
                      lambda: pipeline(lr(2.0))))
    for c in (0.05, 30.0):
        specs.append((f"lr-tfidf-C{c:g}", "tf-idf logistic regression (C)", None, lambda c=c: pipeline(lr(c))))
    specs += [
        ("lr-bow-uni-n1000", "bag-of-words logistic regression", 1000,
         lambda: pipeline(lr(1.0), vec="count", bigrams=False)),
        ("mnb-all", "multinomial naive Bayes", None, lambda: pipeline(MultinomialNB(), vec="count")),
        ("mnb-n300", "multinomial naive Bayes", 300, lambda: pipeline(MultinomialNB(), vec="count")),
        ("bnb-all", "Bernoulli naive Bayes", None, lambda: pipeline(BernoulliNB(), vec="count", binary=True)),
        ("extratrees-100", "extra-trees", None,
         lambda: pipeline(ExtraTreesClassifier(100, min_samples_leaf=2, random_state=0, n_jobs=1), vec="count",
                          bigrams=False)),
        ("mlp-32", "MLP", None,
         lambda: pipeline(MLPClassifier((32,), max_iter=30, early_stopping=True, random_state=0), bigrams=False)),
        ("sgd-log", "linear SGD (log loss)", None,
         lambda: pipeline(SGDClassifier(loss="log_loss", alpha=1e-4, max_iter=50, random_state=0))),
        ("hyp-lr-all", "hypothesis-only logistic regression", None, lambda: pipeline(lr(2.0), hyp_only=True)),
        ("hyp-mnb-n1000", "hypothesis-only naive Bayes", 1000,
         lambda: pipeline(MultinomialNB(), vec="count", hyp_only=True)),
    ]
    return specs


def wide_specs(sizes=(60, 250, 1000, 4000, None)):
    """A second, wider zoo for bench/snli_figures.py (label-only figures, scikit-learn predictions):
    eleven families, each at five training sizes, on tf-idf, counts or binary counts, unigrams or
    with hypothesis bigrams. (``export`` cannot write its LinearSVC: skl2onnx refuses the zipmap
    option for it; the others export and load as scans load them.)"""
    from sklearn.ensemble import ExtraTreesClassifier, RandomForestClassifier
    from sklearn.linear_model import LogisticRegression, RidgeClassifier, SGDClassifier
    from sklearn.naive_bayes import BernoulliNB, ComplementNB, MultinomialNB
    from sklearn.neural_network import MLPClassifier
    from sklearn.svm import LinearSVC
    from sklearn.tree import DecisionTreeClassifier

    families = {
        "lr": ("tf-idf logistic regression", lambda: pipeline(LogisticRegression(max_iter=1000, C=1.0))),
        "mnb": ("multinomial naive Bayes", lambda: pipeline(MultinomialNB(alpha=0.5), vec="count")),
        "cnb": ("complement naive Bayes", lambda: pipeline(ComplementNB(), vec="count", bigrams=False)),
        "bnb": ("Bernoulli naive Bayes", lambda: pipeline(BernoulliNB(), vec="count", binary=True, bigrams=False)),
        "rf": ("random forest", lambda: pipeline(RandomForestClassifier(60, min_samples_leaf=1, random_state=1,
                                                                        n_jobs=1), vec="count", bigrams=False)),
        "tree": ("decision tree", lambda: pipeline(DecisionTreeClassifier(max_depth=30, random_state=0),
                                                   vec="count", bigrams=False)),
        "mlp": ("MLP", lambda: pipeline(MLPClassifier((64,), max_iter=40, early_stopping=True, random_state=1),
                                        vec="count", binary=True, bigrams=False)),
        "svm": ("linear SVM", lambda: pipeline(LinearSVC(C=0.3))),
        "ridge": ("ridge classifier", lambda: pipeline(RidgeClassifier(alpha=3.0), bigrams=False)),
        "sgd-hinge": ("linear SGD (hinge)", lambda: pipeline(SGDClassifier(alpha=3e-4, max_iter=30, random_state=2))),
        "et": ("extra-trees", lambda: pipeline(ExtraTreesClassifier(60, random_state=2, n_jobs=1), bigrams=False)),
    }
    return [(f"{key}-n{n or 'all'}", family, n, make) for key, (family, make) in families.items() for n in sizes]


def spread_specs():
    """The zoo of the snli validation: eight of ``wide_specs``' families, each at a small and a
    large training size, staggered so that accuracies spread from chance to the best, as issue 29
    describes the zoos auditor is judged on ("several families and training sizes, accuracies
    roughly 0.33-0.60")."""
    small, large = (60, 250, 1000), (4000, None)
    families = ("lr", "mnb", "cnb", "bnb", "rf", "mlp", "ridge", "et")
    wanted = {f"{key}-n{n or 'all'}" for i, key in enumerate(families) for n in (small[i % 3], large[i % 2])}
    return [spec for spec in wide_specs() if spec[0] in wanted]


ZOOS = {"zoo": zoo_specs, "zoo-spread": spread_specs}


def export(pipe, path: Path) -> None:
    from skl2onnx import to_onnx
    from skl2onnx.common.data_types import StringTensorType

    onx = to_onnx(pipe, initial_types=[("pair", StringTensorType([None, 2]))], target_opset={"": 17, "ai.onnx.ml": 3})
    path.write_bytes(onx.SerializeToString())


def main() -> None:
    import argparse

    import onnxruntime as ort

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--zoo", choices=tuple(ZOOS), default="zoo",
                    help="zoo: the first 16 models; zoo-spread: the validation's (spread_specs)")
    a = ap.parse_args()
    x, y = read(FOLDER / "train.tsv")
    hx, hy = read(FOLDER / "holdout.tsv")
    out = FOLDER / a.zoo
    out.mkdir(parents=True, exist_ok=True)
    record = {}
    for name, family, n, make in ZOOS[a.zoo]():
        t = time.perf_counter()
        idx = np.random.default_rng(0).permutation(len(x))[: n or len(x)]
        pipe = make().fit(x[idx], y[idx])
        acc = float((pipe.predict(hx) == hy).mean())
        path = out / f"{name}.onnx"
        export(pipe, path)
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = opts.inter_op_num_threads = 1
        sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        onnx_labels = np.asarray(sess.run([sess.get_outputs()[0].name], {sess.get_inputs()[0].name: hx[:200]})[0])
        agree = float((onnx_labels.astype(str) == pipe.predict(hx[:200]).astype(str)).mean())
        if agree < 1.0:
            raise SystemExit(f"{name}: ONNX labels agree with scikit-learn's on only {agree:.3f} of 200 holdout pairs")
        record[name] = {"name": name, "family": family, "n_train": int(len(idx)), "holdout_accuracy": round(acc, 4),
                        "n_holdout": int(len(hy)), "onnx_agreement_200": agree}
        print(f"{name:22s} {family:45s} n={len(idx):5d} acc={acc:.3f} ({time.perf_counter() - t:.1f}s)", flush=True)
    (out / "zoo.json").write_text(json.dumps(record, indent=2) + "\n")


if __name__ == "__main__":
    main()
