"""Benchmark the search algorithms on 100 test-split digits (10 per class) against the
example models; prints a Markdown table (paste it into docs/benchmarks.md).

Per algorithm and model: classifier queries per image, mean and median dz, censored
images; per algorithm: generator decodes per image (shared between models), wall time,
and the share of wall time spent inside the generator and the classifiers.

    python bench/search.py [--algorithms hybrid,iterative] [--samples 250] [--step 0.1]
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path


ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

from mnist_splits import balanced_test  # noqa: E402

from auditor import stats  # noqa: E402
from auditor.generators import load_generator  # noqa: E402
from auditor.models import load_classifier  # noqa: E402
from auditor.search import SearchSettings, search  # noqa: E402

MODELS = ["examples/models/lenet.onnx", "examples/models/mlp.pt", "examples/models/rf5.onnx"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--algorithms", default="hybrid,iterative")
    parser.add_argument("--samples", type=int, default=SearchSettings.samples)
    parser.add_argument("--step", type=float, default=SearchSettings.step)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    gen = load_generator("mnist", device="cpu")
    images, _ = balanced_test()
    classifiers = [load_classifier(ROOT / p, Path(p).stem, gen.image_shape) for p in MODELS]
    n = len(images)
    print(f"{n} test-split digits (10 per class), generator mnist, models {', '.join(c.name for c in classifiers)}; "
          f"N = {args.samples}, dr = {args.step}, seed {args.seed}; {platform.processor() or platform.machine()}, "
          f"torch threads default\n")
    print("| algorithm | model | queries / image | mean Δz | median Δz | censored | recon. changed |")
    print("|---|---|---:|---:|---:|---:|---:|")
    timing = []
    for algorithm in args.algorithms.split(","):
        settings = SearchSettings(algorithm=algorithm, samples=args.samples, step=args.step, seed=args.seed)
        started = time.perf_counter()
        out = search(gen, classifiers, images, settings)
        wall = time.perf_counter() - started
        for clf in classifiers:
            res = out.results[clf.name]
            s = stats.summary(res.delta_z, res.censored)
            print(f"| {algorithm} | {clf.name} | {res.queries.mean():,.0f} | {s['mean_delta_z']:.3f} | "
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
