"""`auditor report`: draw the report again from a results.json, without the models."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.markup import escape

from ..errors import AuditorError, OutputError
from .common import EXIT_OUTPUTS, console, fail, out_console, output_failed


def report_command(
    results_file: Annotated[Path, typer.Argument(help="results.json written by `auditor scan`.")],
    out: Annotated[Optional[Path], typer.Option("--out", "-o",
        help="Folder for index.html; default: beside results.json.")] = None,
    generator: Annotated[Optional[str], typer.Option("--generator", "-g",
        help="The scan's generator, if it has moved.")] = None,
    formats: Annotated[str, typer.Option("--format",
        help="Outputs: any of html (index.html), pdf (report.pdf), md (model-card.md).")
    ] = "html,pdf,md",
    wait: Annotated[float, typer.Option("--wait",
        help="Seconds to wait while another auditor process writes into the folder.")] = 0.0,
) -> None:
    """Draw the report again from saved results, without the models."""
    from ..audit import load
    from ..formats import parse_formats

    try:
        wanted = parse_formats(formats)
        audit = load(results_file, generator=generator)
        if not audit.complete:
            done, total = audit.progress
            console.print(f"[yellow]warning:[/] {escape(str(results_file))} holds an unfinished "
                          f"scan ({done} of {total} images)")
        reports = tuple(f for f in wanted if f != "json") or ()
        paths = audit.write(out or results_file.parent, reports, wait=wait)
    except OutputError as err:
        if err.written:
            out_console.print("report: " + " · ".join(str(p) for p in err.written))
        output_failed(err, None)
        raise typer.Exit(EXIT_OUTPUTS) from None
    except AuditorError as err:
        fail(err)
    out_console.print("report: " + " · ".join(str(p) for p in paths))
