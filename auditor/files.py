"""Writing outputs safely: atomic replacement, one line for a full, read-only or forbidden disk,
and one writer per output folder.

- :func:`atomic_write` writes to a temporary file in the target's folder, flushes and fsyncs
  it, then renames it over the target: a reader (or a crash) sees the old file or the new
  one, never half of one. On failure the temporary file is removed and the old file stays.
- :class:`FolderLock` holds an OS lock (flock) on ``<folder>/.auditor.lock`` for a whole scan
  or report: the kernel drops it when the process ends, however it ends, so a killed scan
  leaves no stale lock; the file is never unlinked (unlinking would let two writers lock two
  different files). Holding it, a process may remove the temporary files a killed one left.
"""

from __future__ import annotations

import errno
import os
import socket
import time
from pathlib import Path
from typing import IO, Callable

from .errors import AuditorError, OptionError, OutputError
from .faults import fault_point

LOCK_NAME = ".auditor.lock"


class LockedError(AuditorError):
    """Another process writes into the same output folder."""


def write_error(path: Path, err: OSError) -> OutputError:
    """A one-line error for a failed write, saying what to do."""
    folder = path.parent
    if err.errno in (errno.ENOSPC, errno.EDQUOT):
        what = (f"no space left on the device of {folder} (writing {path.name}): free space or "
                "choose another --out")
    elif err.errno == errno.EROFS:
        what = f"{folder} is on a read-only file system (writing {path.name}): choose another --out"
    elif err.errno in (errno.EACCES, errno.EPERM):
        what = f"permission denied writing {path}: make {folder} writable or choose another --out"
    else:
        reason = os.strerror(err.errno) if err.errno else err
        what = f"cannot write {path} ({reason}): check the disk or choose another --out"
    return OutputError(what)


def atomic_write(path: Path, write: Callable[[IO], None], binary: bool = False) -> Path:
    """Write ``path`` through ``write(file)`` atomically (temporary file, fsync, rename).

    OSError (full disk, read-only, permissions) becomes :class:`OutputError` with one line.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "wb" if binary else "w", **({} if binary else {"encoding": "utf-8"})) as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        fault_point("before-rename", path)
        os.replace(tmp, path)
    except OSError as err:
        _remove(tmp)
        raise write_error(path, err) from err
    except BaseException:
        _remove(tmp)
        raise
    return path


def write_text(path: Path, text: str) -> Path:
    return atomic_write(path, lambda fh: fh.write(text))


def write_bytes(path: Path, data: bytes) -> Path:
    return atomic_write(path, lambda fh: fh.write(data), binary=True)


def _remove(path: Path) -> None:
    try:
        path.unlink(missing_ok=True)
    except OSError:
        pass


def remove_stale_temporaries(folder: Path) -> list[Path]:
    """Remove the temporary files (``.NAME[.PID].tmp``) that a killed writer left in ``folder``
    and its ``card/``; call only while holding the folder's lock."""
    removed = []
    for sub in (folder, folder / "card"):
        if sub.is_dir():
            for tmp in sub.glob(".*.tmp"):
                _remove(tmp)
                removed.append(tmp)
    return removed


class FolderLock:
    """An exclusive flock on ``<folder>/.auditor.lock``, held for the life of a ``with`` block.

    ``wait`` seconds to wait for another holder (0: fail at once). The lock file records the
    holder's PID and host name, for the message the next process prints. Re-entrant within a
    process: a writer that holds the folder (a scan writing its report through
    ``Audit.write``) enters again at once.
    """

    _held: dict[str, int] = {}  # lock files this process holds, and how many times entered

    def __init__(self, folder: Path, wait: float = 0.0) -> None:
        self.folder, self.wait = Path(folder), wait
        self.path = self.folder / LOCK_NAME
        self._fd: int | None = None
        self._key = ""

    def __enter__(self) -> "FolderLock":
        import fcntl

        self._key = os.path.realpath(self.path)
        if self._key in FolderLock._held:
            FolderLock._held[self._key] += 1
            return self
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as err:
            raise write_error(self.path, err) from err
        deadline = time.monotonic() + max(0.0, self.wait)
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                pass
            except OSError as err:  # e.g. ENOLCK on a file system without locks
                os.close(fd)
                reason = os.strerror(err.errno) if err.errno else err
                raise OutputError(f"cannot lock {self.path} ({reason}): choose an --out on a local "
                                  "disk") from err
            if time.monotonic() >= deadline:
                holder = self.holder()
                os.close(fd)
                waited = f" after waiting {self.wait:g} s" if self.wait > 0 else ""
                raise LockedError(
                    f"{self.folder} is in use by another auditor process ({holder}){waited}; give "
                    "each job its own folder (e.g. --out audit-$CI_JOB_ID) or wait for it with "
                    "--wait SECONDS"
                ) from None
            time.sleep(0.1)
        self._fd = fd
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"pid {os.getpid()} on {socket.gethostname()}\n".encode(), 0)
        except OSError:
            pass  # the record is informative only; the lock itself is held
        FolderLock._held[self._key] = 1
        return self

    def holder(self) -> str:
        try:
            text = self.path.read_text().strip()
        except OSError:
            text = ""
        return text or "holder unknown"

    def __exit__(self, *exc) -> None:
        depth = FolderLock._held.get(self._key, 0)
        if depth > 1:
            FolderLock._held[self._key] = depth - 1
            return
        FolderLock._held.pop(self._key, None)
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor releases the flock
            self._fd = None


def sha256(path: Path) -> str:
    """The SHA-256 of a file, read in 1 MiB blocks."""
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def check_writable(out: Path) -> None:
    """An :class:`OptionError` before any work where ``out`` cannot be written."""
    probe = out
    while not probe.exists():
        probe = probe.parent
    if probe.is_dir() and os.statvfs(probe).f_flag & os.ST_RDONLY:
        raise OptionError(f"cannot write the report into {str(out)!r}: {probe} is on a read-only "
                          "file system; pick a writable --out folder")
    if not probe.is_dir() or not os.access(probe, os.W_OK):
        raise OptionError(f"cannot write the report into {str(out)!r}: pick a writable --out "
                          "folder")
