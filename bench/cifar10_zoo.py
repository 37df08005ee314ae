"""Train the CIFAR-10 validation zoo (issue #33): 20 classifiers of several families, recipes and
training lengths, on the 45,000-photo train split of ``scripts/cifar10_splits.py``. Run by hand,
in the background on one thread (about 45 minutes on 2 shared cores):

    python scripts/cifar10_splits.py
    nohup python bench/cifar10_zoo.py > .work/logs/zoo.log &        # .work/cifar10/zoo/

Every model takes float32 (N, 3, 32, 32) in [0, 1] and gives class scores. Network models are
saved as TorchScript (``NAME.pt``), scikit-learn ones as ONNX (``NAME.onnx``, via skl2onnx),
so the zoo is scanned from files exactly as a user's models are. ``zoo.json`` records each model's
family, recipe and training seconds. A zoo made only of models trained like the reference
classifier R flatters R and consensus (DESIGN section 7): these differ from R (a batch-normalised
ResNet-9, SGD, crops and flips, 30 epochs) in optimiser, augmentation, architecture, data size,
labels and input (one sees grayscale only), and include forests, a tree and linear models.
Labels of the held-out photos are never used here.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

ROOT = Path(__file__).resolve().parents[1]


def cnn(width: int = 32) -> nn.Module:
    w = width
    return nn.Sequential(nn.Conv2d(3, w, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(w, 2 * w, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Flatten(), nn.Linear(2 * w * 64, 256), nn.ReLU(), nn.Linear(256, 10))


def vgg() -> nn.Module:
    def block(ci, co):
        return [nn.Conv2d(ci, co, 3, padding=1, bias=False), nn.BatchNorm2d(co), nn.ReLU(),
                nn.Conv2d(co, co, 3, padding=1, bias=False), nn.BatchNorm2d(co), nn.ReLU(), nn.MaxPool2d(2)]

    return nn.Sequential(*block(3, 24), *block(24, 48), *block(48, 96), nn.Flatten(), nn.Dropout(0.3),
                         nn.Linear(96 * 16, 10))


class Basic(nn.Module):
    def __init__(self, ci: int, co: int, stride: int):
        super().__init__()
        self.a = nn.Sequential(nn.Conv2d(ci, co, 3, stride, 1, bias=False), nn.BatchNorm2d(co), nn.ReLU(),
                               nn.Conv2d(co, co, 3, 1, 1, bias=False), nn.BatchNorm2d(co))
        self.skip = (nn.Identity() if stride == 1 and ci == co
                     else nn.Sequential(nn.Conv2d(ci, co, 1, stride, bias=False), nn.BatchNorm2d(co)))

    def forward(self, x):
        return torch.relu(self.a(x) + self.skip(x))


def resnet8() -> nn.Module:
    """A ResNet-8 in He et al.'s CIFAR layout (16-32-64 channels, one block per stage)."""
    return nn.Sequential(nn.Conv2d(3, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU(),
                         Basic(16, 16, 1), Basic(16, 32, 2), Basic(32, 64, 2),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 10))


def mlp(width: int, dropout: float = 0.0) -> nn.Module:
    return nn.Sequential(nn.Flatten(), nn.Linear(3072, width), nn.ReLU(), nn.Dropout(dropout), nn.Linear(width, 10))


