"""Label-only accuracy figures for text classifiers, over many zoos (issue 29, the choice of figure).

The snli validation (bench/validate_zoo.py) runs the search and so one zoo at a time. The figures
that need no search -- agreement with R, agreement with the zoo's majority, Dawid-Skene, and
mixes of R with the zoo -- can be judged on many zoos at once: this fits a pool of scikit-learn
pair classifiers (bench/snli_zoo.py's 16 plus a wider grid of families x training sizes), then
draws random sub-zoos of 8-16 models and reports, per figure, the distribution of Spearman rho with
accuracy on the first half of the held-out pairs ("validation": choose here) and the second
("test": report). Run after scripts/snli_splits.py:

    OMP_NUM_THREADS=1 python bench/snli_figures.py [--draws 300]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from snli_zoo import FOLDER, LABELS, read, spread_specs, wide_specs, zoo_specs  # noqa: E402

from auditor.consensus import dawid_skene  # noqa: E402
from auditor.accuracy_figures import rank_corr  # noqa: E402


def fit_pool(x, y, hx):
    """name -> (family tag, holdout predictions as class ids)."""
    ids = {name: i for i, name in enumerate(LABELS)}
    pool = {}
    for tag, specs in (("A", zoo_specs()), ("B", wide_specs())):
        for name, family, n, make in specs:
            t = time.perf_counter()
            idx = np.random.default_rng(0).permutation(len(x))[: n or len(x)]
            pred = make().fit(x[idx], y[idx]).predict(hx)
            pool[f"{tag}:{name}"] = (family, np.array([ids[p] for p in pred]))
            print(f"{tag}:{name:24s} {time.perf_counter() - t:5.1f}s", flush=True)
    return pool


def figures(votes: np.ndarray, r: np.ndarray, truth: np.ndarray, r_scores: np.ndarray) -> dict[str, np.ndarray]:
    """Per model (rows of ``votes``), each label-only figure and the accuracy."""
    m = len(votes)
    onehot = np.eye(3)[votes]  # (M, N, 3)
    majority = onehot.sum(0).argmax(1)
    out = {"accuracy": (votes == truth).mean(1), "agree_R": (votes == r).mean(1),
           "majority": (votes == majority).mean(1), "dawid_skene": dawid_skene(votes)["accuracy"]}
    out["soft_R"] = r_scores[np.arange(votes.shape[1])[None], votes].mean(1)
    out["ds_with_R"] = dawid_skene(np.vstack([votes, r]))["accuracy"][:m]
    for w in (1, 3):
        mix = (onehot.sum(0) + w * m / 4 * np.eye(3)[r]).argmax(1)
        out[f"maj_R{w}"] = (votes == mix).mean(1)
    out["mean_R_DS"] = (out["agree_R"] + out["dawid_skene"]) / 2
    out["mean_R_maj"] = (out["agree_R"] + out["majority"]) / 2
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--draws", type=int, default=300)
    ap.add_argument("--pairs", type=int, default=None,
                    help="judge on random subsets of this many pairs of each half (default: the whole half)")
    ap.add_argument("--subsets", type=int, default=10, help="how many subsets per half, with --pairs")
    a = ap.parse_args()
    from auditor.text.reference import TextReference

    x, y = read(FOLDER / "train.tsv")
    hx, hy = read(FOLDER / "holdout.tsv")
    truth = np.array([LABELS.index(v) for v in hy])
    ref = TextReference.load(ROOT / "generators" / "snli")
    r_scores = ref.predict_scores([tuple(p) for p in hx])
    r = r_scores.argmax(1)
    print(f"R: {np.mean(r == truth):.3f}")
    pool = fit_pool(x, y, hx)
    names = list(pool)
    votes = np.stack([pool[k][1] for k in names])
    half = len(truth) // 2
    halves = {"validation": slice(0, half), "test": slice(half, None)}
    for k, v in zip(names, votes):
        print(f"{k:28s} acc {np.mean(v == truth):.3f} agree_R {np.mean(v == r):.3f}")
    rng = np.random.default_rng(0)
    spread = {f"B:{spec[0]}" for spec in spread_specs()}
    zoos = {"A": [i for i, k in enumerate(names) if k.startswith("A:")],
            "S": [i for i, k in enumerate(names) if k in spread],
            "B": [i for i, k in enumerate(names) if k.startswith("B:")]}
    draws = [sorted(rng.choice(len(names), rng.integers(8, 17), replace=False)) for _ in range(a.draws)]
    report = {}
    for split, rows in halves.items():
        rows = np.arange(len(truth))[rows]
        subsets = [rows] if a.pairs is None else [np.sort(rng.choice(rows, a.pairs, replace=False))
                                                  for _ in range(a.subsets)]
        combos = [(z, m, sub) for sub in subsets
                  for z, m in [*zoos.items(), *[("draws", d) for d in draws]]]
        for zname, members, rows in combos:
            f = figures(votes[members][:, rows], r[rows], truth[rows], r_scores[rows])
            for key, vals in f.items():
                if key != "accuracy":
                    report.setdefault(key, {}).setdefault((split, zname), []).append(rank_corr(vals, f["accuracy"]))
    write(report, names, votes, truth, r, a, half)


NAMES = {"agree_R": "agreement with R (the product's figure)", "soft_R": "R's probability of the model's label",
         "majority": "agreement with the zoo's majority", "dawid_skene": "Dawid-Skene (the zoo)",
         "ds_with_R": "Dawid-Skene (the zoo and R)", "maj_R1": "majority with R weighted M/4",
         "maj_R3": "majority with R weighted 3M/4", "mean_R_DS": "mean of agreement with R and Dawid-Skene",
         "mean_R_maj": "mean of agreement with R and majority agreement"}


def write(report, names, votes, truth, r, a, half: int) -> None:
    n_a = sum(k.startswith("A:") for k in names)
    sub = (f" Each figure is judged on {a.subsets} random subsets of {a.pairs} pairs of each half (the mean ρ is shown), "
           "as many pairs as the search-based validation's halves." if a.pairs else "")
    lines = ["# Label-only accuracy figures over many SNLI zoos", "",
             f"Generated by `OMP_NUM_THREADS=1 python bench/snli_figures.py --draws {a.draws}"
             f"{f' --pairs {a.pairs} --subsets {a.subsets}' if a.pairs else ''}`: {len(names)} scikit-learn "
             f"pair classifiers trained on the train split (zoo A: bench/snli_zoo.py's first {n_a}; zoo B: "
             f"{len(names) - n_a}, eleven families x five training sizes, `wide_specs`; zoo-spread: the 16 of zoo B "
             f"that the snli validation scans), predicted on all "
             f"{len(truth)} held-out pairs, split in file order into a validation half ({half}) and a test half.{sub} "
             f"\"Random\" draws {a.draws} zoos of 8-16 models from all {len(names)}. Spearman ρ with accuracy; R is "
             f"{100 * np.mean(r == truth):.1f}% accurate here. These figures need no search, so many zoos can be "
             "judged; bench/validate_zoo.py judges every figure, search-based ones included, on one zoo.", "",
             "| figure | zoo A, validation | zoo A, test | zoo-spread, validation | zoo-spread, test "
             "| zoo B, validation | zoo B, test | random zoos, test: mean | 10th percentile | worst |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for key, per in report.items():
        cells = [f"{np.nanmean(per[(s, z)]):.3f}" for z in "ASB" for s in ("validation", "test")]
        d = np.array(per[("test", "draws")])
        cells += [f"{np.nanmean(d):.3f}", f"{np.nanpercentile(d, 10):.3f}", f"{np.nanmin(d):.3f}"]
        lines.append(f"| {NAMES[key]} | " + " | ".join(cells) + " |")
    lines += ["", "| model | holdout accuracy | agreement with R |", "|---|---:|---:|"]
    for k, v in sorted(zip(names, votes), key=lambda kv: np.mean(kv[1] == truth)):
        lines.append(f"| {k} | {100 * np.mean(v == truth):.1f}% | {100 * np.mean(v == r):.1f}% |")
    (ROOT / "docs" / "validation-snli-zoos.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))

if __name__ == "__main__":
    main()
