"""Benchmark the search algorithms on 100 test-split digits (10 per class) against the
example models; prints Markdown tables (paste them into docs/benchmarks.md).

Per algorithm and model, at each algorithm's default settings: classifier queries per
image, mean and median dz, censored images; per algorithm: generator decodes per image
(shared between models), wall time, and the share of wall time spent inside the generator
and the classifiers.

    python bench/search.py [--algorithms local,hybrid,iterative]

With --curve, the query-budget curves instead (about 20 minutes on 2 cores): mean dz
reached against queries spent, for Algorithm 2 over N = 100 ... 5,000 and several dr, for
the local search over its step budget, and Algorithm 1 at a high budget as the near-optimal
reference; a table, the query ratio at each of Algorithm 2's levels, and a plot
(docs/search-curve.svg; needs matplotlib):

    python bench/search.py --curve

With --gap, the gap to the best known adversary per model family of the zoo
(bench/search_zoo.py; issue 16): the default search's mean Δz against the per-image smallest
Δz any run found (the default, and long many-sample runs given by --reference; every run is
cached under .work/zoo/runs/ and pooled into the best known of its images):

    python bench/search.py --gap [--split test] [--images 10] [--reference local:64:400:0.001]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np


ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(0, str(ROOT / "bench"))

from mnist_splits import balanced_test  # noqa: E402

from auditor import stats  # noqa: E402
from auditor.generators import load_generator  # noqa: E402
from auditor.models import load_classifier  # noqa: E402
from auditor.search import SearchSettings, search  # noqa: E402

MODELS = ["examples/models/lenet.onnx", "examples/models/mlp.pt", "examples/models/rf5.onnx"]
HYBRID_GRID = [(100, 0.5), (100, 0.3), (100, 0.1), (250, 0.3), (250, 0.1), (1000, 0.3), (1000, 0.1), (5000, 0.1)]
LOCAL_BUDGETS = [1, 2, 3, 4, 6, 8, 12, 16, 24, 40, 60, 120]
REFERENCE = ("iterative", 1000, 0.05)
RATIO = 20  # issue #7: the default search must match Algorithm 2 with this many times fewer queries


def run(gen, classifiers, images, settings):
    """(per-image mean dz over the models, queries per image and model, wall s, output)."""
    started = time.perf_counter()
    out = search(gen, classifiers, images, settings)
    wall = time.perf_counter() - started
    dz = np.stack([out.results[c.name].delta_z for c in classifiers])  # NaN: censored or recon. changed
    queries = np.mean([out.results[c.name].queries.mean() for c in classifiers])
    return dz, queries, wall, out


def mean_ci(dz: np.ndarray, seed: int = 0) -> tuple[float, float, float]:
    """Mean dz over (image, model) pairs with a flip, and a 95% bootstrap interval over images."""
    rng = np.random.default_rng(seed)
    n = dz.shape[1]
    boots = [np.nanmean(dz[:, rng.integers(0, n, n)]) for _ in range(2000)]
    lo, hi = np.quantile(boots, [0.025, 0.975])
    return float(np.nanmean(dz)), float(lo), float(hi)


def queries_to_reach(level: float, curve: list[tuple[float, float]]) -> float | None:
    """Queries the local search needs to reach mean dz <= level, interpolated along its
    budget curve [(queries, mean dz)] (log-linear between measured budgets)."""
    for (q0, d0), (q1, d1) in zip(curve, curve[1:]):
        if d0 <= level:
            return q0
        if d1 <= level:
            t = (d0 - level) / (d0 - d1)
            return float(np.exp(np.log(q0) + t * (np.log(q1) - np.log(q0))))
    return curve[-1][0] if curve[-1][1] <= level else None


def curve(gen, classifiers, images) -> None:
    rows = []  # (algorithm, label, queries, mean, lo, hi, wall, inside share)
    dzs = []  # per row: dz (models, images)

    def record(algorithm, label, settings):
        dz, queries, wall, out = run(gen, classifiers, images, settings)
        mean, lo, hi = mean_ci(dz)
        inside = (out.seconds_generator + out.seconds_classifier) / wall
        rows.append((algorithm, label, queries, mean, lo, hi, wall, inside))
        dzs.append(dz)
        print(f"  {algorithm} {label}: {queries:,.0f} queries, mean dz {mean:.3f} [{lo:.3f}, {hi:.3f}], "
              f"{wall:.1f} s", file=sys.stderr, flush=True)

    for steps in LOCAL_BUDGETS:
        record("local", f"max steps {steps}", SearchSettings(algorithm="local", max_steps=steps))
    for n_samples, step in HYBRID_GRID:
        record("hybrid", f"N {n_samples}, Δr {step}", SearchSettings(algorithm="hybrid", samples=n_samples, step=step))
    algorithm, n_samples, step = REFERENCE
    record(algorithm, f"N {n_samples}, Δr {step}", SearchSettings(algorithm=algorithm, samples=n_samples, step=step))

    print("| algorithm | settings | queries / image | mean Δz [95% CI] | wall s | inside models |")
    print("|---|---|---:|---|---:|---:|")
    for algorithm, label, queries, mean, lo, hi, wall, inside in rows:
        print(f"| {algorithm} | {label} | {queries:,.0f} | {mean:.3f} [{lo:.3f}, {hi:.3f}] | {wall:.1f} | "
              f"{100 * inside:.0f}% |")
    local = sorted((q, m) for a, _, q, m, *_ in rows if a == "local")
    print("\n| Algorithm 2 setting | its queries | its mean Δz | local search queries for that Δz | ratio |")
    print("|---|---:|---:|---:|---:|")
    for algorithm, label, queries, mean, *_ in rows:
        if algorithm != "hybrid":
            continue
        need = queries_to_reach(mean, local)
        ratio = f"{queries / need:.0f}×" if need else "not reached"
        print(f"| {label} | {queries:,.0f} | {mean:.3f} | {need:,.0f} | {ratio} |" if need else
              f"| {label} | {queries:,.0f} | {mean:.3f} | – | {ratio} |")
    print(f"\n| Algorithm 2 setting | its mean Δz | local search at ≤ 1/{RATIO} of its queries | its mean Δz | "
          "difference, local − hybrid [95% CI] |")
    print("|---|---:|---|---:|---|")
    for i, (algorithm, label, queries, mean, *_) in enumerate(rows):
        if algorithm != "hybrid":
            continue
        cheaper = [j for j, r in enumerate(rows) if r[0] == "local" and r[2] <= queries / RATIO]
        if not cheaper:
            print(f"| {label} | {mean:.3f} | no local budget that small | – | – |")
            continue
        j = max(cheaper, key=lambda j: rows[j][2])
        diff, lo, hi = paired_difference(dzs[j], dzs[i])
        print(f"| {label} | {mean:.3f} | {rows[j][1]} ({rows[j][2]:,.0f} queries) | {rows[j][3]:.3f} | "
              f"{diff:+.3f} [{lo:+.3f}, {hi:+.3f}] |")
    plot(rows)


def paired_difference(a: np.ndarray, b: np.ndarray, seed: int = 0) -> tuple[float, float, float]:
    """Mean of a - b over (model, image) pairs where both found a flip, and a 95% bootstrap
    interval over images: the searches ran on the same images, so the pairing removes the
    spread between digits."""
    both = np.isfinite(a) & np.isfinite(b)
    return mean_ci(np.where(both, a - b, np.nan), seed)


def plot(rows) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.2))
    styles = {"local": ("C0", "o", "local (default)"), "hybrid": ("C3", "s", "hybrid, Algorithm 2"),
              "iterative": ("C2", "^", "iterative, Algorithm 1")}
    for algorithm, (color, marker, label) in styles.items():
        pts = sorted((q, m, lo, hi) for a, _, q, m, lo, hi, *_ in rows if a == algorithm)
        if not pts:
            continue
        q, m, lo, hi = map(np.array, zip(*pts))
        ax.errorbar(q, m, yerr=[m - lo, hi - m], color=color, marker=marker, label=label,
                    linestyle="-" if algorithm == "local" else "none", capsize=2, markersize=4)
        if algorithm == "hybrid":
            for a, lbl, qq, mm, *_ in rows:
                if a == "hybrid":
                    ax.annotate(lbl, (qq, mm), textcoords="offset points", xytext=(4, 4), fontsize=7, color=color)
    ax.set_xscale("log")
    ax.set_xlabel("classifier queries per image and model (log scale)")
    ax.set_ylabel("mean Δz (lower is better)")
    ax.set_title("Query-budget curves: 100 test digits, 3 example models")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    path = ROOT / "docs" / "search-curve.svg"
    fig.savefig(path, metadata={"Date": None})
    print(f"\nplot written to {path.relative_to(ROOT)}", file=sys.stderr)


def balanced_train(per_class: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """The first ``per_class`` train-split digits of each class (tuning images; the models saw them)."""
    from mnist_splits import mnist_splits

    x_train, y_train, _, _ = mnist_splits()
    rows = np.concatenate([np.flatnonzero(y_train == c)[:per_class] for c in range(10)])
    return (x_train[rows] / 255.0).astype(np.float32)[:, None], y_train[rows]


def parse_run(spec: str) -> tuple[str, SearchSettings]:
    """'algorithm[:samples[:max_steps[:step]]]' -> (label, settings); empty fields: defaults."""
    parts = spec.split(":") + [""] * 3
    algorithm, samples, steps, step = parts[:4]
    settings = SearchSettings(algorithm=algorithm or "local", samples=int(samples) if samples else None,
                              max_steps=int(steps) if steps else None, step=float(step) if step else None)
    return spec, settings


def gap(gen, classifiers, images, split: str, seed: int, references: list[str]) -> None:
    """Per model: the default's mean Δz and queries per image (the anchors' share included), the
    best known mean Δz, and the gap, mean default / mean best known - 1 over the images where
    both found a flip."""
    import hashlib

    code = hashlib.sha1(b"".join(p.read_bytes() for p in sorted((ROOT / "auditor/search").glob("*.py")))).hexdigest()[:10]
    runs_dir = ROOT / ".work" / "zoo" / "runs"
    runs_dir.mkdir(parents=True, exist_ok=True)
    tag = f"{split}{len(images)}-seed{seed}"

    def measure(spec: str) -> dict:
        label, settings = parse_run(spec)
        settings = dataclasses.replace(settings, seed=seed)  # SearchSettings is frozen
        path = runs_dir / f"{tag}-{label.replace(':', '_')}-{code}.npz"
        if path.exists():
            data = np.load(path)
            if all(c.name in data for c in classifiers):
                return {k: data[k] for k in data.files}
        started = time.perf_counter()
        out = search(gen, classifiers, images, settings)
        wall = time.perf_counter() - started
        data = {c.name: out.results[c.name].delta_z for c in classifiers}
        data.update({f"{c.name}/queries": out.results[c.name].queries.astype(float) for c in classifiers})
        data["wall"] = np.array(wall)
        np.savez(path, **data)
        print(f"  {label}: {wall:.1f} s", file=sys.stderr, flush=True)
        return data

    default = measure("local")
    for spec in references:
        measure(spec)
    pooled = {}  # every cached run of these images, any code version: verified flips, so upper bounds
    for path in sorted(runs_dir.glob(f"{tag}-*.npz")):
        data = np.load(path)
        for c in classifiers:
            if c.name in data.files:
                pooled.setdefault(c.name, []).append(data[c.name])
    print("| family | queries / image | default mean Δz | best known mean Δz | gap | default censored, best known not | no flip in any run | runs pooled |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    gaps = []
    for c in classifiers:
        dz = default[c.name]
        stack = np.stack(pooled[c.name])
        best = np.full(stack.shape[1], np.nan)
        some = ~np.isnan(stack).all(0)  # no flip in any run: reconstruction changed, or censored
        best[some] = np.nanmin(stack[:, some], axis=0)
        both = np.isfinite(dz) & np.isfinite(best)
        g = dz[both].mean() / best[both].mean() - 1
        gaps.append(g)
        print(f"| {c.name} | {default[f'{c.name}/queries'].mean():,.0f} | {dz[both].mean():.3f} | {best[both].mean():.3f} | "
              f"{100 * g:+.1f}% | {int((np.isnan(dz) & np.isfinite(best)).sum())} | {int(np.isnan(best).sum())} | "
              f"{len(pooled[c.name])} |")
    print(f"\nworst gap {100 * max(gaps):+.1f}%, default wall {float(default['wall']):.1f} s (code {code})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--algorithms", default="local,hybrid,iterative")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--curve", action="store_true", help="query-budget curves instead of the default-settings table")
    parser.add_argument("--gap", action="store_true", help="gap to the best known adversary per zoo family")
    parser.add_argument("--split", default="train", choices=["train", "test"], help="--gap: digits of this split")
    parser.add_argument("--images", type=int, default=5, help="--gap: digits per class")
    parser.add_argument("--families", default=None, help="--gap: comma-separated zoo families (default: all)")
    parser.add_argument("--reference", action="append", default=[],
                        help="--gap: a further run 'algorithm:samples:max_steps:step' pooled into the best known")
    args = parser.parse_args()

    gen = load_generator("mnist", device="cpu")
    if args.gap:
        import search_zoo

        classifiers = search_zoo.load(gen, args.families.split(",") if args.families else None)
        if args.split == "train":
            images, _ = balanced_train(args.images)
        else:
            images, _ = balanced_test(args.images)
        print(f"{len(images)} {args.split}-split digits ({args.images} per class), zoo {', '.join(c.name for c in classifiers)}; "
              f"seed {args.seed}; {platform.processor() or platform.machine()}, {os.cpu_count()} cores\n")
        gap(gen, classifiers, images, args.split, args.seed, args.reference)
        return
    images, _ = balanced_test()
    classifiers = [load_classifier(ROOT / p, Path(p).stem, gen.image_shape) for p in MODELS]
    n = len(images)
    print(f"{n} test-split digits (10 per class), generator mnist, models {', '.join(c.name for c in classifiers)}; "
          f"seed {args.seed}; {platform.processor() or platform.machine()}, {os.cpu_count()} cores\n")
    if args.curve:
        curve(gen, classifiers, images)
        return
    print("| algorithm | model | queries / image | mean Δz | median Δz | censored | recon. changed |")
    print("|---|---|---:|---:|---:|---:|---:|")
    timing = []
    for algorithm in args.algorithms.split(","):
        settings = SearchSettings(algorithm=algorithm, seed=args.seed).resolved()
        started = time.perf_counter()
        out = search(gen, classifiers, images, settings)
        wall = time.perf_counter() - started
        for clf in classifiers:
            res = out.results[clf.name]
            s = stats.summary(res.delta_z, res.censored)
            print(f"| {algorithm} (N {settings.samples}, Δr {settings.step:g}) | {clf.name} | {res.queries.mean():,.0f} | {s['mean_delta_z']:.3f} | "
                  f"{s['median_delta_z']:.3f} | {int(res.censored.sum())} | {int(res.reconstruction_changed.sum())} |")
        inside = out.seconds_generator + out.seconds_classifier
        per_model = ", ".join(f"{k} {v:.1f} s" for k, v in out.classifier_seconds.items())
        timing.append(f"| {algorithm} | {out.decodes / n:,.0f} | {wall:.1f} | {out.seconds_generator:.1f} | "
                      f"{out.seconds_classifier:.1f} ({per_model}) | {100 * inside / wall:.0f}% |")
    print("\n| algorithm | decodes / image | wall s | generator s | classifiers s | inside models |")
    print("|---|---:|---:|---:|---:|---:|")
    print("\n".join(timing))


if __name__ == "__main__":
    main()
