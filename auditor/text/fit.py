"""How well sentences lie in a text generator's domain (issue 42), by the image fit check's
measure (:mod:`auditor.generators.fit`: a Gaussian over per-input statistics whose threshold is
calibrated on held-out in-domain inputs, stored as the manifest's ``domain_fit``) over sentence
statistics: the share of words outside the generator's vocabulary, the decoder's negative
log-likelihood per token given the sentence's own code I(x) (the reconstruction term of the
sentence VAE's evidence bound: random words from the vocabulary have no unknown word but are
improbable), the share of tokens without a letter (code, numbers), the mean log rank of its known
words in the vocabulary (sorted by frequency) and its log length. Pairs are judged by their
hypothesis, the sentence the latent moves.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..generators.fit import calibrate, calibrated_fit


def text_features(gen, items: np.ndarray) -> tuple[list[str], np.ndarray]:
    """(names, (N, F)) of the sentences of ``items`` (sentences or pairs) under text bundle
    ``gen``."""
    sentences = gen.sentences(items)
    vocab = gen.vocabulary
    rows = []
    for s in sentences:
        words = s.split() or [""]
        ranks = [vocab.index[w] for w in words if w in vocab.index]
        rows.append((
            sum(w not in vocab.index for w in words) / len(words),
            sum(not any(ch.isalpha() for ch in w) for w in words) / len(words),
            float(np.mean(np.log(ranks))) if ranks else float(np.log(len(vocab))),
            float(np.log(len(words))),
        ))
    names = ["unknown_share", "no_letter_share", "mean_log_rank", "log_length", "token_nll"]
    if not rows:
        return names, np.zeros((0, len(names)))
    nll = gen.token_nll(sentences)
    return names, np.column_stack([np.asarray(rows, dtype=np.float64), nll])


def calibrate_text(gen, items: np.ndarray, data: str) -> dict[str, Any] | None:
    """The text bundle's ``domain_fit`` record, from held-out in-domain sentences."""
    names, features = text_features(gen, items)
    return calibrate(names, features, data)


def text_fit(gen, items: np.ndarray,
             sample: int | None = None) -> tuple[dict[str, Any], dict[str, np.ndarray] | None]:
    """How well the texts lie in the generator's domain: (summary, per-input ``fit_score`` and
    ``in_domain`` or None without a calibrated measure). The summary also gives the share of
    words outside the vocabulary and how many of (up to 256) sentences decode(encode(x)) gives
    back exactly."""
    items = items if sample is None else items[:sample]
    sentences = gen.sentences(items[:256])
    words = [w for s in sentences for w in s.split()]
    unknown = sum(1 for w in words if w not in gen.vocabulary) / max(1, len(words))
    back = gen.decode(gen.encode(np.asarray(sentences, dtype=object)))
    exact = float(np.mean([a == b for a, b in zip(back, sentences)])) if sentences else 0.0
    figures = {"share_unknown_words": round(unknown, 4), "reconstruction_exact": round(exact, 4),
               "n_texts": len(items)}
    how = (f"{100 * unknown:.1f}% of the words are outside its vocabulary; decode(encode(x)) "
           f"gives {100 * exact:.0f}% of the sentences back exactly (the edit-preserving rule "
           "keeps the rest)")
    record = gen.manifest.get("domain_fit")
    if record is None:  # a bundle made before the measure: the vocabulary alone
        verdict = "poor" if unknown > 0.15 else "partial" if unknown > 0.05 else "good"
        message = f"generator {gen.name}: {how}"
        if verdict != "good":
            message += (": adversaries of such text change it where the generator can, which may "
                        "be little")
        return {"verdict": verdict, "message": message, **figures}, None
    names, features = text_features(gen, items)
    summary, per_input = calibrated_fit(
        record, names, features, gen.name, "texts", how,
        "adversaries of such text change it where the generator can, which may be little",
        unit="sentences")
    return summary | figures, per_input
