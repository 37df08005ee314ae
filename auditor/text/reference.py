"""Reference classifier R for (premise, hypothesis) pairs in SNLI's classes, or for single
sentences in a trained bundle's own classes (``config["input"]``: pairs or sentences; a sentence
is featurised as a hypothesis with an empty premise, from its unigrams and bigrams).

Features (hashed with CRC-32, only those seen at least ``min_count`` times in training are
kept): hypothesis unigrams and bigrams; hypothesis words absent from the premise; cross
pairs premise word x new hypothesis word; overlap share, new-word count, length
difference and negation bins. Model: a linear softmax over the summed feature weights, or
a small MLP (summed feature embeddings -> ReLU layer -> 3). Run time is numpy only;
``reference.npz`` holds plain arrays (no pickle). :class:`TextReferenceClassifier` is R as the
scan sees it: a :class:`~auditor.models.protocol.Classifier` of object arrays of pairs.
"""

from __future__ import annotations

import json
import zlib
from pathlib import Path
from typing import Sequence

import numpy as np

from ..models.outputs import log_probabilities
from ..models.protocol import ClassifierBase
from .models import _distinct

CLASS_NAMES = ["entailment", "neutral", "contradiction"]
NEGATIONS = frozenset("not no n't nobody never nothing none nowhere neither nor cannot".split())
STOP = frozenset("a an the . , is are of in on and to with at".split())

DEFAULT_FEATURES = ("uni", "bi", "new", "cross", "bins")
SENTENCE_FEATURES = ("uni", "bi")


def _h(s: str) -> int:
    return zlib.crc32(s.encode("utf-8"))


