"""Which label-free figure ranks models by accuracy, per domain and generator (issues #13, #19).
Run by hand; writes docs/validation-DOMAIN.md and, with --write-manifest, the bundle's record:

    python scripts/fashion_splits.py                         # .work/fashion/{train,holdout}.npz
    python bench/validate_zoo.py --domain fashion [--write-manifest]   # 18 models, 615 held-out images
    python bench/validate_zoo.py --domain mnist [--write-manifest]     # 24 models, 600 test digits
    python bench/snli_zoo.py --zoo zoo-spread                 # .work/snli/zoo-spread/*.onnx (needs scripts/snli_splits.py)
    python bench/validate_zoo.py --domain snli --limit 960 [--write-manifest]  # 16 text models, 960 held-out pairs

Fashion-MNIST: 18 classifiers trained on the 3,000-image train split: one CNN saved after 1, 2, 4
and 8 epochs (successive checkpoints: "is v2 better than v1"), CNNs on 10% / 30% of the data, MLPs
of 2 ... 1,024 units, an MLP with 80% dropout, one trained one epoch at a low learning rate, one on
30% noisy labels, a logistic regression, 5- and 50-tree forests and a depth-6 tree; scanned on the
615 held-out images. MNIST: bench/reproduce_paper.py's 24-model zoo (train split), scanned on 600
test-split digits (a seeded sample). SNLI (text): bench/snli_zoo.py's 16 scikit-learn pair classifiers
of zoo-spread (eight families at two training sizes; ONNX files, train split; --snli-zoo zoo for the first
zoo), scanned on the first --limit pairs of .work/snli/holdout.tsv; "images" below
are then [premise, hypothesis] pairs. Every scan: auditor's default search with the generator's
reference classifier R (error distances on). Labels of the scanned images only judge the figures.

The scanned images are split in two: on the first half ("validation") the product's figure that
tracks accuracy best is *chosen*; on the other half ("test") every figure's Spearman ρ is
*reported*, so the reported ρ of the chosen figure was not used to choose it. Peers (label-free,
same images): mean max-softmax confidence, agreement with the zoo's majority vote, and the
normalised nuclear norm of the softmax matrix (Deng et al., ICML 2023).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(0, str(ROOT / "bench"))

from fashion_splits import fashion_splits  # noqa: E402

from auditor.generators import load_generator, resolve  # noqa: E402
from auditor.accuracy_figures import TIE, figures_table, model_figures, validate  # noqa: E402
from auditor.search import SearchSettings, search  # noqa: E402



class Member:
    """A zoo classifier: probabilities for the peers, labels for the search."""

    def __init__(self, name: str, family: str, proba):
        self.name, self.family, self._proba = name, family, proba

    def proba(self, x: np.ndarray) -> np.ndarray:
        return self._proba(x)

    def predict(self, x: np.ndarray) -> np.ndarray:
        return self.proba(x).argmax(axis=1).astype(np.int64)


def cnn():
    from torch import nn

    return nn.Sequential(nn.Conv2d(1, 16, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(16, 32, 5), nn.ReLU(),
                         nn.MaxPool2d(2), nn.Flatten(), nn.Linear(800, 128), nn.ReLU(), nn.Linear(128, 10))


def mlp(width: int, dropout: float = 0.0):
    from torch import nn

    return nn.Sequential(nn.Flatten(), nn.Linear(784, width), nn.ReLU(), nn.Dropout(dropout), nn.Linear(width, 10))


def torch_member(name: str, family: str, net) -> Member:
    import torch

    net.eval()

    def proba(x):
        with torch.inference_mode():
            return torch.softmax(net(torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))), 1).numpy()

    return Member(name, family, proba)


def fit(net, x, y, epochs: int, lr: float = 1e-3, seed: int = 0, checkpoints: tuple[int, ...] = ()):
    """Adam on cross-entropy; returns the net, or copies at the given epochs."""
    import copy

    import torch

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    saved = []
    for epoch in range(1, epochs + 1):
        net.train()
        for rows in np.array_split(rng.permutation(len(x)), max(1, len(x) // 64)):
            loss = torch.nn.functional.cross_entropy(net(xt[rows]), yt[rows])
            opt.zero_grad()
            loss.backward()
            opt.step()
        if epoch in checkpoints:
            saved.append(copy.deepcopy(net).eval())
    return saved if checkpoints else net.eval()


def build_zoo(x, y) -> list[Member]:
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.tree import DecisionTreeClassifier

    rng = np.random.default_rng(0)
    zoo = []
    for epoch, net in zip((1, 2, 4, 8), fit(cnn(), x, y, 8, checkpoints=(1, 2, 4, 8))):
        zoo.append(torch_member(f"cnn-epoch{epoch}", "CNN checkpoint", net))
    for share in (0.1, 0.3):
        rows = rng.permutation(len(x))[: int(share * len(x))]
        zoo.append(torch_member(f"cnn-{int(100 * share)}pct", "CNN data size", fit(cnn(), x[rows], y[rows], 8)))
    for width in (2, 8, 32, 128, 1024):
        zoo.append(torch_member(f"mlp{width}", "MLP width", fit(mlp(width), x, y, 10)))
    zoo.append(torch_member("mlp256-dropout0.8", "MLP", fit(mlp(256, 0.8), x, y, 10)))
    zoo.append(torch_member("mlp256-1epoch-lowlr", "MLP", fit(mlp(256), x, y, 1, lr=1e-4)))
    noisy = y.copy()
    flip = rng.random(len(y)) < 0.3
    noisy[flip] = rng.integers(0, 10, flip.sum())
    zoo.append(torch_member("mlp256-noisy30", "MLP", fit(mlp(256), x, noisy, 10)))
    flat = x.reshape(len(x), -1)
    for name, family, model in (("logistic", "linear", LogisticRegression(max_iter=300, C=0.05)),
                                ("rf5", "forest", RandomForestClassifier(5, random_state=0)),
                                ("rf50", "forest", RandomForestClassifier(50, random_state=0)),
                                ("tree-d6", "tree", DecisionTreeClassifier(max_depth=6, random_state=0))):
        model.fit(flat, y)
        zoo.append(Member(name, family, lambda v, m=model: m.predict_proba(v.reshape(len(v), -1))))
    return zoo


class FileMember(Member):
    """A zoo model loaded from its file as a scan loads it (TorchScript or ONNX)."""

    def __init__(self, path: Path, family: str, image_shape):
        from auditor.models import ModelOptions, load_classifier

        self.clf = load_classifier(path, path.stem, image_shape, ModelOptions(device="cpu"))
        self.name, self.family, self.path = path.stem, family, path
        self.format, self.contract, self.class_names = self.clf.format, self.clf.contract, None

    def predict(self, x: np.ndarray) -> np.ndarray:
        return self.clf.predict(x)

    def proba(self, x: np.ndarray) -> np.ndarray:
        self.clf.predict(x[:1])
        return np.exp(self.clf.predict_scores(x)[1])


def cifar10_domain():
    """The zoo of bench/cifar10_zoo.py (from its files) and the held-out photos of scripts/cifar10_splits.py."""
    folder = ROOT / ".work" / "cifar10"
    record = json.loads((folder / "zoo" / "zoo.json").read_text())
    zoo = [FileMember(p, record[p.stem]["family"], (3, 32, 32))
           for p in sorted((folder / "zoo").iterdir()) if p.suffix in (".pt", ".onnx") and p.stem in record]
    with np.load(folder / "holdout.npz") as npz:
        images = (npz["images"].transpose(0, 3, 1, 2) / 255.0).astype(np.float32)
        labels = npz["labels"].astype(np.int64)
    what = ("trained on the 45,000-photo train split (`bench/cifar10_zoo.py`), scanned on held-out photos "
            "(`scripts/cifar10_splits.py`, a seeded order)")
    return zoo, images, labels, what


class TextMember(Member):
    """A zoo text model loaded from its ONNX file as a text scan loads it."""

    def __init__(self, path: Path, family: str):
        from auditor.text.model_loading import as_text_classifier

        self.clf = as_text_classifier(path, path.stem, pairs=True, class_names=["entailment", "neutral", "contradiction"])
        self.name, self.family, self.path = path.stem, family, path
        self.format, self.contract, self.class_names = self.clf.format, self.clf.contract, self.clf.class_names
        self.pairs, self.max_batch = True, self.clf.max_batch

    def predict(self, x: np.ndarray) -> np.ndarray:
        return self.clf.predict(x)

    def proba(self, x: np.ndarray) -> np.ndarray:
        return np.exp(self.clf.predict_scores(x)[1])[:, :3]


def snli_domain(name: str = "zoo-spread"):
    """A zoo of bench/snli_zoo.py (ONNX text models) and the held-out pairs of scripts/snli_splits.py."""
    from auditor.text.data import load_text

    folder = ROOT / ".work" / "snli"
    record = json.loads((folder / name / "zoo.json").read_text())
    zoo = [TextMember(p, record[p.stem]["family"]) for p in sorted((folder / name).glob("*.onnx")) if p.stem in record]
    texts = load_text(folder / "holdout.tsv")
    what = (f"trained on the 7,871-pair train split (`bench/snli_zoo.py --zoo {name}`), scanned on held-out pairs "
            "(`scripts/snli_splits.py`, file order)")
    return zoo, texts.items, np.asarray(texts.labels, dtype=np.int64), what


def load_domain(domain: str, limit: int | None, snli_zoo: str = "zoo-spread"):
    """(zoo, scanned images, their labels, default generator, description) of a domain."""
    if domain == "cifar10":
        zoo, images, labels, what = cifar10_domain()
    elif domain == "snli":
        zoo, images, labels, what = snli_domain(snli_zoo)
    elif domain == "fashion":
        x_train, y_train, x_hold, y_hold = fashion_splits()
        xtr = (x_train / 255.0).astype(np.float32)[:, None]
        zoo = build_zoo(xtr, y_train.astype(np.int64))
        images, labels = (x_hold / 255.0).astype(np.float32)[:, None], y_hold.astype(np.int64)
        what = "trained on the 3,000-image train split (`scripts/fashion_splits.py`), scanned on the 615 held-out images"
    else:
        sys.path.insert(0, str(ROOT / "examples"))
        from mnist_splits import mnist_splits
        from reproduce_paper import build_zoo as mnist_zoo

        x_train, y_train, x_test, y_test = mnist_splits()
        zoo = mnist_zoo((x_train / 255.0).astype(np.float32)[:, None], y_train.astype(np.int64))
        rows = np.random.default_rng(0).permutation(len(x_test))[:600]
        images, labels = (x_test[rows] / 255.0).astype(np.float32)[:, None], y_test[rows].astype(np.int64)
        what = "trained on the 4,000-digit train split, scanned on 600 test-split digits (a seeded sample)"
    if limit:
        images, labels = images[:limit], labels[:limit]
    return zoo, images, labels, what


def main() -> None:
    import torch

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--domain", choices=("fashion", "mnist", "cifar10", "snli"), default="fashion")
    parser.add_argument("--generator", default=None, help="default: the domain's bundled generator")
    parser.add_argument("--limit", type=int, default=None, help="scan only the first N images")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--write-manifest", action="store_true", help="record the validation in the bundle's manifest")
    parser.add_argument("--weak-reference", type=int, default=None, metavar="STEPS",
                        help="replace R by one trained for only STEPS steps (how much a weaker R costs); "
                             "writes docs/validation-DOMAIN-weak-reference.md, never the manifest")
    parser.add_argument("--snli-zoo", default="zoo-spread", choices=("zoo-spread", "zoo"),
                        help="which bench/snli_zoo.py zoo (.work/snli/NAME) the snli domain scans")
    parser.add_argument("--from-search", action="store_true",
                        help="redo the figures from the last run's search (.work/validate-DOMAIN-search.pkl) "
                             "with the same zoo, images and generator, without searching again")
    args = parser.parse_args()
    generator = args.generator or args.domain
    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    zoo, images, labels, what = load_domain(args.domain, args.limit, args.snli_zoo)
    trained = time.perf_counter() - started
    gen = load_generator(generator, device="cpu")
    if gen.reference is None:
        raise SystemExit(f"generator {generator} has no reference classifier")
    if args.weak_reference:
        gen.reference = weak_reference(gen, args.domain, args.weak_reference)
        args.write_manifest = False
    done = [0]
    total = len(images) * 2 * len(zoo)

    def progress(k: int) -> None:  # (image, model) pairs, counted twice with R's error distances
        done[0] += k
        if done[0] and (done[0] % (20 * len(zoo)) < k or done[0] == total):
            took = time.perf_counter() - started - trained
            print(f"searched {done[0]}/{total} ({took / 60:.1f} min, {took / done[0] * 2:.2f} s per item x model)",
                  flush=True)

    import pickle

    cache = ROOT / ".work" / f"validate-{args.domain}-search.pkl"
    if args.from_search:
        out, scanned = pickle.loads(cache.read_bytes())
    else:
        settings = SearchSettings(seed=0).resolved() if args.domain == "snli" else SearchSettings()
        out = search(gen, zoo, images, settings, reference=gen.reference, progress=progress)
        scanned = time.perf_counter() - started - trained
        cache.write_bytes(pickle.dumps((out, scanned)))  # figures can be redone (--from-search)
    if set(out.results) != {m.name for m in zoo} or len(out.results[zoo[0].name].delta_z) != len(images):
        raise SystemExit(f"{cache} holds another zoo's or another --limit's search; run without --from-search")
    half = len(images) // 2
    record, _ = validate(zoo, out, images, labels, f"{args.domain} zoo (bench/validate_zoo.py --domain {args.domain})")
    corr = {"validation": record["spearman_validation"], "test": record["spearman_test"]}
    chosen = record["figure"]
    unit = "pairs" if args.domain == "snli" else "images"
    r_record = getattr(gen.reference, "record", None) or gen.manifest.get("reference_classifier", {})
    lines = [
        f"# Which figure ranks models by accuracy: {args.domain}",
        "",
        f"Generated by `python bench/validate_zoo.py --domain {args.domain}"
        f"{f' --limit {args.limit}' if args.limit else ''}` ({trained / 60:.1f} min training, "
        f"{scanned / 60:.1f} min scanning {len(images)} {unit} x {len(zoo)} models on 2 shared CPU cores, "
        f"{args.threads} thread(s), {dt_today()}): {len(zoo)} classifiers {what}, with "
        f"auditor's default search, generator `{gen.name}` ({gen.manifest['family']}) and its reference classifier R "
        f"({100 * r_record['accuracy']:.1f}% accurate on the generator's own hold-out). Labels of the "
        f"scanned {unit} are used only to judge the figures.",
        "",
        f"**Chosen on the validation half ({half} {unit}): `{chosen}`**, the product's figure with the highest ρ "
        f"there (figures within {TIE} of the highest are tied, and the one that needs the least computation is "
        "preferred: `auditor.accuracy_figures.choose`); quote the test half's ρ.",
        "",
        *figures_table(corr),
        "",
        "| model | family | accuracy (all scanned) | mean Δz | mean error distance | errors censored | agreement with R | natural adversaries that kept their class | majority agreement | confidence |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    everything = model_figures(zoo, out, images, labels, np.ones(len(images), bool))
    for m in sorted(zoo, key=lambda m: everything[m.name]["accuracy"]):
        f = everything[m.name]
        lines.append(f"| {m.name} | {m.family} | {100 * f['accuracy']:.1f}% | {f['mean_dz'] or 0:.3f} | "
                     f"{f['mean_error_distance']:.3f} | {f['censored_errors']} | {f['agreement_with_reference']:.3f} | "
                     f"{f['kept_class']:.2f} | {f['majority_agreement']:.3f} | {f['confidence']:.3f} |")
    if args.domain == "snli":
        zoo_record = json.loads((ROOT / ".work" / "snli" / args.snli_zoo / "zoo.json").read_text())
        lines += ["", f"The zoo (`bench/snli_zoo.py`; accuracy on all {zoo_record[zoo[0].name]['n_holdout']} holdout pairs):",
                  "", "| model | family | training pairs | holdout accuracy |", "|---|---|---:|---:|"]
        for r in sorted(zoo_record.values(), key=lambda r: r["holdout_accuracy"]):
            lines.append(f"| {r['name']} | {r['family']} | {r['n_train']} | {100 * r['holdout_accuracy']:.1f}% |")
    name = f"validation-{args.domain}" + ("-weak-reference" if args.weak_reference else "")
    if args.weak_reference:
        lines.insert(2, f"**A deliberately weak reference classifier**: R retrained for {args.weak_reference} steps only "
                        f"(instead of 5,000), {100 * gen.reference.record['accuracy']:.1f}% accurate on the generator's "
                        "hold-out; everything else as in the bundle's own validation.\n")
    (ROOT / "docs" / f"{name}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    if args.write_manifest:
        bundle = resolve(generator)
        manifest = json.loads((bundle / "manifest.json").read_text())
        manifest["validation"] = record
        (bundle / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")


def weak_reference(gen, domain: str, steps: int):
    """R trained like the bundle's (same images, split, seed) for only ``steps`` steps."""
    from auditor.data import load_images
    from auditor.reference import ReferenceClassifier, train_reference
    from auditor.generators.vae_training import split_holdout

    if domain == "fashion":
        x, y, _, _ = fashion_splits()
        images, labels = (x / 255.0).astype(np.float32)[:, None], y.astype(np.int64)
    else:
        images = load_images(ROOT / ".work/mnist/train.npz", gen.image_shape).images
        labels = np.load(ROOT / ".work/mnist/train_labels.npy")
    config = gen.manifest["training"]["config"]
    train_idx, hold_idx = split_holdout(len(images), config["holdout"], config["seed"])
    net, record = train_reference(images, labels, train_idx, hold_idx, gen.reference.class_names, steps=steps,
                                  seed=config["seed"])
    return ReferenceClassifier(net, gen.reference.class_names, record)


def dt_today() -> str:
    import datetime

    return datetime.date.today().isoformat()


if __name__ == "__main__":
    main()
