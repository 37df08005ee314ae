"""The gap to the best known adversary, per input, of several latent searches on one domain's zoo
(issue 40): which search should be the default.

Per model and search: queries per input (the anchors' share included), the **median over inputs of
dz / best known - 1** (the issue's figure), the mean-based gap (mean dz / mean best known - 1, as
issue 16's table), and the share of inputs the search censored where some run found an adversary.
*Best known* = per input the smallest dz any run of those inputs found (verified flips, so upper
bounds): the searches compared and the long reference runs (--reference). Every run is cached under
.work/gap/ keyed by the search code's hash and pooled into the best known.

    python bench/search_gap.py --domain mnist --images 5 --searches local,boundary,hybrid \\
        --reference local:64:400:0.001 --reference hybrid:1000:400:0.02

Domains: mnist (bench/search_zoo.py: 7 families, test-split digits, N per class), mnisttune
(the same models on the next N test-split digits of each class after mnist's 5: tuning digits),
fashion (the examples' cnn, mlp and rf20 plus a logistic regression, a tree and a 5-NN trained
here on the train split; held-out images of scripts/fashion_splits.py, N per class), cifar10
(the examples' resnet8, mlp64 and rf10, and the bundle's reference classifier (ResNet-9) as a
fourth model; the examples' 60 held-out photos, N per class), cifar10tune (the same four models
on other held-out photos of scripts/cifar10_splits.py, N per class, the next after the examples'
6 of each class: tuning photos, so that the examples' stay held out), snli (the examples' two text models on the
first 4 N of the examples' 40 pairs), example (the README's gate: lenet and rf5 on the first 30
example digits). A search spec is 'algorithm[:samples[:max_steps[:step]]]'; 'auto' is the scan's
default (margin, and the gradient search for models that give gradients). --labels-only NAMES
scans those models by their labels alone (as a model without scores), cached apart from their
scored runs and pooled with them into the best known (the same model's adversaries);
--sign-tests compares each pair of models' sign test with the best known's.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(0, str(ROOT / "bench"))

from auditor.generators import load_generator  # noqa: E402
from auditor.models import load_classifier  # noqa: E402
from auditor.search import SearchSettings, search  # noqa: E402

FASHION_ZOO = ROOT / ".work" / "zoo-fashion"


def _fashion_sklearn(gen) -> list:
    from fashion_splits import fashion_splits
    from skl2onnx import to_onnx
    from sklearn.linear_model import LogisticRegression
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.tree import DecisionTreeClassifier

    makers = {"linear": lambda: LogisticRegression(max_iter=300, C=0.1),
              "tree": lambda: DecisionTreeClassifier(random_state=0),
              "knn": lambda: KNeighborsClassifier(n_neighbors=5)}
    out = []
    for name, make in makers.items():
        path = FASHION_ZOO / f"{name}.onnx"
        if not path.exists():
            FASHION_ZOO.mkdir(parents=True, exist_ok=True)
            x, y, _, _ = fashion_splits()
            x = (x / 255.0).astype(np.float32).reshape(len(x), -1)
            rows = np.arange(1000) if name == "knn" else np.arange(len(x))
            est = make().fit(x[rows], y[rows].astype(np.int64))
            options = {id(est): {"zipmap": False, **({"optim": "cdist"} if name == "knn" else {})}}
            onx = to_onnx(est, x[:1], target_opset={"": 17, "ai.onnx.ml": 3}, options=options)
            path.write_bytes(onx.SerializeToString())
        out.append(load_classifier(path, name, gen.image_shape))
    return out


class _Labels:
    """A model scanned by its labels alone (--labels-only)."""

    has_scores = False

    def __init__(self, model) -> None:
        self.model, self.name = model, model.name

    def predict(self, x: np.ndarray) -> np.ndarray:
        return self.model.predict(x)


class _Named:
    """The bundle's reference classifier scanned as a model."""

    def __init__(self, name: str, model) -> None:
        self.name, self.model = name, model

    has_scores = True  # the bundle's R gives scores (a pretrained ResNet, as the hidden ones)

    def predict(self, x: np.ndarray) -> np.ndarray:
        return self.model.predict(x)

    def predict_scores(self, x: np.ndarray):
        return self.model.predict_scores(x)


