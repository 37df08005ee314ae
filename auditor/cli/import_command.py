"""`auditor import-generator`: options -> :mod:`auditor.generator_import` -> one line."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from ..errors import AuditorError
from .common import fail, note_ignored, out_console, warn_skipped


def import_generator(
    decoder: Annotated[Path, typer.Option("--decoder",
        help="ONNX G: float32 latents (N, d) -> images (N, C, H, W) in [0, 1].")],
    encoder: Annotated[Path, typer.Option("--encoder",
        help="ONNX E: images (N, C, H, W) -> latents (N, d), or (N, 2d) whose first d are the "
             "mean.")],
    images: Annotated[Path, typer.Option("--images",
        help="Images of G's domain: checks G and E and sets the reference for the fit check.")],
    out: Annotated[Path, typer.Option("--out", help="Folder to write the bundle into.")],
    name: Annotated[Optional[str], typer.Option(
        help="Generator name; default the folder name.")] = None,
    size: Annotated[Optional[int], typer.Option(
        help="Image side, where it cannot be read from G (default: G's).")] = None,
    reference: Annotated[Optional[Path], typer.Option("--reference",
        help="ONNX reference classifier R of G's images (scores (N, K) or labels), for the "
             "natural-error figures; measured where --images has labels.")] = None,
    reference_classes: Annotated[Optional[str], typer.Option("--reference-classes",
        help="R's class names, comma-separated.")] = None,
) -> None:
    """Build a generator bundle from an ONNX decoder and encoder you already have."""
    from ..generator_import import import_generator as run_import, plan_import

    try:
        classes = [v.strip() for v in reference_classes.split(",")] if reference_classes else None
        plan = plan_import(decoder, encoder, images, out, name=name, size=size, reference=reference,
                           reference_classes=classes)
        warn_skipped(plan.images.skipped)
        note_ignored(plan.images.ignored)
        imported = run_import(plan)
    except AuditorError as err:
        fail(err)
    out_console.print(f"generator imported into {imported.bundle} ({imported.decoder_file} and its "
                      f"encoder checked on {imported.n_images} images, reconstruction error "
                      f"{imported.recon_mse_median:.4f}); use it with --generator "
                      f"{imported.bundle}")
