"""Small text bundles, pair files and scikit-learn pair models (ONNX) for the text tests."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

SUBJECTS = ["a man", "a woman", "a dog", "two kids", "a girl", "an old man", "the boy", "a cat"]
ACTIONS = ["is sleeping", "runs in the park", "plays the guitar", "eats an apple", "is swimming",
           "sits on a bench", "reads a book", "is walking outside"]
OTHER = {"is sleeping": "is running", "runs in the park": "sleeps at home", "plays the guitar": "is asleep",
         "eats an apple": "is not eating", "is swimming": "is dry", "sits on a bench": "stands up",
         "reads a book": "plays soccer", "is walking outside": "is inside"}
LABELS = ("entailment", "neutral", "contradiction")


def pairs(n: int, seed: int = 0) -> tuple[list[tuple[str, str]], list[int]]:
    """Synthetic SNLI-like pairs with their labels (entailment: the same statement, neutral:
    something added, contradiction: the opposite action)."""
    rng = np.random.default_rng(seed)
    out, labels = [], []
    for i in range(n):
        s, a = SUBJECTS[rng.integers(len(SUBJECTS))], ACTIONS[rng.integers(len(ACTIONS))]
        premise = f"{s} {a} ."
        k = i % 3
        hyp = {0: f"{s} {a} .", 1: f"{s} {a} with a friend .", 2: f"{s} {OTHER[a]} ."}[k]
        out.append((premise, hyp))
        labels.append(k)
    return out, labels


def make_bundle(folder: Path, seed: int = 0) -> Path:
    """A tiny text bundle (sentence VAE + R) trained in a few seconds."""
    import torch

    from auditor.generators import sha256
    from auditor.text.reference import train_reference
    from auditor.text.vae import VAEConfig
    from auditor.text.vae_training import round_half, train_vae

    torch.manual_seed(seed)
    train, labels = pairs(240, seed)
    sentences = sorted({s for p in train for s in p})
    cfg = VAEConfig(latent_dim=4, emb_dim=16, hidden=32, enc_hidden=16, steps=300, batch_size=16,
                    anneal_steps=100, min_count=1, lr=5e-3, checkpoint_every=10_000)
    gen, _ = train_vae(sentences, cfg, log=lambda m: None)
    round_half(gen.model)
    gen._tables = None
    folder.mkdir(parents=True, exist_ok=True)
    gen.save(folder)
    ref = train_reference(train, labels, architecture="linear", epochs=20, min_count=1, seed=seed)
    ref.save(folder)
    held, held_labels = pairs(60, seed + 1)
    accuracy = float((ref.predict(held) == np.array(held_labels)).mean())
    manifest = {
        "name": "tinytext", "modality": "text", "family": "sentence-vae-gru", "latent_dim": 4, "format_version": 1,
        "decoding": "edit-preserving", "class_names": list(LABELS),
        "files": {f: sha256(folder / f) for f in ("weights.npz", "vocab.txt", "reference.npz")},
        "training": {"counts": {"train_sentences": len(sentences)}},
        "reference_classifier": {"architecture": "linear", "class_names": list(LABELS), "accuracy": accuracy,
                                 "n_images": len(held)},
    }
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return folder


def write_tsv(path: Path, rows: list[tuple[str, str]], labels: list[int] | None = None) -> Path:
    lines = ["premise\thypothesis" + ("\tlabel" if labels is not None else "")]
    for i, (p, h) in enumerate(rows):
        lines.append(f"{p}\t{h}" + (f"\t{LABELS[labels[i]]}" if labels is not None else ""))
    path.write_text("\n".join(lines) + "\n")
    return path


def pair_model(path: Path, n_train: int, seed: int = 0, family: str = "logreg", names=None) -> Path:
    """A scikit-learn pipeline over [premise, hypothesis] strings, exported with skl2onnx; its
    labels are ``names`` (default: SNLI's, lower-case)."""
    from skl2onnx import to_onnx
    from skl2onnx.common.data_types import StringTensorType
    from sklearn.compose import ColumnTransformer
    from sklearn.feature_extraction.text import CountVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.naive_bayes import MultinomialNB
    from sklearn.pipeline import make_pipeline

    train, labels = pairs(n_train, seed)
    x = np.array(train, dtype=object)
    y = np.array([(names or LABELS)[k] for k in labels])
    words = dict(lowercase=False, token_pattern=r"\S+")  # lower-casing would need a locale ONNX Runtime lacks here
    columns = ColumnTransformer([("p", CountVectorizer(**words), 0), ("h", CountVectorizer(**words), 1)])
    head = LogisticRegression(max_iter=300) if family == "logreg" else MultinomialNB()
    pipe = make_pipeline(columns, head).fit(x, y)
    onx = to_onnx(pipe, initial_types=[("input", StringTensorType([None, 2]))])
    path.write_bytes(onx.SerializeToString())
    return path
