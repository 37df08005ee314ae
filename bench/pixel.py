"""Benchmark auditor's black-box pixel attacks (auditor/pixel: nattack, hsj; L2) on the example
models (examples/models/lenet.onnx, mlp.pt, rf5.onnx) and test-split digits (10 per class for
100 digits, 100 per class for 1,000); prints Markdown tables (paste them into docs/benchmarks.md).

--budget: the default --pixel-queries (issue #18). Per attack, budget and model: wall seconds,
the share of images with an adversary within the cap, median eps (censored counted as inf), mean
eps over the images with one; the wall time extrapolated linearly from N to 1,000 digits; and
the eps the default budget leaves on the table against the largest budget (same random streams,
so a larger budget only ever continues the smaller budget's run):

    python bench/pixel.py --budget [--budgets 500,1000,2000,4000] [--n 100]

--confirm: one real run at a budget (all three models, one attack), to check an extrapolation:

    python bench/pixel.py --confirm --attack hsj --queries 2000 --n 1000

--art: a check against ART (adversarial-robustness-toolbox, a benchmark-only dependency:
pip install adversarial-robustness-toolbox) at the same query budget: ART's HopSkipJump (labels)
against auditor's hsj, ART's SquareAttack (scores, norm=2) against auditor's nattack. ART runs
one image at a time through a counting wrapper around the model function it is given: it counts
every distinct image queried for the source image (a repeat of an image already asked, the clean
image included, is answered from a cache for free, as auditor gets the clean label for free),
keeps the closest queried image whose label differs from the clean label (as auditor's oracle
does) and raises once the budget is spent. SquareAttack attacks at a fixed eps, so it is run as
a schedule within the one budget: eps = 10 (auditor's L2 cap) first, then, after each success,
again at 0.9 x the closest adversary's norm with the queries left (auditor's nattack shrinks its
eps the same way); "square@10" is the single documented run at eps 10. Either way the result is
the closest adversary the wrapper saw.

    python bench/pixel.py --art [--n 100] [--queries 2000]

Every auditor adversary is re-checked: it must flip the model's label, lie in [0, 1], and its
measured L2 norm must equal the reported eps; failures are printed.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(0, str(ROOT))

from mnist_splits import balanced_test  # noqa: E402

from auditor.models import load_classifier  # noqa: E402
from auditor.pixel import PixelSettings, pixel_attack  # noqa: E402

MODELS = ["examples/models/lenet.onnx", "examples/models/mlp.pt", "examples/models/rf5.onnx"]
CAP = 10.0  # auditor's default L2 cap
SHRINK = 0.9  # SquareAttack schedule: next eps = SHRINK x closest adversary so far


def load(models: list[str]):
    return [load_classifier(ROOT / p, Path(p).stem, (1, 28, 28)) for p in models]


def digits(n: int) -> np.ndarray:
    """n test-split digits, n / 10 per class, (n, 1, 28, 28) float32 in [0, 1]."""
    x, _ = balanced_test(n // 10)
    assert x.dtype == np.float32 and x.min() >= 0 and x.max() <= 1 and x.shape[1:] == (1, 28, 28)
    return x


def summary(eps: np.ndarray) -> tuple[float, float, float]:
    """(share with an adversary, median eps with none = inf, mean eps over those with one)."""
    found = np.isfinite(eps)
    full = np.where(found, eps, np.inf)
    return found.mean(), float(np.median(full)), float(eps[found].mean()) if found.any() else float("nan")


def fmt(v: float, digits: int = 2) -> str:
    return "inf" if np.isinf(v) else ("–" if np.isnan(v) else f"{v:.{digits}f}")


def check(clf, images: np.ndarray, clean: np.ndarray, res, budget: int) -> list[str]:
    """Problems with auditor's results for one model: adversaries that do not flip, leave [0, 1],
    or whose measured norm is not the reported eps; queries over budget."""
    problems = []
    found = np.flatnonzero(np.isfinite(res.eps))
    if (res.queries > budget).any():
        problems.append(f"{clf.name}: {(res.queries > budget).sum()} images over the {budget}-query budget")
    if not len(found):
        return problems
    adv = res.adversary[found].astype(np.float32)
    if np.isnan(adv).any() or adv.min() < 0 or adv.max() > 1:
        problems.append(f"{clf.name}: adversaries outside [0, 1] or NaN")
    labels = clf.predict(adv)
    bad = labels == clean[found]
    if bad.any():
        problems.append(f"{clf.name}: {bad.sum()} adversaries do not flip the label (images {found[bad][:5].tolist()})")
    mismatch = labels != res.adversary_prediction[found]
    if mismatch.any():
        problems.append(f"{clf.name}: {mismatch.sum()} adversaries' labels differ from adversary_prediction")
    measured = np.sqrt(((adv.reshape(len(found), -1).astype(np.float64) - images[found].reshape(len(found), -1)) ** 2).sum(1))
    off = np.abs(measured - res.eps[found]) > 1e-4
    if off.any():
        problems.append(f"{clf.name}: {off.sum()} eps differ from the saved image's L2 norm "
                        f"(max {np.abs(measured - res.eps[found]).max():.2e})")
    return problems


def run_auditor(clf, images, clean, attack, queries, seed=0):
    """(PixelResult, wall seconds) of one attack on one model."""
    settings = PixelSettings(attack=attack, norm="l2", max_eps=CAP, queries=queries, seed=seed)
    settings.validate()
    started = time.perf_counter()
    out = pixel_attack([clf], images, {clf.name: clean}, settings, attack)
    return out.results[clf.name], time.perf_counter() - started


def machine() -> str:
    return f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, {datetime.date.today()}"


# --------------------------------------------------------------------------- budget


def budget_mode(args) -> None:
    classifiers = load(args.models)
    images = digits(args.n)
    clean = {c.name: c.predict(images) for c in classifiers}
    budgets = [int(b) for b in args.budgets.split(",")]
    problems, rows, eps = [], [], {}
    for attack in args.attacks.split(","):
        for b in budgets:
            total = 0.0
            for clf in classifiers:
                res, wall = run_auditor(clf, images, clean[clf.name], attack, b)
                problems += check(clf, images, clean[clf.name], res, b)
                total += wall
                eps[attack, b, clf.name] = res.eps
                share, med, mean = summary(res.eps)
                rows.append((attack, b, clf.name, wall, share, med, mean, res.queries.mean()))
                print(f"  {attack} {b} {clf.name}: {wall:.1f} s, {100 * share:.0f}% found, median {fmt(med)}",
                      file=sys.stderr, flush=True)
            rows.append((attack, b, "all three", total, None, None, None, None))
    scale = 1000 / args.n
    print(f"\n{args.n} test digits, L2, cap {CAP}, seed 0; {machine()}\n")
    print(f"| attack | budget | model | wall s ({args.n}) | wall s (1,000, x{scale:g} extrapolated) | adversary found | "
          "median eps (none = inf) | mean eps (found) | mean queries |")
    print("|---|---:|---|---:|---:|---:|---:|---:|---:|")
    for attack, b, name, wall, share, med, mean, q in rows:
        if name == "all three":
            print(f"| {attack} | {b} | **all three** | **{wall:.1f}** | **{wall * scale:.0f}** | | | | |")
        else:
            print(f"| {attack} | {b} | {name} | {wall:.1f} | {wall * scale:.0f} | {100 * share:.0f}% | {fmt(med)} | "
                  f"{fmt(mean)} | {q:.0f} |")
    # what the budget costs: eps at each budget against the largest, on images found at both
    top = max(budgets)
    print(f"\nWhat the budget costs: eps at each budget against eps at {top} (same random streams: the larger budget "
          "continues the smaller one's run). ratio = mean over images with an adversary at both of eps(b) / eps(top).\n")
    print("| attack | model | " + " | ".join(f"median eps @ {b}" for b in budgets) + " | " +
          " | ".join(f"ratio @ {b}" for b in budgets if b != top) + " |")
    print("|---|---|" + "---:|" * (2 * len(budgets) - 1))
    for attack in args.attacks.split(","):
        for clf in classifiers:
            ref = eps[attack, top, clf.name]
            meds, ratios = [], []
            for b in budgets:
                e = eps[attack, b, clf.name]
                meds.append(fmt(summary(e)[1]))
                if b != top:
                    both = np.isfinite(e) & np.isfinite(ref)
                    ratios.append(f"{np.mean(e[both] / ref[both]):.2f}" if both.any() else "–")
            print(f"| {attack} | {clf.name} | " + " | ".join(meds) + " | " + " | ".join(ratios) + " |")
    report_problems(problems)


def confirm_mode(args) -> None:
    classifiers = load(args.models)
    images = digits(args.n)
    clean = {c.name: c.predict(images) for c in classifiers}
    settings = PixelSettings(attack=args.attack, norm="l2", max_eps=CAP, queries=args.queries, seed=0)
    started = time.perf_counter()
    out = pixel_attack(classifiers, images, clean, settings, args.attack)
    wall = time.perf_counter() - started
    problems = []
    print(f"\n{args.attack}, {args.queries} queries, {args.n} digits, all three models in one pixel_attack call: "
          f"{wall:.0f} s ({wall / 60:.1f} min); {machine()}\n")
    print("| model | adversary found | median eps (none = inf) | mean eps (found) | mean queries |")
    print("|---|---:|---:|---:|---:|")
    for clf in classifiers:
        res = out.results[clf.name]
        problems += check(clf, images, clean[clf.name], res, args.queries)
        share, med, mean = summary(res.eps)
        print(f"| {clf.name} | {100 * share:.1f}% | {fmt(med)} | {fmt(mean)} | {res.queries.mean():.0f} |")
    report_problems(problems)


def report_problems(problems: list[str]) -> None:
    print("\nChecks of auditor's adversaries (flip, in [0, 1], eps = measured norm, queries <= budget): "
          + ("all passed" if not problems else ""))
    for p in problems:
        print(f"- PROBLEM: {p}")


# --------------------------------------------------------------------------- ART


class BudgetSpent(Exception):
    pass


class Counter:
    """The model function ART is given, for one source image: counts distinct queried images,
    keeps the closest one whose label differs from the clean label, raises at the budget."""

    def __init__(self, clf, x: np.ndarray, clean: int, budget: int, scores: bool) -> None:
        self.clf, self.x, self.clean, self.budget, self.scores = clf, x.reshape(-1).astype(np.float64), clean, budget, scores
        self.cache: dict[bytes, np.ndarray] = {}
        self.queries = 0
        self.nonfinite = 0  # queried images with NaN/inf pixels (ART's L2 SquareAttack makes some): counted, not asked
        self.best, self.best_x = np.inf, None
        self.nb_classes = 10
        self.clean_key = x.astype(np.float32).tobytes()
        self.cache[self.clean_key] = self._rows(x[None].astype(np.float32), count=False)[0]

    def _rows(self, batch: np.ndarray, count: bool = True) -> np.ndarray:
        bad = ~np.isfinite(batch.reshape(len(batch), -1)).all(axis=1)
        if bad.any():  # answered with the clean image's output, uninformative
            self.queries += int(bad.sum())
            self.nonfinite += int(bad.sum())
            out = np.empty((len(batch), self.nb_classes), dtype=np.float32)
            out[bad] = self.cache[self.clean_key]
            if (~bad).any():
                out[~bad] = self._rows(batch[~bad], count)
            return out
        if self.scores:
            labels, logp = self.clf.predict_scores(batch)
            out = logp.astype(np.float32)
            # ART judges by argmax; make it agree with the model's label
            out[np.arange(len(batch)), labels] = np.maximum(out[np.arange(len(batch)), labels], out.max(1) + 1e-6)
        else:
            labels = self.clf.predict(batch)
            out = np.eye(self.nb_classes, dtype=np.float32)[labels]
        if count:
            self.queries += len(batch)
            adversarial = labels != self.clean
            for img in batch[adversarial]:
                d = float(np.sqrt(((img.reshape(-1).astype(np.float64) - self.x) ** 2).sum()))
                if d < self.best:
                    self.best, self.best_x = d, img.copy()
        return out

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        batch = np.asarray(batch, dtype=np.float32)
        out = np.zeros((len(batch), self.nb_classes), dtype=np.float32)
        keys = [row.tobytes() for row in batch]
        new, seen = [], {}
        for i, k in enumerate(keys):
            if k not in self.cache and k not in seen:
                seen[k] = i
                new.append(i)
        allowed = new[: max(0, self.budget - self.queries)]
        if allowed:
            for i, row in zip(allowed, self._rows(batch[allowed])):
                self.cache[keys[i]] = row
        if len(allowed) < len(new):
            raise BudgetSpent
        for i, k in enumerate(keys):
            out[i] = self.cache[k]
        return out


def art_hsj(clf, x, clean, budget, seed):
    from art.attacks.evasion import HopSkipJump
    from art.estimators.classification import BlackBoxClassifier

    counter = Counter(clf, x, clean, budget, scores=False)
    est = BlackBoxClassifier(counter, (1, 28, 28), 10, clip_values=(0.0, 1.0))
    np.random.seed(seed)
    # ART's documented defaults: max_iter 50, max_eval 10000, init_eval 100, init_size 100
    attack = HopSkipJump(est, targeted=False, norm=2, max_iter=50, max_eval=10000, init_eval=100, init_size=100,
                         verbose=False)
    try:
        attack.generate(x[None], y=np.eye(10)[[clean]])
    except BudgetSpent:
        pass
    return counter


def art_square(clf, x, clean, budget, seed, schedule=True):
    import random

    from art.attacks.evasion import SquareAttack
    from art.estimators.classification import BlackBoxClassifierNeuralNetwork

    counter = Counter(clf, x, clean, budget, scores=True)
    est = BlackBoxClassifierNeuralNetwork(counter, (1, 28, 28), 10, clip_values=(0.0, 1.0))
    np.random.seed(seed)
    random.seed(seed)
    eps = CAP
    while counter.queries < budget:
        # ART's documented defaults but norm and eps: p_init 0.8, nb_restarts 1; max_iter = queries left
        attack = SquareAttack(est, norm=2, eps=eps, max_iter=budget - counter.queries, p_init=0.8, nb_restarts=1,
                              verbose=False)
        before = counter.queries
        try:
            attack.generate(x[None], y=np.eye(10)[[clean]])
        except BudgetSpent:
            break
        if not schedule or not np.isfinite(counter.best) or counter.queries == before:
            break
        eps = SHRINK * counter.best
    return counter


def art_mode(args) -> None:
    import logging

    logging.getLogger("art").setLevel(logging.ERROR)
    classifiers = load(args.models)
    images = digits(args.n)
    clean = {c.name: c.predict(images) for c in classifiers}
    b = args.queries
    problems, table, pairs = [], [], []
    variants = [("hsj", "HopSkipJump", art_hsj), ("nattack", "SquareAttack (eps schedule)", art_square)]
    if args.square_fixed:
        variants.append(("nattack", "square@10 (one run)", lambda *a: art_square(*a, schedule=False)))
    ours_done = {}
    for clf in classifiers:
        for attack, art_name, art_fn in variants:
            if attack not in ours_done or ours_done[attack][0] != clf.name:
                res, wall = run_auditor(clf, images, clean[clf.name], attack, b)
                problems += check(clf, images, clean[clf.name], res, b)
                ours_done[attack] = (clf.name, res, wall)
                table.append((clf.name, f"auditor {attack}", *summary(res.eps), res.queries.mean(), wall, None))
                print(f"  auditor {attack} {clf.name}: {wall:.1f} s, median {fmt(summary(res.eps)[1])}", file=sys.stderr,
                      flush=True)
            _, res, _ = ours_done[attack]
            started = time.perf_counter()
            eps, queries, nonfinite = np.full(len(images), np.nan), np.zeros(len(images)), np.zeros(len(images))
            for i in range(len(images)):
                counter = art_fn(clf, images[i], int(clean[clf.name][i]), b, i)
                if np.isfinite(counter.best) and counter.best <= CAP:
                    eps[i] = counter.best
                    # re-check ART's best too
                    if clf.predict(counter.best_x[None])[0] == clean[clf.name][i]:
                        problems.append(f"ART {art_name} {clf.name} image {i}: best does not flip (wrapper bug)")
                queries[i] = counter.queries
                nonfinite[i] = counter.nonfinite
            wall = time.perf_counter() - started
            table.append((clf.name, f"ART {art_name}", *summary(eps), queries.mean(), wall, nonfinite.mean()))
            ours = np.where(np.isfinite(res.eps), res.eps, np.inf)
            theirs = np.where(np.isfinite(eps), eps, np.inf)
            both = np.isfinite(ours) & np.isfinite(theirs)
            pairs.append((clf.name, f"auditor {attack} vs ART {art_name}", (ours <= theirs).mean(),
                          (ours < theirs).mean(), float(np.median(ours[both] / theirs[both])) if both.any() else np.nan,
                          both.sum()))
            print(f"  ART {art_name} {clf.name}: {wall:.1f} s, median {fmt(summary(eps)[1])}", file=sys.stderr, flush=True)
    print(f"\n{args.n} test digits, L2, {b} queries per image and model, cap {CAP}; {machine()}\n")
    print("| model | attack | adversary found | median eps (none = inf) | mean eps (found) | mean queries | "
          "of them NaN images | seconds |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for name, label, share, med, mean, q, wall, nan in table:
        print(f"| {name} | {label} | {100 * share:.0f}% | {fmt(med)} | {fmt(mean)} | {q:.0f} | "
              f"{'' if nan is None else f'{nan:.1f}'} | {wall:.1f} |")
    print("\nPer image (none = inf): share where auditor's eps <= ART's, share strictly smaller, and the median of "
          "auditor eps / ART eps over images where both found one.\n")
    print("| model | comparison | auditor <= ART | auditor < ART | median ratio | images with both |")
    print("|---|---|---:|---:|---:|---:|")
    for name, label, le, lt, ratio, n in pairs:
        print(f"| {name} | {label} | {100 * le:.0f}% | {100 * lt:.0f}% | {fmt(ratio)} | {n} |")
    report_problems(problems)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--budget", action="store_true", help="eps and wall time against the query budget")
    mode.add_argument("--confirm", action="store_true", help="one real run of one attack at one budget")
    mode.add_argument("--art", action="store_true", help="auditor vs ART at equal queries")
    parser.add_argument("--n", type=int, default=100, help="test digits (a multiple of 10; 10 per class per 100)")
    parser.add_argument("--budgets", default="500,1000,2000,4000", help="--budget: comma-separated query budgets")
    parser.add_argument("--attacks", default="nattack,hsj", help="--budget: comma-separated attacks")
    parser.add_argument("--attack", default="hsj", help="--confirm: the attack")
    parser.add_argument("--queries", type=int, default=2000, help="--confirm, --art: queries per image and model")
    parser.add_argument("--square-fixed", action="store_true", help="--art: also ART SquareAttack once at eps 10")
    parser.add_argument("--models", default=",".join(MODELS), help="comma-separated model paths")
    args = parser.parse_args()
    args.models = args.models.split(",")
    if args.budget:
        budget_mode(args)
    elif args.confirm:
        confirm_mode(args)
    else:
        art_mode(args)


if __name__ == "__main__":
    main()