def domain(name: str, per_class: int):
    """(generator, classifiers, inputs (N, C, H, W))."""
    if name == "snli":
        from auditor.text.scan import load

        models = {m: ROOT / "examples/text/models" / f"{m}.onnx" for m in ("logreg", "nb500")}
        gen, _, texts, _, _, classifiers = load(ROOT / "examples/text/pairs.tsv", "snli", None,
                                                models, None)
        return gen, classifiers, texts.items[:4 * per_class]
    if name == "cifar10tune":
        return _cifar10_tune(per_class)
    gen = load_generator("mnist" if name in ("example", "mnisttune") else name, device="cpu")
    if name == "example":  # the README's gate: lenet vs rf5 on the first 30 example digits
        from auditor.data import load_images

        models = [load_classifier(ROOT / "examples/models" / f, Path(f).stem, gen.image_shape)
                  for f in ("lenet.onnx", "rf5.onnx")]
        return gen, models, load_images(ROOT / "examples/digits", gen.image_shape).images[:30]
    if name in ("mnist", "mnisttune"):
        import search_zoo
        from mnist_splits import balanced_test

        if name == "mnist":
            return gen, search_zoo.load(gen), balanced_test(per_class)[0]
        # tuning digits: the next per_class test-split digits of each class after mnist's 5
        x = balanced_test(5 + per_class)[0].reshape(10, 5 + per_class, 1, 28, 28)
        return gen, search_zoo.load(gen), x[:, 5:].reshape(-1, 1, 28, 28)
    from auditor.data import load_images

    folder = {"fashion": "examples/fashion", "cifar10": "examples/cifar10"}[name]
    files = {"fashion": ["cnn.onnx", "mlp.pt", "rf20.onnx"],
             "cifar10": ["resnet8.onnx", "mlp64.pt", "rf10.onnx"]}[name]
    models = [load_classifier(ROOT / folder / "models" / f, Path(f).stem, gen.image_shape)
              for f in files]
    if name == "fashion":
        models += _fashion_sklearn(gen)
    else:
        models.append(_Named("resnet9", gen.reference))
    images = load_images(ROOT / folder / ("images" if name == "fashion" else "photos"),
                         gen.image_shape)
    keep = [i for i, p in enumerate(images.names) if int(Path(p).stem.split("_")[1]) < per_class]
    return gen, models, images.images[keep]


def _cifar10_tune(per_class: int):
    """The cifar10 domain's models on held-out photos that are not the examples' (those are the
    first 6 per class of holdout.npz, examples/cifar10/make_cifar10_examples.py): the next
    ``per_class`` of each class."""
    path = ROOT / ".work" / "cifar10" / "holdout.npz"
    if not path.exists():
        raise SystemExit(f"{path} is missing: run scripts/cifar10_splits.py first")
    gen, models, _ = domain("cifar10", 0)
    with np.load(path) as npz:
        labels, photos = npz["labels"], npz["images"]
    rows = [i for k in range(10) for i in np.flatnonzero(labels == k)[6:6 + per_class]]
    return gen, models, (photos[rows].transpose(0, 3, 1, 2) / 255.0).astype(np.float32)


def parse(spec: str, seed: int) -> SearchSettings:
    parts = spec.split(":") + [""] * 3
    algorithm, samples, steps, step = parts[:4]
    return SearchSettings(algorithm=algorithm, samples=int(samples) if samples else None,
                          max_steps=int(steps) if steps else None,
                          step=float(step) if step else None, seed=seed)


def measure(gen, classifiers, images, spec: str, tag: str, code: str, seed: int) -> dict:
    folder = ROOT / ".work" / "gap"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{tag}-{spec.replace(':', '_')}-{code}.npz"
    if path.exists():
        data = np.load(path)
        if all(c.name in data.files for c in classifiers):
            return {k: data[k] for k in data.files}
    started = time.perf_counter()
    out = search(gen, classifiers, images, parse(spec, seed))
    wall = time.perf_counter() - started
    data = {c.name: out.results[c.name].delta_z for c in classifiers}
    data.update({f"{c.name}/queries": out.results[c.name].queries.astype(float)
                 for c in classifiers})
    data["wall"] = np.array(wall)
    np.savez(path, **data)
    print(f"  {spec}: {wall:.1f} s", file=sys.stderr, flush=True)
    return data


MODULES = {"local": ["local", "surrogate", "subspace"],
           "boundary": ["boundary", "local", "surrogate", "subspace"],
           "margin": ["margin", "boundary", "local", "surrogate", "driver", "step", "subspace"],
           "hybrid": ["hybrid", "shell"], "iterative": ["iterative", "shell"],
           "auto": ["margin", "boundary", "local", "surrogate", "driver", "step", "gradient",
                    "registry", "smoothness", "subspace", "trees"]}


