"""`auditor train-generator`: options -> :mod:`auditor.generator_training` -> a progress bar and
two lines."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from ..errors import AuditorError
from .common import console, fail, note_ignored, out_console, training_bar, warn_skipped


def train_generator(
    data: Annotated[Path, typer.Argument(
        help="Folder (or .npz/.npy file) of images, or text: .txt (one text a line), .tsv/.jsonl "
             "(sentence, or premise and hypothesis fields) or a folder of them.")],
    out: Annotated[Path, typer.Option("--out", help="Folder to write the bundle into.")],
    name: Annotated[
        Optional[str], typer.Option(help="Generator name; default the folder name.")] = None,
    size: Annotated[int, typer.Option(help="Image side in pixels (28, 32 or 64).")] = 28,
    channels: Annotated[int, typer.Option(help="1 (grayscale) or 3 (RGB).")] = 1,
    latent_dim: Annotated[Optional[int], typer.Option(
        "--latent-dim", help="Latent size d (default 16 for images, 64 for text).",
        show_default=False)] = None,
    family: Annotated[str, typer.Option(
        help="conv (convolutional VAE) or mlp (fully connected VAE).")] = "conv",
    hidden: Annotated[Optional[str], typer.Option(
        help="conv: channels of the stride-2 layers (default 32,64; 32,64,128 at 64 px); mlp: "
             "layer widths (default 512,512).", show_default=False)] = None,
    steps: Annotated[Optional[int], typer.Option(
        help="Optimiser steps (default 30000 for images, 10000 for text).",
        show_default=False)] = None,
    batch_size: Annotated[Optional[int], typer.Option(
        "--batch-size", help="Images (texts) per step (default 128 for images, 64 for text).",
        show_default=False)] = None,
    lr: Annotated[float, typer.Option(help="Adam learning rate.")] = 1e-3,
    beta: Annotated[Optional[float], typer.Option(
        help="Weight of the VAE's KL term (lower: sharper reconstructions, less regular latent "
             "space; default 1 for images, 0.05 for text).", show_default=False)] = None,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    threads: Annotated[Optional[int], typer.Option(help="CPU threads for torch.")] = None,
    device: Annotated[str, typer.Option(help="cpu or cuda.")] = "cpu",
    resume: Annotated[
        bool, typer.Option("--resume", help="Continue from OUT's checkpoint.")] = False,
    class_names: Annotated[Optional[str], typer.Option(
        "--class-names", help="Names of labels 0, 1, ..., comma-separated (for the reference "
        "classifier trained where the data has labels).")] = None,
    labels: Annotated[str, typer.Option(
        "--labels", help="Labels for a reference classifier: auto (an .npz's labels array; for "
        "text a label or gold_label field), folders (one sub-folder of DATA per class), none, "
        "or for text the name of the labels' column.")] = "auto",
    reference_steps: Annotated[int, typer.Option(
        "--reference-steps", help="Optimiser steps of the reference classifier.")] = 5000,
    max_vocab: Annotated[int, typer.Option(
        "--max-vocab", help="Text: the vocabulary's size cap (the most frequent words).")
    ] = 10_000,
    min_count: Annotated[int, typer.Option(
        "--min-count", help="Text: a word enters the vocabulary from this many occurrences.")
    ] = 2,
    max_minutes: Annotated[float, typer.Option(
        "--max-minutes", help="Text: stop training after this many minutes and write the "
        "bundle (--resume continues).")] = 45.0,
) -> None:
    """Train a generator + inverter for your own domain: a convolutional or fully connected VAE \
for images, a sentence VAE for text."""
    options = dict(locals())  # first: the options alone
    from ..domains import detect

    options["command"] = "auditor train-generator " + " ".join(sys.argv[2:])
    TRAINERS.get(detect(data).name, _train_images)(**options)


def _train_text(data: Path, out: Path, **options) -> None:
    from .train_text import train_text

    keys = ("name", "labels", "steps", "latent_dim", "max_vocab", "min_count", "batch_size", "lr",
            "beta", "seed", "threads", "device", "max_minutes", "resume", "command")
    train_text(data, out, **{k: options[k] for k in keys})


def _train_images(data: Path, out: Path, name, size, channels, latent_dim, family, hidden, steps,
                  batch_size, lr, beta, seed, threads, device, labels, class_names,
                  reference_steps, resume, command, **_text_only) -> None:
    from ..generator_training import plan_training
    from ..generator_training import train_generator as train

    steps = 30_000 if steps is None else steps
    try:
        plan = plan_training(
            data, out, name=name, size=size, channels=channels,
            latent_dim=16 if latent_dim is None else latent_dim, family=family, hidden=hidden,
            steps=steps, batch_size=128 if batch_size is None else batch_size, lr=lr,
            beta=1.0 if beta is None else beta,
            seed=seed, threads=threads, device=device, labels=labels,
            class_names=[v.strip() for v in class_names.split(",")] if class_names else None,
            reference_steps=reference_steps,
            command=command,
        )
        conv = plan.family == "conv"
        console.print(f"{plan.n_images} images; {plan.conversion}")
        kind = "convolutional" if conv else "fully connected"
        console.print(f"family {plan.family}: a {kind} VAE, "
                      f"{'channels' if conv else 'widths'} {plan.hidden}, latent size "
                      f"{plan.config.latent_dim}", soft_wrap=True)
        warn_skipped(plan.images.skipped)
        note_ignored(plan.images.ignored)
        with training_bar(steps, every=50) as on_step:
            if plan.n_classes is not None:
                console.print(f"labels found ({plan.n_classes} classes): a reference classifier is "
                              f"trained too ({plan.config.reference_steps} steps)", soft_wrap=True)
            trained = train(plan, resume=resume, on_step=on_step)
    except AuditorError as err:
        fail(err)
    if trained.reference_accuracy is not None:
        out_console.print("reference classifier: accuracy "
                          f"{100 * trained.reference_accuracy:.1f}% on "
                          f"{trained.reference_images} held-out images")
    out_console.print(f"generator written to {trained.bundle}; use it with --generator "
                      f"{trained.bundle}")


TRAINERS = {"text": _train_text}  # per input domain (auditor/domains/); images otherwise
