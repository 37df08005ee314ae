"""How a scan scales out on Ray (issue 15): the same scan in one process and with 1 and 2 local
workers (same run, so the ratios are fair) and whether their results are identical; the two ways
to split a scan into work units; Ray's overhead per unit; the serial share of a scan. From these
docs/scaling.md extrapolates (Amdahl) to many workers.

    python bench/scale.py                                  # the issue's size: 20 models x 2,000 digits
    python bench/scale.py --models 6 --images 240          # a quick look
    python bench/scale.py --only driver                    # only the driver's costs (merge, writes)

Models: N small MLPs (TorchScript) trained for a moment on the train split with different seeds
and widths, so that no two are the same model (identical models would share every decode).
Images: the first --images test-split digits. Error distance and search error off (each adds its
own search, alike in every configuration).

1. CLI scans, one process and --workers 1, 2: wall seconds, the search's seconds, and whether
   results.json is identical to the single process's (instances, models, sign tests, ranking:
   everything but timings); where not, the first difference is printed.
2. The split, in-process on a 2-worker local cluster: "chunks" (a unit is a chunk of whole
   search batches with every model: decodes shared between models) against "models" (a chunk
   with one model); search seconds, decodes, identical or not.
3. Ray's cost per task: empty tasks through a 2-worker local cluster.
4. The driver's own costs, which do not shrink with more workers: merging a unit's output into
   the scan's (per unit) and one partial write of results.json (at most one per 5 s).
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

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(0, str(ROOT))

FLAGS = ["--format", "json", "--error-distance", "off", "--search-error", "off", "--force"]


def make_models(folder: Path, count: int) -> list[Path]:
    import torch
    from torch import nn

    from mnist_splits import mnist_splits

    x_train, y_train, _, _ = mnist_splits()
    x = torch.tensor(np.asarray(x_train, dtype=np.float32).reshape(len(x_train), -1))
    x = x / 255.0 if x.max() > 1 else x
    y = torch.tensor(np.asarray(y_train, dtype=np.int64))
    paths = []
    for k in range(count):
        torch.manual_seed(k)
        net = nn.Sequential(nn.Linear(784, 16 + 8 * (k % 5)), nn.ReLU(), nn.Linear(16 + 8 * (k % 5), 10))
        opt = torch.optim.Adam(net.parameters(), lr=3e-3)
        for _ in range(20 + 10 * (k % 4)):
            idx = torch.randint(0, len(x), (256,))
            opt.zero_grad()
            nn.functional.cross_entropy(net(x[idx]), y[idx]).backward()
            opt.step()
        path = folder / f"mlp{k:02d}.pt"
        torch.jit.script(net.eval()).save(str(path))
        paths.append(path)
    return paths


def make_images(folder: Path, count: int) -> Path:
    from mnist_splits import mnist_splits

    _, _, x_test, _ = mnist_splits()
    x = np.asarray(x_test[:count])
    path = folder / "digits.npy"
    np.save(path, x.reshape(len(x), 28, 28))
    return path


def comparable(res: dict) -> dict:
    """results.json without what legitimately differs between runs: timings and the date."""
    return {k: res[k] for k in ("instances", "models", "pairwise", "ranking", "complete")} | {
        "search": {k: v for k, v in res["search"].items() if not k.startswith("seconds")}}


def first_difference(a, b, path: str = "") -> str | None:
    if type(a) is not type(b):
        return f"{path}: {a!r} vs {b!r}"
    if isinstance(a, dict):
        for k in sorted(set(a) | set(b), key=str):
            if k not in a or k not in b:
                return f"{path}.{k}: only in one"
            d = first_difference(a[k], b[k], f"{path}.{k}")
            if d:
                return d
        return None
    if isinstance(a, list):
        if len(a) != len(b):
            return f"{path}: length {len(a)} vs {len(b)}"
        for i, (x, y) in enumerate(zip(a, b)):
            d = first_difference(x, y, f"{path}[{i}]")
            if d:
                return d
        return None
    return None if a == b else f"{path}: {a!r} vs {b!r}"


def scan(models: list[Path], images: Path, out: Path, extra: list[str]) -> tuple[float, dict]:
    exe = str(Path(sys.executable).with_name("auditor"))
    started = time.perf_counter()
    subprocess.run([exe, "scan", *map(str, models), str(images), "--out", str(out), *FLAGS, *extra],
                   check=True, capture_output=True, text=True)
    wall = time.perf_counter() - started
    return wall, json.loads((out / "results.json").read_text())


def splits(models: list[Path], images: Path, workers: int = 2,
           which: tuple[str, ...] = ("chunks", "models")) -> list[tuple[str, float, int, bool, int, float]]:
    """(split, search seconds, decodes, identical to the first, units, driver seconds merging
    units) for each split on one cluster."""
    from auditor import distributed
    from auditor.data import load_images
    from auditor.distributed import Bundle, Cluster, Spec, distributed_search
    from auditor.generators import load_generator
    from auditor.models import ModelOptions
    from auditor.search import SearchSettings

    gen = load_generator("mnist", device="cpu")
    x = load_images(images, gen.image_shape).images
    spec = Spec(Bundle.of(gen.path), tuple((p.stem, Bundle.of(p)) for p in models), ModelOptions(), False, None,
                threads=max(1, (os.cpu_count() or 1) // workers))
    rows, first = [], None
    merge, timing = distributed._merge, {"seconds": 0.0, "units": 0}

    def timed_merge(*args, **kwargs):  # the driver's own work per unit
        started = time.perf_counter()
        merge(*args, **kwargs)
        timing["seconds"] += time.perf_counter() - started
        timing["units"] += 1

    distributed._merge = timed_merge
    try:
        with Cluster(workers, None):
            for split in which:
                timing.update(seconds=0.0, units=0)
                out = distributed_search(spec, x, SearchSettings(), workers, split=split)
                dz = np.stack([out.results[p.stem].delta_z for p in models])
                same = first is None or np.array_equal(dz, first, equal_nan=True)
                first = dz if first is None else first
                rows.append((split, out.seconds_total, out.decodes, same, timing["units"], timing["seconds"]))
    finally:
        distributed._merge = merge
    return rows


def write_seconds(results: Path) -> tuple[float, float]:
    """(seconds to serialise and write this results.json, its size in MB): the driver's cost of
    one partial write (at most one per 5 s)."""
    doc = json.loads(results.read_text())
    started = time.perf_counter()
    tmp = results.with_suffix(".again")
    tmp.write_text(json.dumps(doc, indent=1))
    return time.perf_counter() - started, tmp.stat().st_size / 1e6


def ray_overhead(tasks: int = 200) -> float:
    """Seconds of Ray's own per task: empty tasks through a 2-worker local cluster."""
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        noop = ray.remote(num_cpus=1)(lambda: None)
        ray.get([noop.remote() for _ in range(20)])  # workers warm
        started = time.perf_counter()
        ray.get([noop.remote() for _ in range(tasks)])
        return (time.perf_counter() - started) / tasks * 2  # 2 workers in parallel: per task, one worker's time
    finally:
        ray.shutdown()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", type=int, default=20)
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--only", choices=["all", "driver"], default="all",
                        help="driver: only the driver's costs (merge per unit, one partial write), not the CLI runs")
    args = parser.parse_args()
    log = lambda msg: print(msg, file=sys.stderr, flush=True)  # noqa: E731
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        models = make_models(tmp, args.models)
        images = make_images(tmp, args.images)
        rows, notes = [], []
        single_wall, single = scan(models, images, tmp / "single", [])
        rows.append(("one process", single_wall, single["search"]["seconds"], "–"))
        log(f"one process: {single_wall:.1f} s")
        write_s, size_mb = write_seconds(tmp / "single" / "results.json")
        if args.only == "all":
            for workers in (1, 2):
                wall, res = scan(models, images, tmp / f"w{workers}", ["--workers", str(workers)])
                diff = first_difference(comparable(single), comparable(res))
                rows.append((f"`--workers {workers}`", wall, res["search"]["seconds"], "yes" if diff is None else "**no**"))
                if diff:
                    notes.append(f"--workers {workers} differs first at {diff}")
                log(f"--workers {workers}: {wall:.1f} s, identical: {diff is None}")
        split_rows = splits(models, images, which=("chunks", "models") if args.only == "all" else ("chunks",))
        log(f"splits: {split_rows}")
        overhead = ray_overhead()
    from auditor.search import SearchSettings, batch_size

    batch = batch_size(SearchSettings().resolved(), args.models)
    serial = single_wall - single["search"]["seconds"]
    print(f"{args.models} models x {args.images} images, {os.cpu_count()} cores, {time.strftime('%Y-%m-%d')}; "
          "error distance and search error off\n")
    print("| run | wall s | search s | ratio to one process (wall) | results identical to one process |")
    print("|---|---:|---:|---:|---|")
    for label, wall, search_s, same in rows:
        print(f"| {label} | {wall:.1f} | {search_s:.1f} | {single_wall / wall:.2f}× | {same} |")
    for note in notes:
        print(f"\n{note}")
    print("\n| split (2 workers, in-process) | search s | decodes | Δz identical to chunks | units | driver merge s |")
    print("|---|---:|---:|---|---:|---:|")
    for split, seconds, decodes, same, units, merge_s in split_rows:
        print(f"| {split} | {seconds:.1f} | {decodes:,} | {'yes' if same else '**no**'} | {units} | {merge_s:.3f} |")
    print(f"\nserial share (wall outside the search, one process): {serial:.1f} s of {single_wall:.1f} s "
          f"= {serial / single_wall:.1%}")
    print(f"search batches: {len(range(0, args.images, batch))} of {batch} images; "
          f"Ray overhead per task (empty tasks, 2 workers): {1000 * overhead:.2f} ms")
    print(f"one partial write of results.json ({size_mb:.1f} MB): {write_s:.2f} s")


if __name__ == "__main__":
    main()
