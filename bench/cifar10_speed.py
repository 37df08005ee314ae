"""How long a default photo scan takes (issue #33 item 8): 4 ResNet-20-sized models x N held-out
photos with the bundled cifar10 generator, every default on (error distances, search error,
naturalness), on this machine. Run by hand after scripts/cifar10_splits.py:

    python bench/cifar10_speed.py [--n 1000] [--epochs 1] [--threads 2]

The four models are ResNet-20s (He et al.'s CIFAR layout, 16-32-64 channels, 3 blocks per stage,
0.27 M parameters, 41 M multiply-adds per photo) trained for ``--epochs`` on the train split with
four seeds (cached in .work/cifar10/speed/): their cost per query is a ResNet-20's whatever their
accuracy. Prints seconds per image and model, the shares spent in the generator, the models and
R, and the peak resident memory; the figures go into docs/benchmarks.md by hand.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from cifar10_zoo import Basic, Softmax, fit  # noqa: E402


def resnet20() -> nn.Module:
    layers: list[nn.Module] = [nn.Conv2d(3, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU()]
    width = 16
    for stage, channels in enumerate((16, 32, 64)):
        for block in range(3):
            layers.append(Basic(width, channels, 2 if stage and not block else 1))
            width = channels
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 10))


def models(folder: Path, epochs: int) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"resnet20-seed{s}.pt" for s in range(4)]
    if all(p.is_file() for p in paths):
        return paths
    with np.load(ROOT / ".work" / "cifar10" / "train.npz") as npz:
        x = torch.from_numpy((npz["images"].transpose(0, 3, 1, 2) / 255.0).astype(np.float32))
        y = torch.from_numpy(npz["labels"].astype(np.int64))
    for seed, path in enumerate(paths):
        if not path.is_file():
            net = fit(resnet20(), x, y, epochs, lr=0.05, sgd=True, aug="crop", seed=seed)
            torch.jit.script(Softmax(net)).save(str(path))
    return paths


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--models", nargs="*", type=Path, default=None,
                    help="model files to scan instead of the four ResNet-20s (e.g. zoo models)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    import auditor

    paths = args.models or models(ROOT / ".work" / "cifar10" / "speed", args.epochs)
    with np.load(ROOT / ".work" / "cifar10" / "holdout.npz") as npz:
        photos = npz["images"][1: 2 * args.n: 2]  # the odd rows: the test half of the validation split
        labels = npz["labels"][1: 2 * args.n: 2]  # only to judge the figures, after the scan
    started = time.perf_counter()
    auditor.scan([str(p) for p in paths], photos, out=ROOT / ".work" / "speed-report",
                         force=True)
    seconds = time.perf_counter() - started
    res = json.loads((ROOT / ".work" / "speed-report" / "results.json").read_text())  # what the scan wrote
    s = res["search"]
    pairs = len(paths) * len(photos)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    report = {
        "photos": len(photos), "models": len(paths), "threads": args.threads, "seconds": round(seconds, 1),
        "seconds_per_image_and_model": round(seconds / pairs, 4),
        "search_seconds": s["seconds"], "generator_seconds": s["seconds_generator"],
        "model_seconds": s["seconds_classifier"],
        "search_error_seconds": (res.get("search_error") or {}).get("seconds"),
        "decodes": s["decodes"], "peak_rss_mib": round(peak),
        "accuracy_proxy": {m["name"]: m.get("agreement_with_reference") for m in res["models"]},
        "search_error": {m["name"]: m.get("search_error") for m in res["models"]},
    }
    report["models_scanned"] = [p.name for p in paths]
    report["spearman_with_accuracy"] = rank_check(res, photos, labels)
    report["model_seconds_each"] = s["seconds_classifiers"]
    print(json.dumps(report, indent=2))


def rank_check(res: dict, photos: np.ndarray, labels: np.ndarray) -> dict:
    """Spearman rho of the scan's mean dz and agreement with R with each model's accuracy on the
    scanned photos (their labels are used here only)."""
    from scipy.stats import spearmanr

    from auditor.generators import load_generator
    from auditor.models import load_classifier

    shape = load_generator("cifar10", device="cpu").image_shape
    x = (photos.transpose(0, 3, 1, 2) / 255.0).astype(np.float32)
    accuracy = []
    for m in res["models"]:
        clf = load_classifier(Path(m["path"]), m["name"], shape)
        pred = np.concatenate([clf.predict(x[i:i + 100]) for i in range(0, len(x), 100)])
        accuracy.append(float((pred == labels).mean()))
    return {f: round(float(spearmanr(accuracy, [m[f] for m in res["models"]])[0]), 3)
            for f in ("mean_delta_z", "agreement_with_reference")}


if __name__ == "__main__":
    main()