class Gray(nn.Module):
    """Sees luma only: a model that ignores colour."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net
        self.register_buffer("w", torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1))

    def forward(self, x):
        return self.net((x * self.w).sum(1, keepdim=True).expand(-1, 3, -1, -1))


def augment(x: torch.Tensor, gen: torch.Generator, crop: bool) -> torch.Tensor:
    flip = torch.rand(len(x), generator=gen) < 0.5
    x = torch.where(flip[:, None, None, None], x.flip(3), x)
    if crop:
        dy, dx = (int(v) for v in torch.randint(-3, 4, (2,), generator=gen))
        x = torch.roll(x, (dy, dx), (2, 3))
    return x


def fit(net, x, y, epochs: int, lr: float = 1e-3, seed: int = 0, checkpoints=(), aug: str = "none",
        batch: int = 128, sgd: bool = False):
    """Adam (or SGD with momentum and cosine decay) on cross-entropy; the net, or copies at the given epochs."""
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    opt = (torch.optim.SGD(net.parameters(), lr=lr, momentum=0.9, weight_decay=5e-4) if sgd
           else torch.optim.Adam(net.parameters(), lr=lr))
    steps = epochs * max(1, len(x) // batch)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps) if sgd else None
    saved = []
    for epoch in range(1, epochs + 1):
        net.train()
        order = torch.randperm(len(x), generator=gen)
        for i in range(max(1, len(x) // batch)):
            rows = order[i * batch:(i + 1) * batch]
            xb = x[rows] if aug == "none" else augment(x[rows], gen, crop=aug == "crop")
            loss = nn.functional.cross_entropy(net(xb), y[rows])
            opt.zero_grad()
            loss.backward()
            opt.step()
            if sched:
                sched.step()
        if epoch in checkpoints:
            saved.append(copy.deepcopy(net).eval())
    return saved if checkpoints else net.eval()


class Softmax(nn.Module):
    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, x):
        return torch.softmax(self.net(x), 1)


def save_torch(out: Path, name: str, net: nn.Module) -> None:
    torch.jit.script(Softmax(net.eval())).save(str(out / f"{name}.pt"))


def save_sklearn(out: Path, name: str, model) -> None:
    from skl2onnx import to_onnx

    onx = to_onnx(model, np.zeros((1, 3072), dtype=np.float32), options={id(model): {"zipmap": False}},
                  target_opset=17)
    (out / f"{name}.onnx").write_bytes(onx.SerializeToString())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=ROOT / ".work" / "cifar10")
    ap.add_argument("--out", type=Path, default=ROOT / ".work" / "cifar10" / "zoo")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    with np.load(args.data / "train.npz") as npz:
        xn = (npz["images"].transpose(0, 3, 1, 2) / 255.0).astype(np.float32)
        yn = npz["labels"].astype(np.int64)
    x, y = torch.from_numpy(xn), torch.from_numpy(yn)
    rng = np.random.default_rng(0)
    record_path = args.out / "zoo.json"
    record = json.loads(record_path.read_text()) if record_path.is_file() else {}

    def done(*names: str) -> bool:
        return all(n in record for n in names)

    def note(name: str, family: str, recipe: str, started: float) -> None:
        record[name] = {"family": family, "recipe": recipe, "seconds": round(time.perf_counter() - started, 1)}
        record_path.write_text(json.dumps(record, indent=2) + "\n")
        print(f"{name}: {record[name]['seconds']} s", flush=True)

    jobs = []

    def job(fn):
        jobs.append(fn)
        return fn

    @job
    def cnn_checkpoints():
        names = [f"cnn-epoch{e}" for e in (1, 2, 4, 8)]
        if done(*names):
            return
        t = time.perf_counter()
        for name, net in zip(names, fit(cnn(), x, y, 8, checkpoints=(1, 2, 4, 8))):
            save_torch(args.out, name, net)
            note(name, "CNN checkpoint", "2-conv CNN, Adam 1e-3, no augmentation; successive checkpoints", t)

    @job
    def cnn_sizes():
        for share in (0.03, 0.1, 0.3):
            name = f"cnn-{share * 100:g}pct"
            if done(name):
                continue
            t = time.perf_counter()
            rows = torch.from_numpy(rng.permutation(len(x))[: int(share * len(x))])
            save_torch(args.out, name, fit(cnn(), x[rows], y[rows], 10, seed=1))
            note(name, "CNN data size", f"2-conv CNN on {share:.0%} of the train split, 10 epochs", t)

    @job
    def cnn_noisy():
        if done("cnn-noisy30"):
            return
        t = time.perf_counter()
        noisy = y.clone()
        flip = torch.from_numpy(rng.random(len(y)) < 0.3)
        noisy[flip] = torch.from_numpy(rng.integers(0, 10, int(flip.sum())))
        save_torch(args.out, "cnn-noisy30", fit(cnn(), x, noisy, 6, seed=2))
        note("cnn-noisy30", "CNN", "2-conv CNN, 30% of labels replaced at random, 6 epochs", t)

    @job
    def gray():
        if done("cnn-gray"):
            return
        t = time.perf_counter()
        save_torch(args.out, "cnn-gray", fit(Gray(cnn()), x, y, 6, seed=3, aug="flip"))
        note("cnn-gray", "CNN", "2-conv CNN on luma only (no colour), flips, 6 epochs", t)

    @job
    def resnet():
        if done("resnet8"):
            return
        t = time.perf_counter()
        save_torch(args.out, "resnet8", fit(resnet8(), x, y, 12, lr=0.05, sgd=True, aug="crop", seed=4))
        note("resnet8", "ResNet", "ResNet-8 (He et al.'s CIFAR layout), SGD 0.05 cosine, flips and shifts, 12 epochs", t)

    @job
    def vgg_aug():
        if done("vgg-aug"):
            return
        t = time.perf_counter()
        save_torch(args.out, "vgg-aug", fit(vgg(), x, y, 10, lr=2e-3, aug="crop", seed=5, batch=256))
        note("vgg-aug", "VGG", "VGG-style 6-conv BN net, Adam 2e-3, flips and shifts, 10 epochs", t)

    @job
    def mlps():
        for width, drop, epochs, lr, name in ((64, 0.0, 10, 1e-3, "mlp64"), (512, 0.0, 10, 1e-3, "mlp512"),
                                              (1024, 0.5, 12, 5e-4, "mlp1024-dropout0.5"),
                                              (8, 0.0, 10, 1e-3, "mlp8"),
                                              (256, 0.0, 1, 1e-4, "mlp256-1epoch-lowlr")):
            if done(name):
                continue
            t = time.perf_counter()
            save_torch(args.out, name, fit(mlp(width, drop), x, y, epochs, lr=lr, seed=6))
            note(name, "MLP", f"MLP {width} units, dropout {drop}, Adam {lr:g}, {epochs} epochs", t)

    @job
    def linear():
        if done("linear"):
            return
        t = time.perf_counter()
        save_torch(args.out, "linear", fit(nn.Sequential(nn.Flatten(), nn.Linear(3072, 10)), x, y, 8, lr=1e-4, seed=7))
        note("linear", "linear", "softmax regression on pixels, Adam 1e-4, 8 epochs", t)

    @job
    def trees():
        from sklearn.ensemble import RandomForestClassifier
        from sklearn.tree import DecisionTreeClassifier

        rows = rng.permutation(len(xn))[:10000]
        flat = xn[rows].reshape(len(rows), -1)
        for name, family, model in (("rf10", "forest", RandomForestClassifier(10, max_depth=14, random_state=0)),
                                    ("rf50", "forest", RandomForestClassifier(50, max_depth=14, random_state=0)),
                                    ("tree-d8", "tree", DecisionTreeClassifier(max_depth=8, random_state=0))):
            if done(name):
                continue
            t = time.perf_counter()
            model.fit(flat, yn[rows])
            save_sklearn(args.out, name, model)
            note(name, family, f"{type(model).__name__} on 10,000 train photos' pixels", t)

    for fn in jobs:
        fn()
    print(f"zoo of {len(record)} models in {args.out}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
