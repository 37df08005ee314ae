"""Training a text generator bundle on your own texts, as `auditor train-generator` does for
text (.txt, .tsv, .jsonl or a folder of them; :mod:`auditor.text.data` reads them): read the
texts and options into a :class:`TextTrainingPlan` (:func:`plan_text_training`), then train the
sentence VAE of the ``snli`` bundle (:mod:`auditor.text.vae`), and a reference classifier R
where the texts have labels (:func:`train_text_generator`; the bundle is written by
:mod:`auditor.text.bundle_writing`).

The split is made once, seeded: for pairs by premise (every hypothesis of a premise on one side),
for sentences by sentence. G learns the distinct training sentences (premises and hypotheses of
pairs); R learns the labelled training rows. Every quality figure is measured on the held-out
side. Nothing here prints: progress goes to the ``on_step`` callback.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DataError, OptionError
from .data import SNLI_LABELS, TextSet, load_labelled
from .vae import MAX_LEN, VAEConfig

HOLDOUT = 0.1  # share of the texts (of the premises, for pairs) held out to measure the bundle
MISSING = ("", "-", "none", "null", "nan")  # a label cell that gives no label
MAX_VOCAB = 10_000  # the vocabulary's size cap by default (the data's most frequent words)
MIN_TEXTS = 20  # texts to train on, at least
# R's features: those the snli bundle's R chose on a validation split for pairs; for sentences
# the sentence's own unigrams and bigrams
PAIR_REFERENCE = {"architecture": "linear", "features": ("uni", "bi", "new", "bins"),
                  "epochs": 20, "lr": 0.01, "weight_decay": 1e-6}
SENTENCE_REFERENCE = {"architecture": "linear", "features": ("uni", "bi"), "epochs": 20,
                      "lr": 0.01, "weight_decay": 1e-6}


@dataclass
class TextTrainingPlan:
    """What :func:`train_text_generator` will do: the texts, the split, the vocabulary and the
    settings; ``manifest`` starts the bundle's manifest (name, description, provenance)."""

    data: Path
    out: Path
    texts: TextSet  # normalised texts, (N,) sentences or (N, 2) pairs
    labels: np.ndarray | None  # (N,) ids into class_names, -1 where a text has none
    class_names: list[str] | None
    label_column: str | None  # where the labels came from
    train_rows: np.ndarray  # indices of the texts trained on
    hold_rows: np.ndarray  # indices of the held-out texts
    sentences: list[str]  # the distinct sentences G learns
    held_out: list[str]  # distinct held-out sentences G never saw (the hypotheses, for pairs)
    vocab: Any  # auditor.text.tokens.Vocab
    config: VAEConfig
    max_vocab: int
    max_seconds: float | None
    threads: int | None
    manifest: dict[str, Any] = field(default_factory=dict)

    @property
    def pairs(self) -> bool:
        return self.texts.pairs

    @property
    def n_texts(self) -> int:
        return len(self.texts.names)

    @property
    def n_classes(self) -> int | None:
        return None if self.class_names is None else len(self.class_names)

    @property
    def rule(self) -> str:
        """The tokenisation rule, in words (stored in the manifest)."""
        from .data import RULE

        return (f"{RULE}; at most {self.config.max_train_len} tokens a sentence in training and "
                f"{MAX_LEN} in decoding; vocabulary: the training sentences' words seen at least "
                f"{self.config.min_count} times, the {self.max_vocab} most frequent at most, every "
                "other word <unk>")


def class_order(values: list[str]) -> list[str]:
    """The classes of label values, in R's order: SNLI's where they are SNLI's names, numeric
    where they are integers, else sorted (scikit-learn's order for string labels)."""
    distinct = sorted(set(values))
    if all(v.lower() in SNLI_LABELS for v in distinct):
        lower = {v.lower(): v for v in distinct}
        return [lower[n] for n in SNLI_LABELS if n in lower]
    if all(v.lstrip("-").isdigit() for v in distinct):
        return sorted(distinct, key=int)
    return distinct


