"""Side-by-side identity check for refactors (issue #28): run the same scans with the code of a
base commit and with the working tree, and compare their results.json (all fields but timings
and ``created``).

    python scripts/identity_check.py [--base COMMIT] [--only NAME ...]

The base commit's code is checked out into a temporary git worktree and run with PYTHONPATH
pointing at it, with this environment's Python and packages; both runs use this repository's
examples. Prints one line per case and exits 1 where any differs.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from scale import first_difference  # noqa: E402  (bench/scale.py compares two scans the same way)
DIGITS = ["examples/models/lenet.onnx", "examples/models/mlp.pt", "examples/models/rf5.onnx",
          "examples/digits"]
CASES = {
    "example": [*DIGITS, "--limit", "40", "--seed", "0"],
    "pixel": [*DIGITS, "--limit", "12", "--seed", "1", "--pixel-attack", "auto",
              "--pixel-queries", "300"],
    "workers": [*DIGITS, "--limit", "24", "--seed", "2", "--workers", "2", "--error-distance", "off"],
    "search-error": [*DIGITS[:2], DIGITS[-1], "--limit", "12", "--search-error", "4",
                     "--batch", "4", "--error-distance", "off"],
    "photos": ["examples/cifar10/models/resnet8.onnx", "examples/cifar10/models/mlp64.pt",
               "examples/cifar10/photos", "--limit", "8", "--seed", "0"],
    "text": ["examples/text/models/logreg.onnx", "examples/text/models/nb500.onnx",
             "examples/text/pairs.tsv", "--limit", "10", "--seed", "0"],
}
RESUMED = "resumed"  # the example, stopped after its first partial write and resumed
RUN = ("import sys; sys.argv[0] = 'auditor'; sys.path.insert(0, sys.argv[1]); import auditor.cli as c; "
       "assert c.__file__.startswith(sys.argv.pop(1)), c.__file__; c.app()")


def scan(tree: Path, args: list[str], out: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-c", RUN, str(tree), "scan", *args, "--out", str(out), "--format", "json",
           "--force"]
    environment = os.environ | {"PYTHONPATH": str(tree), "COLUMNS": "200"} | (env or {})
    # run in the checkout itself: Ray workers import auditor from the driver's working folder
    return subprocess.run(cmd, cwd=tree, env=environment, capture_output=True, text=True)


def comparable(value, tree: Path, ignore: frozenset = frozenset()):
    """results.json without what legitimately differs between runs: timings, the date, and the
    checkout's own path (where the bundled generators lie); and the keys in ``ignore`` (fields
    a change adds or changes on purpose)."""
    if isinstance(value, dict):
        return {k: comparable(v, tree, ignore) for k, v in value.items()
                if k != "created" and not k.startswith("seconds") and k not in ignore}
    if isinstance(value, list):
        return [comparable(v, tree, ignore) for v in value]
    if isinstance(value, str) and value.startswith(str(tree) + "/"):
        return "<checkout>" + value[len(str(tree)):]
    return value


def run_case(name: str, tree: Path, out: Path) -> dict:
    if name == RESUMED:
        args = [*CASES["example"], "--batch", "8"]
        stopped = scan(tree, args, out, {"AUDITOR_FAULT": "between-batches:INT"})
        if stopped.returncode != 130:
            raise RuntimeError(f"{name}: the stop did not stop (exit {stopped.returncode}): {stopped.stderr[-500:]}")
        done = scan(tree, [*args, "--resume"], out)
    else:
        done = scan(tree, CASES[name], out)
    if done.returncode != 0:
        raise RuntimeError(f"{name} with {tree}: exit {done.returncode}: {done.stderr[-800:]}")
    return json.loads((out / "results.json").read_text())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--base", default="a4caac2", help="the commit to compare against")
    ap.add_argument("--only", nargs="*", default=None, help=f"cases: {', '.join([*CASES, RESUMED])}")
    ap.add_argument("--ignore", nargs="*", default=[],
                    help="keys left out wherever they appear (e.g. scan_key chosen: fields a change "
                         "adds on purpose)")
    args = ap.parse_args()
    ignore = frozenset(args.ignore)
    names = args.only or [*CASES, RESUMED]
    failed = 0
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp) / "base"
        subprocess.run(["git", "worktree", "add", "--detach", "-q", str(base), args.base], cwd=ROOT, check=True)
        try:
            for name in names:
                old = comparable(run_case(name, base, Path(tmp) / f"{name}-base"), base, ignore)
                new = comparable(run_case(name, ROOT, Path(tmp) / f"{name}-new"), ROOT, ignore)
                diff = first_difference(old, new)
                failed += diff is not None
                print(f"{name}: {'identical' if diff is None else 'DIFFERS at ' + diff}", flush=True)
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(base)], cwd=ROOT, check=False)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
