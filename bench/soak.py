"""Soak benchmark (issue #20), run by hand: does a long-lived process leak memory or file
descriptors, and do parallel CLI processes into separate folders give identical results?

    python bench/soak.py                 # 200 scans in one process, then 4 CLI processes at once
    python bench/soak.py --scans 50 --processes 2

1. ``--scans`` small scans (examples/models/mlp.pt, 8 example digits, --refine-steps 0, JSON
   only) through the CLI's test runner in this one process, each into its own folder; resident
   memory (VmRSS) and open descriptors logged every 10 scans; every results.json must equal the first.
2. ``--processes`` real `auditor scan` processes started together into separate folders (60
   digits each); their peak resident memory and descriptors sampled every 0.1 s; results equal.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCAN = ["scan", str(ROOT / "examples/models/mlp.pt"), str(ROOT / "examples/digits"), "--refine-steps", "0",
        "--format", "json", "--seed", "0"]


def rss_mb(pid: int | str = "self") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def open_fds(pid: int | str = "self") -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def comparable(path: Path) -> dict:
    res = json.loads(path.read_text())
    search = {k: v for k, v in res["search"].items() if not k.startswith("seconds")}
    return {"search": search, "models": res["models"], "instances": res["instances"]}


def in_process(scans: int, work: Path) -> list[tuple[int, float, int]]:
    from typer.testing import CliRunner

    from auditor.cli import app

    runner, log, first = CliRunner(), [], None
    start = time.perf_counter()
    for k in range(1, scans + 1):
        out = work / f"scan-{k:03d}"
        result = runner.invoke(app, [*SCAN, "--limit", "8", "--out", str(out)])
        if result.exit_code != 0:
            raise SystemExit(f"scan {k} failed: {result.output[-2000:]}")
        now = comparable(out / "results.json")
        first = first or now
        if now != first:
            raise SystemExit(f"scan {k}: results differ from the first scan's")
        if k == 1 or k % 10 == 0:
            log.append((k, rss_mb(), open_fds()))
            print(f"  scan {k:4d}: RSS {log[-1][1]:7.1f} MB, open fds {log[-1][2]}", flush=True)
    print(f"  {scans} scans in {time.perf_counter() - start:.0f} s, all results identical")
    return log


def parallel(processes: int, work: Path) -> list[tuple[float, int, float]]:
    exe = str(Path(sys.executable).with_name("auditor"))
    start = time.perf_counter()
    procs = [subprocess.Popen([exe, *SCAN, "--out", str(work / f"proc-{k}")], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL) for k in range(processes)]
    peak = {p.pid: (0.0, 0) for p in procs}
    while any(p.poll() is None for p in procs):
        for p in procs:
            try:
                rss, fds = rss_mb(p.pid), open_fds(p.pid)
                peak[p.pid] = (max(peak[p.pid][0], rss), max(peak[p.pid][1], fds))
            except (FileNotFoundError, ProcessLookupError):
                pass
        time.sleep(0.1)
    seconds = time.perf_counter() - start
    codes = [p.returncode for p in procs]
    if any(codes):
        raise SystemExit(f"a parallel scan failed: exit codes {codes}")
    results = [comparable(work / f"proc-{k}" / "results.json") for k in range(processes)]
    if any(r != results[0] for r in results):
        raise SystemExit("parallel scans gave different results")
    rows = [(peak[p.pid][0], peak[p.pid][1], seconds) for p in procs]
    for k, (rss, fds, _) in enumerate(rows):
        print(f"  process {k}: peak RSS {rss:.0f} MB, peak open fds {fds}")
    print(f"  {processes} processes in {seconds:.0f} s, exit 0, results identical")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scans", type=int, default=200)
    parser.add_argument("--processes", type=int, default=4)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        print(f"{args.scans} scans in one process:")
        in_process(args.scans, Path(tmp))
        print(f"{args.processes} CLI processes in parallel:")
        parallel(args.processes, Path(tmp))


if __name__ == "__main__":
    main()
