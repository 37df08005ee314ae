"""The command line: options -> a config -> one call into the library -> print.

Only this package prints or exits: one module per command (``*_command.py``), the scan's
summary tables (``summary.py``) and what they share (``common.py``: consoles, exit codes,
one-line errors). Library errors (:class:`AuditorError`) become one red line and exit code 2;
``--debug`` shows the traceback instead.
"""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from .. import __version__
from .common import (  # noqa: F401  (the exit codes and consoles, as auditor.cli.* too)
    EXIT_ERROR, EXIT_GATE, EXIT_INTERNAL, EXIT_INTERRUPTED, EXIT_LOCKED, EXIT_OUTPUTS, _state,
    console, fail, internal_error, out_console, show_library_messages, steady_heap,
)
from .doctor_command import doctor
from .generators_command import generators
from .import_command import import_generator
from .report_command import report_command
from .scan_command import scan
from .train_command import train_generator
from .validate_command import validate_generator

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Audit image classifiers for robustness without labels, by natural adversaries.",
)


def _version(value: bool) -> None:
    if value:
        out_console.print(f"auditor {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks of errors.")] = False,
    version: Annotated[
        Optional[bool],
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = None,
) -> None:
    _state["debug"] = debug
    steady_heap()
    show_library_messages()


# in the order `auditor --help` lists them
app.command("train-generator")(train_generator)
app.command()(scan)
app.command("report")(report_command)
app.command("validate-generator")(validate_generator)
app.command("import-generator")(import_generator)
app.command()(generators)
app.command()(doctor)


def trust_line(res: dict) -> str:
    """How far to trust a scan's figures (its results.json document), in one line."""
    from .terminal_summary import trust_line as line

    return line(res)


__all__ = ["app", "main", "scan", "report_command", "train_generator", "validate_generator",
           "import_generator", "generators", "doctor", "trust_line", "fail", "internal_error",
           "EXIT_GATE", "EXIT_ERROR", "EXIT_OUTPUTS", "EXIT_LOCKED", "EXIT_INTERRUPTED",
           "EXIT_INTERNAL"]
