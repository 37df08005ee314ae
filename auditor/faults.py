"""The one fault-injection seam of the test suite: stops and crashes at named points of a scan,
so that tests can check that nothing finished is lost. Outside tests (the variables unset) every
call returns at once and does nothing.

- ``AUDITOR_FAULT="POINT:SIGNAL[:N]"``: :func:`fault_point` sends SIGNAL (INT, TERM or KILL) to
  this process the N-th time (default the 1st) execution passes POINT. Points:
  before-first-write, between-batches, pixel-between-batches, after-search, before-rename,
  during-render.
- ``AUDITOR_FAULT_WORKER=PATH``: :func:`worker_fault` kills the first Ray worker process that
  reaches it (the one that creates PATH), as a lost machine would.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

_hits: dict[str, int] = {}


def fault_point(name: str, path: Path | None = None) -> None:
    """A named point a test may stop the process at (``AUDITOR_FAULT``)."""
    spec = os.environ.get("AUDITOR_FAULT")
    if not spec:
        return
    point, sig, *count = spec.split(":")
    if point != name:
        return
    _hits[name] = _hits.get(name, 0) + 1
    if _hits[name] == int(count[0] if count else 1):
        os.kill(os.getpid(), getattr(signal, f"SIG{sig}"))
        time.sleep(1)  # a signal handled by Python is raised at the next bytecode: let it arrive


def worker_fault() -> None:
    """The point a test may kill a Ray worker at (``AUDITOR_FAULT_WORKER``): the first worker to
    get here creates the marker file and dies."""
    marker = os.environ.get("AUDITOR_FAULT_WORKER")
    if marker and not os.path.exists(marker):
        Path(marker).write_text(str(os.getpid()))
        os.kill(os.getpid(), signal.SIGKILL)