def code(spec: str) -> str:
    """A hash of the algorithm's own modules (the driver is shared; a change to it that changes
    results must clear .work/gap/ by hand)."""
    names = MODULES[spec.split(":")[0]]
    return hashlib.sha1(b"".join((ROOT / "auditor/search" / f"{n}.py").read_bytes()
                                 for n in names)).hexdigest()[:10]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--domain", default="mnist",
                    choices=["mnist", "mnisttune", "fashion", "cifar10", "cifar10tune", "snli",
                             "example"])
    ap.add_argument("--images", type=int, default=5, help="inputs per class")
    ap.add_argument("--searches", default="local,boundary,hybrid")
    ap.add_argument("--reference", action="append", default=[],
                    help="a long run pooled into the best known (a search spec)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--models", default="",
                    help="comma-separated: search only these of the domain's models")
    ap.add_argument("--labels-only", default="",
                    help="comma-separated: scan these models by their labels alone")
    ap.add_argument("--sign-tests", action="store_true",
                    help="per pair of models: the sign test's verdict against the best known's")
    args = ap.parse_args()
    gen, classifiers, images = domain(args.domain, args.images)
    if args.models:
        classifiers = [c for c in classifiers if c.name in args.models.split(",")]
    labels = [n for n in args.labels_only.split(",") if n]
    classifiers = [_Labels(c) if c.name in labels else c for c in classifiers]
    searches = args.searches.split(",")
    tag = f"{args.domain}{len(images)}-seed{args.seed}"
    runs_tag = tag + (f"-labels_{'_'.join(sorted(labels))}" if labels else "")
    runs = {s: measure(gen, classifiers, images, s, runs_tag, code(s), args.seed)
            for s in searches}
    for spec in args.reference:
        measure(gen, classifiers, images, spec, runs_tag, "ref", args.seed)  # long runs: any code
    pooled = {c.name: [] for c in classifiers}
    for path in sorted((ROOT / ".work" / "gap").glob(f"{tag}-*.npz")):
        data = np.load(path)
        for c in classifiers:
            if c.name in data.files:
                pooled[c.name].append(data[c.name])
    print(f"{args.domain}: {len(images)} inputs, seed {args.seed}, {os.cpu_count()} cores, "
          f"boundary code {code('boundary')}; best known pooled over "
          f"{min(map(len, pooled.values()))}+ runs\n")
    print("| model | search | queries / input | median gap per input | gap of means "
          "| censored, best known not |")
    print("|---|---|---:|---:|---:|---:|")
    summary = {s: [] for s in searches}
    bests = {}
    for c in classifiers:
        stack = np.stack(pooled[c.name])
        some = ~np.isnan(stack).all(0)
        best = bests[c.name] = np.full(stack.shape[1], np.nan)
        best[some] = np.nanmin(stack[:, some], axis=0)
        for s in searches:
            dz, q = runs[s][c.name], runs[s][f"{c.name}/queries"]
            both = np.isfinite(dz) & np.isfinite(best) & (best > 0)
            per = dz[both] / best[both] - 1
            lost = int((np.isnan(dz) & np.isfinite(best)).sum())
            summary[s].append(np.median(per))
            print(f"| {c.name} | {s} | {q.mean():,.0f} | {100 * np.median(per):+.1f}% | "
                  f"{100 * (dz[both].mean() / best[both].mean() - 1):+.1f}% | "
                  f"{lost} of {int(np.isfinite(best).sum())} |")
    print()
    for s in searches:
        print(f"{s}: median over models of the median gap {100 * np.median(summary[s]):+.1f}%, "
              f"worst {100 * max(summary[s]):+.1f}%; wall {float(runs[s]['wall']):.1f} s")
    if args.sign_tests:
        sign_tests([c.name for c in classifiers], runs, bests)


def _verdict(a: np.ndarray, b: np.ndarray) -> tuple[int, str]:
    """The sign test of a's Δz against b's: +1 (a smaller, p < 0.05), -1, or 0; and its counts."""
    from scipy.stats import binomtest

    ok = np.isfinite(a) & np.isfinite(b)
    less, more = int((a[ok] < b[ok]).sum()), int((a[ok] > b[ok]).sum())
    p = binomtest(less, less + more).pvalue if less + more else 1.0
    return (0 if p >= 0.05 else 1 if less > more else -1), f"{less}-{more} (p {p:.2g})"


def sign_tests(names: list, runs: dict, bests: dict) -> None:
    """Per search: on how many pairs of models its sign test reaches the best known's verdict."""
    pairs = [(a, b) for i, a in enumerate(names) for b in names[i + 1:]]
    truth = {pair: _verdict(bests[pair[0]], bests[pair[1]]) for pair in pairs}
    print("\nbest known: " + "; ".join(f"{a}<{b} {truth[(a, b)][1]}" for a, b in pairs))
    for s, run in runs.items():
        found = {pair: _verdict(run[pair[0]], run[pair[1]]) for pair in pairs}
        same = sum(found[pair][0] == truth[pair][0] for pair in pairs)
        print(f"{s}: the best known's verdict on {same} of {len(pairs)} pairs; "
              + "; ".join(f"{a}<{b} {found[(a, b)][1]}" for a, b in pairs))


if __name__ == "__main__":

    main()