def read_labels(raw: list[str] | None, column: str, where: Path
                ) -> tuple[np.ndarray | None, list[str] | None]:
    """(ids, class names) of raw label cells; -1 where a cell gives no label. Refuses a label
    column with a single class."""
    if raw is None:
        return None, None
    given = [v for v in raw if v.lower() not in MISSING]
    names = class_order(given)
    if len(names) < 2:
        found = f"only {names[0]!r}" if names else "no label"
        raise DataError(f"{where}: the {column} labels hold {found}; a reference classifier needs "
                        "two or more classes: fix the labels or pass --labels none")
    index = {n: i for i, n in enumerate(names)}
    return np.array([index.get(v, -1) for v in raw], dtype=np.int64), names


def split_rows(texts: TextSet, share: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train, held-out) row indices: pairs split by premise, sentences by sentence."""
    items = texts.items
    keys = [str(r[0]) for r in items] if texts.pairs else [str(s) for s in items]
    distinct = sorted(set(keys))
    order = np.random.default_rng(seed).permutation(len(distinct))
    n_hold = max(1, round(len(distinct) * share)) if len(distinct) >= 10 else 0
    held = {distinct[i] for i in order[:n_hold]}
    mask = np.array([k in held for k in keys])
    return np.flatnonzero(~mask), np.flatnonzero(mask)


def plan_text_training(
    data: str | os.PathLike, out: str | os.PathLike, *, name: str | None = None,
    labels: str = "auto", steps: int = 10_000, latent_dim: int = 64, max_vocab: int = MAX_VOCAB,
    min_count: int = 2, batch_size: int = 64, lr: float = 1e-3, beta: float = 0.05,
    seed: int = 0, threads: int | None = None, device: str = "cpu",
    max_minutes: float | None = 45.0, command: str | None = None,
) -> TextTrainingPlan:
    """Check the options, read and normalise the texts of ``data`` and their labels (``labels``:
    auto reads a ``label`` or ``gold_label`` field, none reads none, any other value names the
    column), split them and build the vocabulary. Raises :class:`OptionError` and
    :class:`DataError` with the CLI's messages."""
    data, out = Path(data), Path(out)
    if device != "cpu":
        raise OptionError(f"--device {device}: the sentence VAE trains on the CPU (a GPU gains "
                          "little on networks this small); pass --device cpu")
    for key, value in (("--steps", steps), ("--latent-dim", latent_dim), ("--batch-size",
                       batch_size), ("--max-vocab", max_vocab), ("--min-count", min_count)):
        if value <= 0:
            raise OptionError(f"{key} must be positive, got {value}")
    if max_minutes is not None and max_minutes <= 0:
        raise OptionError(f"--max-minutes must be positive, got {max_minutes}")
    column = None if labels in ("auto", "none") else labels
    texts, raw = load_labelled(data, column)
    if labels == "none":
        raw = None
    ids, class_names = read_labels(raw, column or "label", data)
    train_rows, hold_rows = split_rows(texts, HOLDOUT, seed)
    sentences, held_out = _sentences(texts, train_rows, hold_rows)
    if len(sentences) < MIN_TEXTS:
        raise DataError(f"{data}: {len(sentences)} distinct texts to train on; give "
                        f"{MIN_TEXTS} or more (a few thousand train a useful generator)")
    from .tokens import Vocab

    vocab = Vocab.build(sentences, min_count=min_count, max_size=max_vocab)
    if len(vocab) <= 4:
        raise DataError(f"{data}: no word occurs {min_count} or more times in the training texts, "
                        "so every text would be <unk>; give more text or a lower --min-count")
    config = VAEConfig(latent_dim=latent_dim, beta=beta, word_dropout=0.05, steps=steps,
                       batch_size=batch_size, lr=lr, seed=seed, min_count=min_count)
    kind = "premise-hypothesis pairs" if texts.pairs else "sentences"
    manifest = {
        "name": name or out.resolve().name,
        "description": (f"sentence VAE (bidirectional GRU encoder, GRU decoder fed z at every "
                        f"step) trained on {len(sentences)} sentences of {len(texts.names)} "
                        f"{kind} from {data.name}"
                        + ("; perturb the hypothesis, keep the premise" if texts.pairs else "")),
        "training": {"data": str(data), "n_texts": len(texts.names),
                     **({"command": command} if command is not None else {})},
    }
    return TextTrainingPlan(data, out, texts, ids, class_names,
                            None if ids is None else (column or "label/gold_label"),
                            train_rows, hold_rows, sentences, held_out, vocab, config, max_vocab,
                            None if max_minutes is None else 60.0 * max_minutes, threads,
                            manifest)


