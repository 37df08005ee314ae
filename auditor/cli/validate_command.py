"""`auditor validate-generator`: options -> :mod:`auditor.generator_validation` -> a progress
bar, the table of Spearman ρ per figure, and where the validation was recorded."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from ..errors import AuditorError
from .common import console, fail, out_console

COARSE_BELOW = 8  # models below which ρ is coarse


def validate_generator(
    bundle: Annotated[str, typer.Argument(help="The generator bundle folder to validate.")],
    models: Annotated[list[Path], typer.Argument(
        help="Three or more model files of the domain (more, and more varied, is better).",
        show_default=False)],
    labelled: Annotated[Path, typer.Option("--labelled",
        help="Labelled images of the domain: an .npz with images and labels, or --labels "
             "folders; for a text bundle a .tsv/.jsonl with a label field.")],
    labels: Annotated[str, typer.Option("--labels",
        help="auto (an .npz's labels array; for text a label or gold_label field), folders (one "
             "sub-folder per class) or, for text, the labels' column.")] = "auto",
    limit: Annotated[Optional[int], typer.Option(
        help="Use only the first N labelled images.")] = None,
    write: Annotated[bool, typer.Option("--write/--no-write",
        help="Record the validation in the bundle's manifest.")] = True,
    seed: Annotated[int, typer.Option(help="Random seed of the scans.")] = 0,
) -> None:
    """Measure which of a generator's figures ranks models by accuracy, on a labelled set you \
have."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
    from rich.table import Table

    from ..generator_validation import plan_validation, validate_generator as validate

    try:
        plan = plan_validation(bundle, models, labelled, labels=labels, limit=limit, write=write,
                               seed=seed)
        with Progress(TextColumn("validation scan"), BarColumn(), MofNCompleteColumn(),
                      console=console) as progress:
            task = progress.add_task("scan", total=plan.total)
            result = validate(plan, progress=lambda k: progress.advance(task, k),
                              command="auditor " + " ".join(sys.argv[1:]))
    except AuditorError as err:
        fail(err)
    from ..domains import of_generator

    unit = of_generator(plan.generator).unit
    table = Table(title=f"Spearman ρ with accuracy over {result.n_models} models (chosen on the "
                        f"first {result.n_validation} {unit}, reported on the other "
                        f"{result.n_test})",
                  title_justify="left")
    for col in ("figure", "ρ, choosing half", "ρ, reported half"):
        table.add_column(col, justify="left" if col == "figure" else "right")
    for f in result.figures:
        table.add_row(f.label + (" ← read as accuracy" if f.chosen else ""),
                      "–" if f.rho_validation is None else f"{f.rho_validation:.2f}",
                      "–" if f.rho_test is None else f"{f.rho_test:.2f}")
    out_console.print(table)
    if result.n_models < COARSE_BELOW:
        out_console.print(f"note: {result.n_models} models give a coarse ρ; a dozen or more, of "
                          "different families and training lengths, give one worth trusting")
    recorded = ("recorded in " + str(result.manifest) if result.manifest else
                "not recorded (--no-write)")
    out_console.print(f"validation {recorded}")
