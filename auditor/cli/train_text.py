"""`auditor train-generator` on text: options -> :mod:`auditor.text.training` -> what was found,
a progress bar with an ETA, and the bundle's figures."""

from __future__ import annotations

from pathlib import Path

from ..errors import AuditorError
from .common import console, fail, out_console, training_bar


def train_text(data: Path, out: Path, *, resume: bool, steps: int | None,
               latent_dim: int | None, batch_size: int | None, beta: float | None,
               **options) -> None:
    """``auditor train-generator`` on text: plan, train with a progress bar, report."""
    from ..text.training import plan_text_training, train_text_generator

    total = 10_000 if steps is None else steps
    try:
        plan = plan_text_training(
            data, out, steps=total, latent_dim=64 if latent_dim is None else latent_dim,
            batch_size=64 if batch_size is None else batch_size,
            beta=0.05 if beta is None else beta, **options)
        _describe(plan)
        with training_bar(total, every=25) as on_step:
            trained = train_text_generator(plan, resume=resume, on_step=on_step)
    except AuditorError as err:
        fail(err)
    _report(trained, total)


def _describe(plan) -> None:
    """What the run found and what it will do, before the long part."""
    held = f"{len(plan.hold_rows)} held out to measure it"
    console.print(f"text: {plan.n_texts} {plan.texts.kind} from {plan.data} "
                  f"({len(plan.train_rows)} to train on, {held}); {len(plan.sentences)} distinct "
                  "sentences for the generator", soft_wrap=True)
    console.print(f"tokenisation: {plan.rule}; {len(plan.vocab)} words in the vocabulary",
                  soft_wrap=True)
    if plan.class_names is None:
        console.print("no labels (a label or gold_label field, or --labels COLUMN): no reference "
                      "classifier", soft_wrap=True)
    else:
        console.print(f"labels from {plan.label_column} ({len(plan.class_names)} classes: "
                      f"{', '.join(plan.class_names)}): a reference {plan.texts.one} classifier "
                      "is trained too", soft_wrap=True)
    c = plan.config
    limit = ("" if plan.max_seconds is None
             else f", stopped after {plan.max_seconds / 60:g} minutes at most")
    console.print(f"family sentence-vae-gru: a sentence VAE (GRU {c.enc_hidden}x2 encoder, GRU "
                  f"{c.hidden} decoder), latent size {c.latent_dim}, {c.steps} steps of "
                  f"{c.batch_size} sentences{limit}", soft_wrap=True)


def _report(trained, total: int) -> None:
    q = trained.quality
    if not trained.finished:
        out_console.print(f"the time limit stopped training at step {trained.steps} of {total}; "
                          "the bundle holds it as it is: add --resume to continue")
    if "exact_match" in q:
        radius = q["neighbourhood"]["radii"].get("1.0", {})
        out_console.print(f"reconstruction of {q['n_sentences']} held-out sentences: "
                          f"{100 * q['exact_match']:.0f}% exact, {100 * q['token_accuracy']:.0f}% "
                          f"of words; {radius.get('distinct_of_20', 0):.1f} distinct decodes of 20 "
                          "at radius 1")
    if trained.reference_accuracy is not None:
        out_console.print("reference classifier: accuracy "
                          f"{100 * trained.reference_accuracy:.1f}% on "
                          f"{trained.reference_texts} held-out texts")
    out_console.print(f"generator written to {trained.bundle}; use it with --generator "
                      f"{trained.bundle}")
