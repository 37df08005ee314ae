"""The progress bar of a scan, on stderr: the only module besides the CLI that draws on the
terminal (with rich). The library reports progress through a callback; ``auditor.scan(...,
progress=True)`` and ``auditor scan`` draw it with :class:`ProgressBar`.

A progress factory is any callable ``factory(title, total)`` returning a context manager that
yields ``advance(k)`` (k input x model searches finished); :class:`ProgressBar` is one, and
:func:`silent` draws nothing. A factory that also takes a ``unit`` keyword is told what is
counted, in the inputs' own word ("image×model pairs", "sentence×model pairs"):
:func:`opened` passes it where the factory takes it.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator


UNIT = "image×model pairs"


def opened(factory: Callable, title: str, total: int, unit: str):
    """``factory(title, total)``, told the ``unit`` where it takes that keyword."""
    import inspect

    try:
        inspect.signature(factory).bind(title, total, unit=unit)
    except (TypeError, ValueError):  # a user's factory(title, total)
        return factory(title, total)
    return factory(title, total, unit=unit)


@contextlib.contextmanager
def silent(title: str, total: int, unit: str = "") -> Iterator[Callable[[int], None]]:
    """A progress factory that draws nothing."""
    yield lambda k: None


class ProgressBar:
    """A progress bar on stderr, or nothing; yields the function the search calls with each
    batch's finished pairs. rich's bar in a terminal and in Jupyter with ipywidgets (its live
    display needs them); in Jupyter without them, one line rewritten in place (rich would warn
    and show nothing)."""

    def __init__(self, title: str, total: int, unit: str = UNIT) -> None:
        self.title, self.total, self.unit = title, total, unit
        self.bar = None
        self.line: TextProgress | None = None

    def __enter__(self) -> Callable[[int], None]:
        from rich.console import Console
        from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                                   TimeElapsedColumn, TimeRemainingColumn)

        console = Console(stderr=True, highlight=False)
        if console.is_jupyter and not has_ipywidgets():
            self.line = TextProgress(self.title, self.total, self.unit)
            return self.line.advance
        self.bar = Progress(TextColumn(self.title), BarColumn(), MofNCompleteColumn(),
                            TextColumn(self.unit),
                            TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
                            console=console, transient=False)
        self.bar.__enter__()
        task = self.bar.add_task("search", total=self.total)
        return lambda k: self.bar.advance(task, k)

    def __exit__(self, *exc) -> None:
        if self.bar is not None:
            self.bar.__exit__(*exc)
        if self.line is not None:
            self.line.close()


def has_ipywidgets() -> bool:
    import importlib.util

    return importlib.util.find_spec("ipywidgets") is not None


class TextProgress:
    """``title ━━━━━━━━━──────── 120/240 image×model pairs 0:00:12 ETA 0:00:12`` on one stderr
    line, rewritten with a carriage return at most twice a second (notebooks honour it)."""

    WIDTH = 30

    def __init__(self, title: str, total: int, unit: str = UNIT) -> None:
        self.title, self.total, self.done, self.unit = title, max(total, 1), 0, unit
        self.started = self.shown = time.monotonic()
        self._draw()

    def advance(self, k: int) -> None:
        self.done += k
        if time.monotonic() - self.shown >= 0.5 or self.done >= self.total:
            self._draw()

    def _draw(self) -> None:
        import sys

        self.shown = time.monotonic()
        elapsed = self.shown - self.started
        filled = int(self.WIDTH * min(self.done / self.total, 1.0))
        eta = elapsed / self.done * (self.total - self.done) if self.done else None
        clock = time.strftime("%H:%M:%S", time.gmtime(elapsed))[1:]
        left = "-:--:--" if eta is None else time.strftime("%H:%M:%S", time.gmtime(eta))[1:]
        sys.stderr.write(f"\r{self.title} {'━' * filled}{'─' * (self.WIDTH - filled)} "
                         f"{self.done}/{self.total} {self.unit} {clock} ETA {left}")
        sys.stderr.flush()

    def close(self) -> None:
        import sys

        self._draw()
        sys.stderr.write("\n")
        sys.stderr.flush()
