"""Split the e-SNLI dev pairs once, by premise, into train (~80%) and holdout (~20%).

    .venv/bin/python scripts/snli_splits.py [--src ../shared/data/esnli-dev.tsv] [--out .work/snli]

All hypotheses of a premise go to the same side, so no holdout premise was seen in
training. Deterministic: premises are ordered, then shuffled with a fixed seed.
"""

from __future__ import annotations

import argparse
import collections
import random
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SRC = ROOT.parent / "shared" / "data" / "esnli-dev.tsv"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--src", default=str(DEFAULT_SRC))
    ap.add_argument("--out", default=str(ROOT / ".work" / "snli"))
    ap.add_argument("--holdout", type=float, default=0.2)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)

    lines = Path(a.src).read_text(encoding="utf-8").splitlines()
    header, rows = lines[0], lines[1:]
    premises = sorted({r.split("\t", 1)[0] for r in rows})
    random.Random(a.seed).shuffle(premises)
    n_hold = round(len(premises) * a.holdout)
    held = set(premises[:n_hold])
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    sides: dict[str, list[str]] = {"train": [], "holdout": []}
    for r in rows:
        sides["holdout" if r.split("\t", 1)[0] in held else "train"].append(r)
    for name, rs in sides.items():
        (out / f"{name}.tsv").write_text("\n".join([header] + rs) + "\n", encoding="utf-8")
        labels = collections.Counter(r.split("\t")[2] for r in rs)
        n_prem = len({r.split("\t", 1)[0] for r in rs})
        print(f"{name}: {len(rs)} pairs, {n_prem} premises, labels {dict(sorted(labels.items()))}"
              f" -> {out / (name + '.tsv')}")


if __name__ == "__main__":
    main()
