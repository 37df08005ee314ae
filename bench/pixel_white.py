"""Benchmark auditor's white-box pixel attacks (auditor/pixel: fmn, deepfool; issue 32) against
ART 1.20.1's DeepFool and Carlini-Wagner L2 and against auditor's own black-box attacks (hsj,
nattack), on three TorchScript classifiers and test-split digits; prints Markdown tables (paste
them into docs/benchmarks.md).

The models: examples/models/mlp.pt, and two more trained here on the train split of DESIGN.md §3
(4,000 digits; cached under .work/pixel-white/): a wide LeNet (32/64 channels, 256 hidden) and a
two-layer MLP (256/256). The digits: the first N/10 test-split digits of each class
(``--offset`` skips that many per class first: tune with --offset 10, report with --offset 0, so
the reported digits are never the ones tuned on).

    python bench/pixel_white.py [--n 30] [--offset 0]
        [--attacks fmn,deepfool,art-deepfool,art-cw,foolbox-fmn,hsj,nattack]

ART (adversarial-robustness-toolbox, a benchmark-only dependency: ``pip install
adversarial-robustness-toolbox==1.20.1``) gets the TorchScript module through its PyTorchClassifier,
ART's documented defaults (DeepFool: max_iter 100, epsilon 1e-6, nb_grads 10; CarliniL2Method:
confidence 0, learning_rate 0.01, binary_search_steps 10, max_iter 10, initial_const 0.01), and
the model's own labels of the clean digits as y (label-free, as auditor). Foolbox 3.3.4's L2 FMN
(``pip install foolbox==3.3.4``, benchmark-only too) runs with its defaults but 1,000 steps
(Foolbox's default, 10, is far from converged). Their adversaries are re-checked: one that does not flip the
model counts as none (eps = inf; the table also gives the median with such outputs at their own
norm). Their passes are counted by a wrapper around the module: a forward over one image is one
pass, a backward over one image one pass (ART's class gradients: one backward per class).

Every auditor adversary is re-checked too: it flips the model's label, lies in [0, 1], and its
measured L2 norm equals the reported eps (rounded up to 6 decimals).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(0, str(ROOT / "examples"))
sys.path.insert(0, str(ROOT))

from make_examples import accuracy_torch, train_torch  # noqa: E402
from mnist_splits import mnist_splits  # noqa: E402

from auditor.models import load_classifier  # noqa: E402
from auditor.pixel import PixelSettings, pixel_attack  # noqa: E402

CACHE = ROOT / ".work" / "pixel-white"
CAP = 10.0


def wide_lenet():
    from torch import nn

    return nn.Sequential(
        nn.Conv2d(1, 32, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),   # (N, 32, 14, 14)
        nn.Conv2d(32, 64, 5), nn.ReLU(), nn.MaxPool2d(2),             # (N, 64, 5, 5)
        nn.Flatten(), nn.Linear(64 * 25, 256), nn.ReLU(), nn.Linear(256, 10),
    )


def mlp2():
    from torch import nn

    return nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 10))


def models() -> list[Path]:
    """The three TorchScript files, training the two missing ones (seconds to minutes on one core)."""
    CACHE.mkdir(parents=True, exist_ok=True)
    x_train, y_train, x_test, y_test = mnist_splits()
    x = (x_train / 255.0).astype(np.float32)[:, None]
    xt = (x_test / 255.0).astype(np.float32)[:, None]
    paths = [ROOT / "examples/models/mlp.pt"]
    for name, make, epochs in (("lenet_wide", wide_lenet, 8), ("mlp2", mlp2, 15)):
        path = CACHE / f"{name}.pt"
        if not path.exists():
            model = train_torch(make(), x, y_train.astype(np.int64), epochs=epochs, seed=1)
            print(f"  trained {name}: test accuracy {accuracy_torch(model, xt, y_test.astype(np.int64)):.3f}",
                  file=sys.stderr, flush=True)
            torch.jit.script(model).save(str(path))
        paths.append(path)
    return paths


def digits(n: int, offset: int) -> np.ndarray:
    """n test-split digits, n / 10 per class after skipping ``offset`` per class: (n, 1, 28, 28) in [0, 1]."""
    _, _, x_test, y_test = mnist_splits()
    per = n // 10
    rows = np.concatenate([np.flatnonzero(y_test == c)[offset : offset + per] for c in range(10)])
    return (x_test[rows] / 255.0).astype(np.float32)[:, None]


class Counted(torch.nn.Module):
    """A classifier's module behind ART: (N, 1, 28, 28) in [0, 1] -> the model's scores, through
    auditor's own torch input preparation; counts forward and backward passes per image."""

    def __init__(self, clf) -> None:
        super().__init__()
        from auditor.pixel.gradients import prepare

        self.clf, self.prepare, self.forwards, self.backwards = clf, prepare, 0, 0
        outer = self

        class Tap(torch.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                return x.view_as(x)

            @staticmethod
            def backward(ctx, g):
                outer.backwards += len(g)
                return g

        self.tap = Tap

    def forward(self, x):
        self.forwards += len(x)
        return self.clf.module(self.prepare(self.clf.contract, self.tap.apply(x)))


def run_art(clf, images, clean, which):
    """(eps (N,) with inf where no verified flip, passes per image, seconds, eps (N,) of every
    output whether it flips or not) of ART's attack."""
    from art.attacks.evasion import CarliniL2Method, DeepFool
    from art.estimators.classification import PyTorchClassifier

    counted = Counted(clf)
    est = PyTorchClassifier(counted, torch.nn.CrossEntropyLoss(), (1, 28, 28), 10, clip_values=(0.0, 1.0),
                            device_type="cpu")
    attack = (DeepFool(est, verbose=False) if which == "art-deepfool" else CarliniL2Method(est, verbose=False))
    counted.forwards = counted.backwards = 0
    started = time.perf_counter()
    adv = attack.generate(images, y=np.eye(10, dtype=np.float32)[clean]).astype(np.float32)
    wall = time.perf_counter() - started
    passes = (counted.forwards + counted.backwards) / len(images)
    flips = clf.predict(adv) != clean
    inside = (adv >= 0).all(axis=(1, 2, 3)) & (adv <= 1).all(axis=(1, 2, 3))
    eps = np.sqrt(((adv.reshape(len(adv), -1).astype(np.float64) - images.reshape(len(images), -1)) ** 2).sum(1))
    return np.where(flips & inside & (eps > 0), eps, np.inf), passes, wall, eps


def run_foolbox(clf, images, clean, steps: int = 1000):
    """Foolbox 3.3.4's L2 FMN (its defaults but ``steps``: 1,000 rather than Foolbox's 10), as
    :func:`run_art` (pip install foolbox==3.3.4, benchmark-only)."""
    import foolbox

    counted = Counted(clf).eval()
    model = foolbox.PyTorchModel(counted, bounds=(0.0, 1.0))
    counted.forwards = counted.backwards = 0
    started = time.perf_counter()
    _, adv, _ = foolbox.attacks.L2FMNAttack(steps=steps)(model, torch.from_numpy(images), torch.from_numpy(clean),
                                                          epsilons=None)
    wall = time.perf_counter() - started
    adv = adv.detach().numpy().astype(np.float32)
    passes = (counted.forwards + counted.backwards) / len(images)
    flips = clf.predict(adv) != clean
    eps = np.sqrt(((adv.reshape(len(adv), -1).astype(np.float64) - images.reshape(len(images), -1)) ** 2).sum(1))
    return np.where(flips & (eps > 0), eps, np.inf), passes, wall, eps


def run_auditor(clf, images, clean, attack, queries):
    """(eps (N,) with inf where censored, passes or queries per image, seconds, problems)."""
    settings = PixelSettings(attack=attack, norm="l2", max_eps=CAP, queries=queries, seed=0)
    settings.validate()
    started = time.perf_counter()
    res = pixel_attack([clf], images, {clf.name: clean}, settings, attack).results[clf.name]
    wall = time.perf_counter() - started
    problems = []
    found = np.flatnonzero(~np.isnan(res.eps))
    adv = res.adversary[found]
    if (clf.predict(adv) == clean[found]).any():
        problems.append(f"{attack} {clf.name}: an adversary does not flip the model")
    if len(found) and (adv.min() < 0 or adv.max() > 1):
        problems.append(f"{attack} {clf.name}: an adversary leaves [0, 1]")
    measured = np.sqrt(((adv.reshape(len(found), -1).astype(np.float64)
                         - images[found].reshape(len(found), -1)) ** 2).sum(1))
    if (np.abs(measured - res.eps[found]) > 2e-6).any() or (measured > res.eps[found] + 1e-12).any():
        problems.append(f"{attack} {clf.name}: a reported eps is not the adversary's measured norm")
    if (res.queries > queries).any():
        problems.append(f"{attack} {clf.name}: over the budget")
    return np.where(np.isnan(res.eps), np.inf, res.eps), res.queries.mean(), wall, problems


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=30, help="test digits (a multiple of 10)")
    parser.add_argument("--offset", type=int, default=0, help="test digits skipped per class first (10: tuning)")
    parser.add_argument("--attacks", default="fmn,deepfool,art-deepfool,art-cw,foolbox-fmn,hsj,nattack")
    parser.add_argument("--queries", type=int, default=2000, help="auditor's budget: passes (white) or queries (black)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    import logging

    logging.getLogger("art").setLevel(logging.ERROR)
    images = digits(args.n, args.offset)
    attacks = args.attacks.split(",")
    rows, medians, problems = [], {}, []
    for path in models():
        clf = load_classifier(path, path.stem, (1, 28, 28))
        clean = clf.predict(images)
        for attack in attacks:
            raw = None
            if attack.startswith("art-"):
                eps, passes, wall, raw = run_art(clf, images, clean, attack)
            elif attack == "foolbox-fmn":
                eps, passes, wall, raw = run_foolbox(clf, images, clean)
            else:
                eps, passes, wall, found = run_auditor(clf, images, clean, attack, args.queries)
                problems += found
            medians[clf.name, attack] = float(np.median(eps))
            if raw is not None:
                medians[clf.name, attack + " (raw)"] = float(np.median(raw))
            rows.append((clf.name, attack, float(np.median(eps)), float(np.mean(eps[np.isfinite(eps)])),
                         int(np.isinf(eps).sum()), passes, wall,
                         "" if raw is None else f"{np.median(raw):.3f}"))
            print(f"  {clf.name} {attack}: median {np.median(eps):.3f}, {passes:.0f} passes, {wall:.1f} s",
                  file=sys.stderr, flush=True)
    print(f"\n{args.n} test digits (from {args.offset} per class on), L2, cap {CAP}, auditor's budget {args.queries}; "
          f"torch {torch.__version__}, 1 thread\n")
    print("| model | attack | median ε | mean ε (found) | none found | passes or queries / image | seconds | "
          "ART/Foolbox: median ε of its outputs, flipping or not |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for name, attack, med, mean, none, passes, wall, raw in rows:
        print(f"| {name} | {attack} | {med:.3f} | {mean:.3f} | {none} | {passes:.0f} | {wall:.1f} | {raw} |")
    names = list(dict.fromkeys(r[0] for r in rows))
    if {"fmn", "art-deepfool", "art-cw", "hsj"} <= set(attacks):
        print("\n| model | fmn / best of ART DeepFool and CW-L2 (bar: ≤ 1.05) | the same, ART's outputs that do not "
              "flip counted at their norm | fmn / hsj (bar: ≤ 0.8) |")
        print("|---|---:|---:|---:|")
        for name in names:
            art = min(medians[name, "art-deepfool"], medians[name, "art-cw"])
            raw = min(medians[name, "art-deepfool (raw)"], medians[name, "art-cw (raw)"])
            print(f"| {name} | {medians[name, 'fmn'] / art:.3f} | {medians[name, 'fmn'] / raw:.3f} | "
                  f"{medians[name, 'fmn'] / medians[name, 'hsj']:.3f} |")
    print("\nChecks of auditor's adversaries (flip, in [0, 1], eps = measured norm, within budget): "
          + ("all passed" if not problems else "; ".join(problems)))


if __name__ == "__main__":
    main()