def _sentences(texts: TextSet, train_rows: np.ndarray,
               hold_rows: np.ndarray) -> tuple[list[str], list[str]]:
    """(distinct training sentences, distinct held-out sentences G never saw)."""
    items = texts.items
    if texts.pairs:
        train = sorted({s for r in train_rows for s in items[r]})
        held = {items[r][1] for r in hold_rows}
    else:
        train = sorted({items[r] for r in train_rows})
        held = {items[r] for r in hold_rows}
    return train, sorted(held - set(train))


@dataclass(frozen=True)
class TrainedTextGenerator:
    """A bundle :func:`train_text_generator` wrote."""

    bundle: Path
    reference_accuracy: float | None  # R's accuracy on the held-out labelled texts
    reference_texts: int | None  # the held-out texts that measured it
    steps: int  # the steps trained so far
    finished: bool  # False where the time limit stopped the training (--resume continues)
    quality: dict[str, Any]


def train_text_generator(
    plan: TextTrainingPlan, resume: bool = False,
    on_step: Callable[[int, dict[str, float]], None] | None = None,
) -> TrainedTextGenerator:
    """Train the plan's sentence VAE (checkpointed into ``plan.out``; ``resume`` continues from
    the checkpoint) and R where the texts have labels, measure them and write the bundle.
    ``on_step(step, losses)`` is called after every optimiser step."""
    import logging

    import torch

    from .bundle_writing import write_text_bundle
    from .vae_training import round_half, train_vae

    if plan.threads:
        torch.set_num_threads(plan.threads)
    plan.out.mkdir(parents=True, exist_ok=True)
    checkpoint = plan.out / "checkpoint.pt"
    if not resume and checkpoint.exists():
        checkpoint.unlink()  # a fresh start; --resume would have continued from it
    log = logging.getLogger("auditor")
    try:
        gen, state = train_vae(plan.sentences, plan.config, checkpoint=checkpoint,
                               max_seconds=plan.max_seconds, vocab=plan.vocab, log=log.debug,
                               on_step=on_step)
    except ValueError as err:  # a checkpoint of other data or settings
        raise OptionError(f"{err}; start afresh without --resume") from None
    round_half(gen.model)
    gen._tables = None
    reference = train_text_reference(plan) if plan.labels is not None else None
    bundle, quality, record = write_text_bundle(plan, gen, state, reference)
    return TrainedTextGenerator(bundle, record.get("accuracy") if record else None,
                                record.get("n_texts") if record else None, int(state["step"]),
                                bool(state["done"]), quality)


def train_text_reference(plan: TextTrainingPlan) -> Any:
    """R on the labelled training texts (a pair or a sentence classifier)."""
    from .bundle_writing import reference_inputs
    from .reference import train_reference

    assert plan.labels is not None
    rows = plan.train_rows[plan.labels[plan.train_rows] >= 0]
    if len(set(plan.labels[rows].tolist())) < 2:
        raise DataError(f"{plan.data}: the training texts hold fewer than two labelled classes; "
                        "give more labelled texts or pass --labels none")
    settings = PAIR_REFERENCE if plan.pairs else SENTENCE_REFERENCE
    return train_reference(reference_inputs(plan.texts, rows), plan.labels[rows].tolist(),
                           seed=plan.config.seed, class_names=plan.class_names,
                           sentences=not plan.pairs, **settings)  # type: ignore[arg-type]
