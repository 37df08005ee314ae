"""Writing the bundle of a text generator that `auditor train-generator` trained
(:mod:`auditor.text.training`): its files (``weights.npz`` and ``vocab.txt``, float16 as bundled;
``reference.npz`` where R was trained), and a manifest with the texts' kind, the tokenisation rule,
the vocabulary, the checksums and the quality figures, every one measured on held-out texts with
the bundle as it is stored: reconstruction (exact and token-level), distinct decodes per
neighbourhood, R's accuracy, and the calibrated domain fit check (:mod:`auditor.text.fit`)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import numpy as np

from ..files import sha256
from .tokens import UNK

QUALITY_TEXTS = 1000  # held-out sentences that measure reconstruction, at most
NEIGHBOURHOOD_TEXTS = 100  # held-out sentences whose neighbourhoods are decoded
LICENCE = "the training texts' own licence applies to this derivative"


def write_text_bundle(plan, gen, state: dict, reference) -> tuple[Any, dict, dict | None]:
    """Write the bundle into ``plan.out``: (its folder, the quality figures, R's record)."""
    from ..generators.bundle import FORMAT_VERSION, write_manifest
    from .bundle import TextBundle
    from .fit import calibrate_text
    from .vae import SentenceCodec

    out = plan.out
    gen.save(out)
    stored = SentenceCodec.load(out)  # the figures are the bundle's, float16-rounded
    files = ["weights.npz", "vocab.txt"]
    record = None
    if reference is not None:
        reference.save(out)
        files.append("reference.npz")
        record = _reference_record(plan, out)
    quality = _quality(plan, stored, out if reference is not None else None)
    bundle = TextBundle(name=plan.manifest["name"], path=out, manifest={}, model=stored,
                        reference=None)
    fit = _domain_fit(plan, bundle, calibrate_text)
    c = plan.config
    manifest = dict(plan.manifest)
    manifest.update(
        modality="text", family="sentence-vae-gru", format_version=FORMAT_VERSION,
        texts="pairs" if plan.pairs else "sentences", latent_dim=c.latent_dim,
        decoding="edit-preserving", decoder="greedy", max_len=stored.max_len,
        vocab_size=len(stored.vocab), vocab_cap=plan.max_vocab, min_count=c.min_count,
        unknown_token=UNK, tokenisation=plan.rule,
        **({"class_names": list(plan.class_names)} if plan.class_names else {}),
        files={f: sha256(out / f) for f in files},
        training=dict(plan.manifest.get("training", {}), **_training(plan, state)),
        quality=quality,
        **({"reference_classifier": record} if record else {}),
        **({"domain_fit": fit} if fit else {}),
        licence=LICENCE,
    )
    write_manifest(out, manifest)
    return out, quality, record


def _training(plan, state: dict) -> dict[str, Any]:
    finished = bool(state["done"])
    return {
        "counts": {"texts": plan.n_texts, "train_texts": len(plan.train_rows),
                   "holdout_texts": len(plan.hold_rows),
                   "train_sentences": len(plan.sentences), "holdout_sentences": len(plan.held_out),
                   "vocab": len(plan.vocab)},
        "split": ("seeded, by premise (every hypothesis of a premise on one side)" if plan.pairs
                  else "seeded, by sentence"),
        "config": {k: v for k, v in asdict(plan.config).items() if k != "extra"},
        "steps": int(state["step"]), "finished": finished,
        **({} if finished else {"stopped": "the time limit (--max-minutes) stopped the training; "
                                           "--resume continues it"}),
        "seconds": round(float(state["seconds"]), 1),
        "threads": plan.threads,
    }


def _quality(plan, gen, reference_dir) -> dict[str, Any]:
    """Reconstruction and neighbourhood figures on the held-out sentences; for pairs with R, the
    share of held-out pairs whose reconstructed hypothesis keeps R's label."""
    from .vae_quality import neighbourhood, reconstruction

    if not plan.held_out:
        return {"evaluated_on": "nothing: too few texts to hold any out"}
    rng = np.random.default_rng(plan.config.seed)
    held = plan.held_out
    if len(held) > QUALITY_TEXTS:
        held = [held[i] for i in sorted(rng.choice(len(held), QUALITY_TEXTS, replace=False))]
    rec, _ = reconstruction(gen, held)
    sub = held[:NEIGHBOURHOOD_TEXTS]
    quality = {
        "exact_match": rec["exact_match"], "exact_match_raw": rec["exact_match_raw"],
        "token_accuracy": rec["token_accuracy"], "n_sentences": rec["n_sentences"],
        "evaluated_on": ("held-out sentences G never saw; exact_match against the sentence with "
                         "out-of-vocabulary words as <unk>, exact_match_raw against the sentence "
                         "itself"),
        "z_norm_mean": rec["z_norm_mean"],
        "neighbourhood": {"n_sentences": len(sub), "directions": 20,
                          "radii": neighbourhood(gen, sub)},
    }
    if reference_dir is not None and plan.pairs:
        from .reference import TextReference

        ref = TextReference.load(reference_dir)
        pairs = [(str(plan.texts.items[r][0]), str(plan.texts.items[r][1]))
                 for r in plan.hold_rows[:QUALITY_TEXTS]]
        if pairs:
            recon = gen.decode(gen.encode([h for _, h in pairs]))
            kept = ref.predict(pairs) == ref.predict([(p, h) for (p, _), h in zip(pairs, recon)])
            quality["reference_label_kept_by_reconstruction"] = float(kept.mean())
    return quality


def _reference_record(plan, out) -> dict[str, Any]:
    """R's manifest record, its accuracy measured on the labelled held-out texts."""
    from .reference import TextReference

    ref = TextReference.load(out)
    rows = plan.hold_rows[plan.labels[plan.hold_rows] >= 0]
    y = plan.labels[rows]
    record: dict[str, Any] = {
        "architecture": (f"{ref.config['architecture']} over hashed "
                         f"{'pair' if plan.pairs else 'sentence'} features "
                         f"({', '.join(ref.config['features'])}); numpy at run time"),
        "input": "pairs" if plan.pairs else "sentences",
        "class_names": list(ref.class_names), "label_column": plan.label_column,
        "n_train": int((plan.labels[plan.train_rows] >= 0).sum()),
        "config": ref.config,
    }
    if len(rows):
        pred = ref.predict(reference_inputs(plan.texts, rows))
        record.update(
            accuracy=float((pred == y).mean()), n_texts=len(rows), n_images=len(rows),
            per_class={c: float((pred[y == i] == i).mean()) if (y == i).any() else None
                       for i, c in enumerate(ref.class_names)})
    return record


def _domain_fit(plan, bundle, calibrate_text) -> dict[str, Any] | None:
    """The domain fit check calibrated on the held-out sentences; where they are too few, on up
    to 1,000 training sentences (noted: unseen in-domain text is then flagged somewhat more
    often than the stated rate)."""
    from ..generators.fit import MIN_CALIBRATION

    if len(plan.held_out) >= MIN_CALIBRATION:
        held = np.array(plan.held_out[:QUALITY_TEXTS], dtype=object)
        return calibrate_text(bundle, held, f"the {len(held)} sentences train-generator held out")
    rng = np.random.default_rng(plan.config.seed)
    rows = rng.permutation(len(plan.sentences))[:QUALITY_TEXTS]
    texts = np.array([plan.sentences[i] for i in rows], dtype=object)
    return calibrate_text(bundle, texts, f"{len(texts)} of the training sentences (the hold-out "
                          "was too small: unseen texts of the domain may be flagged more often)")


def reference_inputs(texts, rows: np.ndarray) -> list[tuple[str, str]]:
    """R's inputs of the texts ``rows``: pairs, or ("", sentence)."""
    if texts.pairs:
        return [(str(texts.items[r][0]), str(texts.items[r][1])) for r in rows]
    return [("", str(texts.items[r])) for r in rows]