def pair_features(premise: str, hypothesis: str,
                  kinds: Sequence[str] = DEFAULT_FEATURES) -> list[int]:
    """CRC-32 hashes of a pair's features (duplicates kept: they count)."""
    p = premise.split()
    h = hypothesis.split()
    ps = set(p)
    feats: list[str] = []
    new = [w for w in h if w not in ps]
    if "uni" in kinds:
        feats += ["u:" + w for w in h]
    if "bi" in kinds:
        hh = ["<s>"] + h
        pb = set(zip(p, p[1:]))
        for a, b in zip(hh, hh[1:]):
            feats.append("b:" + a + "_" + b)
            if a != "<s>":
                feats.append("bo:1" if (a, b) in pb else "bo:0")
    if "new" in kinds:
        feats += ["n:" + w for w in new]
    if "cross" in kinds:
        pc = [w for w in ps if w not in STOP]
        for hw in set(new):
            if hw in STOP:
                continue
            feats += ["x:" + pw + "|" + hw for pw in pc]
    if "bins" in kinds:
        share = 1.0 - len(new) / max(1, len(h))
        feats.append("ov:%d" % round(share * 10))
        feats.append("nn:%d" % min(len(new), 8))
        feats.append("ld:%d" % max(-6, min(6, (len(h) - len(p)) // 2)))
        feats.append("hl:%d" % min(len(h) // 2, 10))
        neg_h = [w for w in h if w in NEGATIONS]
        neg_p = [w for w in p if w in NEGATIONS]
        feats.append("ng:%d%d" % (bool(neg_h), bool(neg_p)))
        if len(new) == 0:
            feats.append("allin")
    feats.append("bias")
    return [_h(f) for f in feats]


class TextReference:
    """R: predicts its classes (SNLI's by default) for (premise, hypothesis) pairs, or for
    sentences where ``config["input"]`` says so (give those as ("", sentence) pairs)."""

    def __init__(self, hashes: np.ndarray, table: np.ndarray,
                 layers: list[tuple[np.ndarray, np.ndarray]], config: dict,
                 class_names: Sequence[str] | None = None):
        self.class_names = list(class_names or CLASS_NAMES)
        order = np.argsort(hashes)
        self.hashes = np.asarray(hashes, np.int64)[order]
        self.table = np.asarray(table, np.float32)[order]  # (F, k)
        self.layers = [(np.asarray(w, np.float32), np.asarray(b, np.float32)) for w, b in layers]
        self.config = dict(config)
        self.kinds = tuple(self.config.get("features", DEFAULT_FEATURES))
        self.pairs = self.config.get("input", "pairs") == "pairs"
        if self.layers and self.layers[-1][0].shape[1] != len(self.class_names):
            raise ValueError(f"{len(self.class_names)} class names for "
                             f"{self.layers[-1][0].shape[1]} outputs")

    @property
    def architecture(self) -> str:
        return self.config.get("architecture", "linear")

    def _rows(self, pairs: Sequence[tuple[str, str]]) -> tuple[np.ndarray, np.ndarray]:
        idx: list[int] = []
        starts = np.zeros(len(pairs), np.int64)
        for i, (p, h) in enumerate(pairs):
            starts[i] = len(idx)
            idx += pair_features(p, h, self.kinds)
        hs = np.asarray(idx, np.int64)
        pos = np.searchsorted(self.hashes, hs)
        pos = np.minimum(pos, len(self.hashes) - 1)
        found = self.hashes[pos] == hs
        return pos, found, starts

    def _hidden(self, pairs: Sequence[tuple[str, str]]) -> np.ndarray:
        pos, found, starts = self._rows(pairs)
        vals = np.where(found[:, None], self.table[pos], 0.0).astype(np.float32)
        if not len(pairs):
            return np.zeros((0, self.table.shape[1]), np.float32)
        return np.add.reduceat(vals, starts, axis=0)

    def predict_scores(self, pairs: Sequence[tuple[str, str]]) -> np.ndarray:
        """(N, K) float32 class probabilities."""
        if len(pairs) == 0:
            return np.zeros((0, len(self.class_names)), np.float32)
        x = self._hidden(pairs)
        for i, (w, b) in enumerate(self.layers):
            x = x @ w + b
            if i < len(self.layers) - 1:
                x = np.maximum(x, 0.0)
        x = x - x.max(axis=1, keepdims=True)
        e = np.exp(x)
        return (e / e.sum(axis=1, keepdims=True)).astype(np.float32)

    def predict(self, pairs: Sequence[tuple[str, str]]) -> np.ndarray:
        return self.predict_scores(pairs).argmax(axis=1).astype(np.int64)

    def save(self, directory: str | Path) -> Path:
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        arrays = {"hashes": self.hashes, "table": self.table.astype(np.float16),
                  "config": np.frombuffer(json.dumps(self.config, sort_keys=True).encode(),
                                          np.uint8),
                  "class_names": np.array(self.class_names)}
        for i, (w, b) in enumerate(self.layers):
            arrays[f"w{i}"] = w.astype(np.float16)
            arrays[f"b{i}"] = b.astype(np.float16)
        path = d / "reference.npz"
        np.savez_compressed(path, **arrays)
        return path

    @classmethod
    def load(cls, directory: str | Path) -> "TextReference":
        path = Path(directory)
        if path.is_dir():
            path = path / "reference.npz"
        with np.load(path, allow_pickle=False) as f:
            config = json.loads(bytes(f["config"]).decode())
            layers = []
            i = 0
            while f"w{i}" in f.files:
                layers.append((f[f"w{i}"].astype(np.float32), f[f"b{i}"].astype(np.float32)))
                i += 1
            return cls(f["hashes"], f["table"].astype(np.float32), layers, config,
                       [str(c) for c in f["class_names"]])


class TextReferenceClassifier(ClassifierBase):
    """R over a scan's object arrays of pairs (N, 2) or sentences (N,), as a
    :class:`~auditor.models.protocol.Classifier`: labels are ids in R's class order, each
    distinct text scored once."""

    name = "reference"
    format = "text reference"
    has_scores = True

    def __init__(self, reference: TextReference, record: dict):
        self.model, self.record = reference, record
        self.pairs = reference.pairs  # whether R judges (premise, hypothesis) pairs or sentences
        self.class_names = list(reference.class_names)
        self.n_outputs = len(self.class_names)

    @property
    def label(self) -> str:
        return "the reference classifier"

    @property
    def contract(self) -> TextReferenceClassifier:
        return self

    def describe(self) -> str:
        return "text pairs (N, 2) [premise, hypothesis]" if self.pairs else "sentences (N,)"

    def _distinct_pairs(self, items: np.ndarray) -> tuple[list[tuple[str, str]], np.ndarray]:
        items = np.asarray(items, dtype=object)
        items = items.reshape(-1, 2) if self.pairs else items.reshape(-1)
        _, first, inverse = _distinct(items)
        if self.pairs:
            return [tuple(r) for r in items[first].tolist()], inverse
        return [("", s) for s in items[first].tolist()], inverse

    def predict(self, items: np.ndarray) -> np.ndarray:
        pairs, inverse = self._distinct_pairs(items)
        return self.model.predict(pairs)[inverse]

    def predict_scores(self, items: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        pairs, inverse = self._distinct_pairs(items)
        probabilities = self.model.predict_scores(pairs)[inverse]
        return probabilities.argmax(axis=1).astype(np.int64), log_probabilities(probabilities,
                                                                                self.label)


def train_reference(pairs: Sequence[tuple[str, str]], labels: Sequence[int],
                    architecture: str = "linear", hidden: int = 32, epochs: int = 30,
                    lr: float = 0.01, weight_decay: float = 1e-5,
                    min_count: int = 2, features: Sequence[str] = DEFAULT_FEATURES, seed: int = 0,
                    batch_size: int = 128, dropout: float = 0.0,
                    class_names: Sequence[str] | None = None,
                    sentences: bool = False) -> TextReference:
    """Train R with torch (Adam on an EmbeddingBag). ``architecture``: linear | mlp;
    ``class_names``: those of labels 0..K-1 (default SNLI's three); ``sentences``: R judges
    single sentences, given as ("", sentence) pairs."""
    import torch
    from torch import nn

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    feats = [pair_features(p, h, features) for p, h in pairs]
    counts: dict[int, int] = {}
    for f in feats:
        for x in set(f):
            counts[x] = counts.get(x, 0) + 1
    kept = np.array(sorted(x for x, c in counts.items() if c >= min_count), np.int64)
    index = {int(x): i for i, x in enumerate(kept)}
    rows = [[index[x] for x in f if x in index] for f in feats]
    y = torch.tensor(np.asarray(labels), dtype=torch.long)
    names = list(class_names or CLASS_NAMES)
    n_classes = len(names)
    k = n_classes if architecture == "linear" else hidden
    bag = nn.EmbeddingBag(len(kept), k, mode="sum")
    nn.init.normal_(bag.weight, std=0.01)
    head = (nn.Sequential() if architecture == "linear"
            else nn.Sequential(nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden, n_classes)))
    if architecture == "mlp":
        bias = nn.Parameter(torch.zeros(hidden))
    else:
        bias = nn.Parameter(torch.zeros(n_classes))
    params = list(bag.parameters()) + list(head.parameters()) + [bias]
    opt = torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    n = len(rows)
    for _ in range(epochs):
        bag.train()
        head.train()
        perm = rng.permutation(n)
        for s in range(0, n, batch_size):
            b = perm[s: s + batch_size]
            flat = [x for i in b for x in rows[i]]
            offs = np.cumsum([0] + [len(rows[i]) for i in b[:-1]])
            x = bag(torch.tensor(flat, dtype=torch.long),
                    torch.tensor(offs, dtype=torch.long)) + bias
            loss = nn.functional.cross_entropy(head(x), y[b])
            opt.zero_grad()
            loss.backward()
            opt.step()
    table = bag.weight.detach().numpy().copy()
    config = {"architecture": architecture, "features": list(features), "hidden": hidden,
              "epochs": epochs, "lr": lr, "weight_decay": weight_decay, "min_count": min_count,
              "seed": seed, "dropout": dropout, "n_features": int(len(kept)),
              "input": "sentences" if sentences else "pairs"}
    if architecture == "linear":
        # the bias is folded into an identity layer so the run-time path stays uniform
        layers = [(np.eye(n_classes, dtype=np.float32), bias.detach().numpy().copy())]
    else:
        lin = head[2]
        layers = [(np.eye(hidden, dtype=np.float32), bias.detach().numpy().copy()),
                  (lin.weight.detach().numpy().T.copy(), lin.bias.detach().numpy().copy())]
    return TextReference(kept, table, layers, config, names)
