"""Train the cifar10 bundle's reference classifier R (issue #33): a quarter-width ResNet-9.

Trained on the 45,000 training photos of ``scripts/cifar10_splits.py`` with random crops
(4 pixels of reflected padding) and horizontal flips, SGD with Nesterov momentum, label
smoothing 0.1, a linear warm-up to the peak rate and a linear decay to zero. Measured once, at
the end, on the 5,000 held-out photos (never used to choose anything). Checkpoints every epoch
and resumes from the checkpoint, so a long run on a CPU can be stopped and continued.

    python scripts/cifar10_reference.py [--epochs 30] [--threads 1] [--out .work/cifar10/reference]
    python scripts/add_reference.py ...   # not needed: scripts/cifar10_bundle.py attaches it

Writes ``OUT/reference.npz`` (plain arrays) and ``OUT/record.json`` (the manifest record).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from auditor.reference import REFERENCE_FILE, RESNET, build_reference, predict_with  # noqa: E402


def load(path: Path) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    with np.load(path, allow_pickle=False) as npz:
        x = torch.from_numpy(npz["images"]).permute(0, 3, 1, 2).float().div(255)
        return x.contiguous(), torch.from_numpy(npz["labels"].astype(np.int64)), [str(v) for v in npz["class_names"]]


def augment(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Random 32x32 crops of the photo padded by 4 reflected pixels, and horizontal flips."""
    n = len(x)
    padded = torch.nn.functional.pad(x, (4, 4, 4, 4), mode="reflect")
    dy = torch.randint(0, 9, (n,), generator=gen)
    dx = torch.randint(0, 9, (n,), generator=gen)
    rows = (dy[:, None] + torch.arange(32)[None]).view(n, 1, 32, 1).expand(n, x.shape[1], 32, 40)
    out = padded.gather(2, rows)
    cols = (dx[:, None] + torch.arange(32)[None]).view(n, 1, 1, 32).expand(n, x.shape[1], 32, 32)
    out = out.gather(3, cols)
    flip = torch.rand(n, generator=gen) < 0.5
    out[flip] = out[flip].flip(3)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=ROOT / ".work" / "cifar10")
    ap.add_argument("--out", type=Path, default=ROOT / ".work" / "cifar10" / "reference")
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--lr", type=float, default=0.2)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    x, y, names = load(args.data / "train.npz")
    net = build_reference((3, 32, 32), len(names), RESNET).to(memory_format=torch.channels_last)
    decay, no_decay = [], []
    for name, p in net.named_parameters():
        (decay if p.ndim > 1 else no_decay).append(p)
    opt = torch.optim.SGD([{"params": decay, "weight_decay": 5e-4}, {"params": no_decay, "weight_decay": 0}],
                          lr=args.lr, momentum=0.9, nesterov=True)
    gen = torch.Generator().manual_seed(args.seed)
    args.out.mkdir(parents=True, exist_ok=True)
    ckpt = args.out / "checkpoint.pt"
    epoch, seconds = 0, 0.0
    if ckpt.is_file():
        state = torch.load(ckpt, weights_only=True)
        net.load_state_dict(state["net"])
        opt.load_state_dict(state["opt"])
        gen.set_state(state["rng"])
        epoch, seconds = int(state["epoch"]), float(state["seconds"])
        print(f"resumed at epoch {epoch}", flush=True)
    steps_per_epoch = len(x) // args.batch
    total, warm = args.epochs * steps_per_epoch, max(1, int(0.15 * args.epochs * steps_per_epoch))
    while epoch < args.epochs:
        started = time.perf_counter()
        net.train()
        order = torch.randperm(len(x), generator=gen)
        correct, loss_sum = 0, 0.0
        for i in range(steps_per_epoch):
            step = epoch * steps_per_epoch + i
            lr = args.lr * (step / warm if step < warm else max(0.0, (total - step) / (total - warm)))
            for g in opt.param_groups:
                g["lr"] = lr
            rows = order[i * args.batch : (i + 1) * args.batch]
            xb = augment(x[rows], gen).contiguous(memory_format=torch.channels_last)
            out = net(xb)
            loss = torch.nn.functional.cross_entropy(out, y[rows], label_smoothing=0.1)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            correct += int((out.argmax(1) == y[rows]).sum())
            loss_sum += float(loss.detach())
        epoch += 1
        seconds += time.perf_counter() - started
        torch.save({"net": net.state_dict(), "opt": opt.state_dict(), "rng": gen.get_state(), "epoch": epoch,
                    "seconds": seconds}, ckpt)
        print(f"epoch {epoch}/{args.epochs}: loss {loss_sum / steps_per_epoch:.3f}, train accuracy "
              f"{correct / (steps_per_epoch * args.batch):.3f}, {seconds:.0f} s", flush=True)
    net.eval()
    xh, yh, _ = load(args.data / "holdout.npz")
    predicted = predict_with(net, xh.numpy())
    truth = yh.numpy()
    record = {
        "file": REFERENCE_FILE, "architecture": RESNET, "class_names": names, "input": "float32 NCHW in [0, 1]",
        "training": {"n_train": int(len(x)), "epochs": args.epochs, "batch_size": args.batch, "lr": args.lr,
                     "seed": args.seed, "seconds": round(seconds, 1),
                     "recipe": "SGD Nesterov 0.9, weight decay 5e-4, label smoothing 0.1, warm-up 15% then linear "
                               "decay; random crops (reflect pad 4) and horizontal flips",
                     "command": "python scripts/cifar10_splits.py && python scripts/cifar10_reference.py "
                                f"--epochs {args.epochs} --threads {args.threads}"},
        "accuracy": round(float((predicted == truth).mean()), 4),
        "per_class_accuracy": {names[k]: round(float((predicted[truth == k] == k).mean()), 4)
                               for k in range(len(names))},
        "n_images": int(len(truth)),
    }
    state = {k: v.detach().cpu().numpy() for k, v in net.state_dict().items()}
    np.savez(args.out / REFERENCE_FILE, **state)
    (args.out / "record.json").write_text(json.dumps(record, indent=2) + "\n")
    print(f"held-out accuracy {record['accuracy']:.4f} on {len(truth)} photos; wrote {args.out}", flush=True)


if __name__ == "__main__":
    main()
