"""What every command shares: the consoles, the exit codes, and the one-line reports of errors.

Library errors (:class:`AuditorError`) become one red line and exit code 2 (3 for outputs,
4 for a locked folder); ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape

from ..errors import OutputError

console = Console(stderr=True, highlight=False)
out_console = Console(highlight=False)
_state = {"debug": False}

# the release gate failed: a candidate is significantly less robust (and nothing else)
EXIT_GATE = 1
EXIT_ERROR = 2  # bad input or options
# an output could not be written (disk full, read-only, PDF renderer); the line says what is safe
EXIT_OUTPUTS = 3
EXIT_LOCKED = 4  # --out is in use by another auditor process
EXIT_INTERRUPTED = 130
EXIT_INTERNAL = 70  # an unexpected error: a bug (EX_SOFTWARE)


def fail(err: BaseException) -> None:
    """Print one line for a library error and exit with its code; with --debug, re-raise."""
    from ..files import LockedError

    if _state["debug"]:
        raise err
    console.print(f"[bold red]error:[/] {escape(str(err))}", soft_wrap=True, markup=True)
    code = (EXIT_LOCKED if isinstance(err, LockedError) else
            EXIT_OUTPUTS if isinstance(err, OutputError) else EXIT_ERROR)
    raise typer.Exit(code)


def internal_error(err: Exception) -> None:
    """One line for an unexpected exception (a bug), exit 70; with --debug, the traceback."""
    if isinstance(err, (typer.Exit, typer.Abort)) or _state["debug"]:
        raise err
    from ..errors import first_line

    console.print(f"[bold red]internal error:[/] {type(err).__name__}: {first_line(err)} (a bug in "
                  "auditor: please report it with the output of `auditor --debug ...` and "
                  "`auditor doctor`)", soft_wrap=True)
    raise typer.Exit(EXIT_INTERNAL)


def output_failed(err: OutputError, results_file: Path | None) -> None:
    """One line for outputs that could not be written, saying what is safe and how to redo
    the rest."""
    if _state["debug"]:
        raise err
    safe = (f"; {results_file} is complete: `auditor report {results_file}` redraws the rest"
            if results_file else "")
    console.print(f"[bold red]error:[/] {escape(str(err))}{escape(safe)}", soft_wrap=True,
                  markup=True)


@contextlib.contextmanager
def training_bar(total: int, every: int) -> Iterator[Callable[[int, dict[str, float]], None]]:
    """A training's progress bar on stderr; yields ``on_step(step, losses)`` for the trainer,
    which redraws every ``every`` steps and at the last."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(
        TextColumn("training"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
        TextColumn("{task.fields[losses]}"), TimeRemainingColumn(), console=console,
    ) as progress:
        task = progress.add_task("train", total=total, losses="")

        def on_step(step: int, losses: dict[str, float]) -> None:
            if step % every == 0 or step == total:
                text = " ".join(f"{k} {v:.2f}" for k, v in losses.items())
                progress.update(task, completed=step, losses=text)

        yield on_step


def note_ignored(ignored: list[tuple[str, str]]) -> None:
    """One line on the arrays of an .npz that are not images."""
    from ..data import ignored_message

    if ignored:
        console.print(ignored_message(ignored), soft_wrap=True, markup=False)


def warn_skipped(skipped: list[tuple[str, str]]) -> None:
    """One warning on the files a load skipped."""
    from ..data import skipped_message

    if skipped:
        console.print(f"[yellow]warning:[/] {escape(skipped_message(skipped))}", soft_wrap=True)


class ConsoleHandler(logging.Handler):
    """The library's notes and warnings (the ``auditor`` logger), one line each on stderr."""

    def emit(self, record: logging.LogRecord) -> None:
        text = escape(record.getMessage())
        warning = record.levelno >= logging.WARNING
        console.print(f"[bold yellow]warning:[/] {text}" if warning else text, soft_wrap=True)


def show_library_messages() -> None:
    logger = logging.getLogger("auditor")
    if not any(isinstance(h, ConsoleHandler) for h in logger.handlers):
        logger.addHandler(ConsoleHandler())
    logger.setLevel(logging.INFO)
    logger.propagate = False


def steady_heap() -> None:
    """Keep a long scan's memory flat (glibc only; elsewhere a no-op).

    A scan allocates and frees the same arrays every step. glibc raises its mmap threshold
    each time such an array is freed, after which arrays of up to 32 MB come from the heap,
    which fragments and grows with the scan's length. A fixed threshold keeps arrays of
    256 KB and more in mappings returned to the system when freed. Measured by
    bench/memory.sh: 1,000 / 10,000 images peaked at 518 / 647 MB before, 482 / 533 MB after
    (the rest of the difference is the 10,000 images' pixels, 31 MB, and their results).
    """
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.mallopt(-3, 256 << 10)  # M_MMAP_THRESHOLD: 256 KB
    except (OSError, AttributeError):
        pass
