"""How a scan scales out on Ray: the same scan in one process and with 1 and 2 local workers
(same run, so the ratio is fair), Ray's overhead per work unit, and the serial share of a scan,
from which docs/scaling.md extrapolates (Amdahl) to many workers.

    python bench/scale.py --models 20 --images 2000        # the issue's size (hours on 2 cores)
    python bench/scale.py --models 6 --images 240          # what docs/scaling.md measured here

Models: N small MLPs (TorchScript) trained for a moment on the train split with different seeds
and widths, so that no two are the same model (identical models would share every decode).
Images: the first --images test-split digits. Error distance off (it doubles every figure alike).
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


def scan(models: list[Path], images: Path, out: Path, extra: list[str]) -> tuple[float, dict]:
    exe = str(Path(sys.executable).with_name("auditor"))
    started = time.perf_counter()
    subprocess.run([exe, "scan", *map(str, models), str(images), "--out", str(out), "--format", "json",
                    "--error-distance", "off", "--force", *extra], check=True, capture_output=True, text=True)
    wall = time.perf_counter() - started
    return wall, json.loads((out / "results.json").read_text())


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
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        models = make_models(tmp, args.models)
        images = make_images(tmp, args.images)
        rows = []
        single_wall, single = scan(models, images, tmp / "single", [])
        rows.append(("one process", single_wall, single["search"]["seconds"]))
        for workers in (1, 2):
            wall, res = scan(models, images, tmp / f"w{workers}", ["--workers", str(workers)])
            same = res["instances"] == single["instances"] and res["pairwise"] == single["pairwise"]
            rows.append((f"--workers {workers}" + ("" if same else " (RESULTS DIFFER)"), wall, res["search"]["seconds"]))
        overhead = ray_overhead()
    serial = single_wall - single["search"]["seconds"]
    print(f"{args.models} models x {args.images} images, {os.cpu_count()} cores, "
          f"{time.strftime('%Y-%m-%d')}; error distance off\n")
    print("| run | wall s | search s | ratio to one process |")
    print("|---|---:|---:|---:|")
    for label, wall, search_s in rows:
        print(f"| {label} | {wall:.1f} | {search_s:.1f} | {single_wall / wall:.2f}× |")
    units = len(range(0, args.images, max(1, 8192 // (8 * args.models))))
    print(f"\nserial share (wall outside the search, one process): {serial:.1f} s of {single_wall:.1f} s "
          f"= {serial / single_wall:.1%}")
    print(f"Ray overhead per task (empty tasks, 2 workers): {1000 * overhead:.2f} ms; search batches: {units}")


if __name__ == "__main__":
    main()
