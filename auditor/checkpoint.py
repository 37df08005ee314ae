"""Checkpointing and resume: what makes two scans the same scan, the partial results a scan
writes as its batches finish (and on a stop), and what ``--resume`` continues from.

Nothing is lost: results.json in the output folder always holds every finished image (written
atomically); a stop (Ctrl-C, SIGTERM, a failing model or disk) writes what finished and says how
to continue; ``--resume`` checks that the folder's results belong to the same scan and continues
them to the same results as an uninterrupted run.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .errors import AuditorError, Interrupted, OptionError, OutputError
from .faults import fault_point
from .files import write_bytes

log = logging.getLogger("auditor")

NPZ = "pixel-adversaries.npz"
PARTIAL_EVERY_S = 5.0  # partial results.json at most this often (or 20x a write's duration)


def scan_key(models: list[dict[str, Any]], image_digest: str, generator_id: Any, settings, options,
             limit) -> str:
    """What makes two scans the same scan: models, images (their pixels), generator, settings."""
    blob = json.dumps({
        "models": [[m["name"], m["path"], m.get("sha256") or m["format"]] for m in models],
        "data": image_digest, "generator": generator_id, "settings": dict(vars(settings)),
        "options": {k: v for k, v in vars(options).items() if v != ()},  # () : none given
        "limit": limit,
    }, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def previous_results(out: Path, key: str, resume: bool, force: bool) -> dict | None:
    """The partial results in ``out`` to resume from, after checking they belong to this scan."""
    from . import results
    from .errors import ResultsError

    path = out / "results.json"
    if not path.exists():
        if resume:
            log.info(f"nothing to resume in {out}: starting the scan afresh")
        return None
    try:
        previous = results.read(path)
    except ResultsError:
        if force:
            return None
        raise OptionError(f"{path} is not a readable auditor results file; pass --force to "
                          "overwrite it or choose another --out") from None
    same = previous.get("scan_key") == key
    if resume:
        if not same:
            raise OptionError(f"{path} comes from a different scan (models, images or settings "
                              "changed); run the same command as the interrupted scan with "
                              "--resume, or drop --resume and add --force")
        return previous
    if not same and not force:
        raise OptionError(f"{out} holds the results of a different scan; pass --force to "
                          "overwrite them or choose another --out")
    return None


def restore_pixel(previous: dict, out: Path, n: int, shape):
    """The pixel attack's finished images, where results.json and its npz agree; else None
    (the attack starts over, the latent search still resumes)."""
    from .errors import ResultsError
    from .results import read_pixel_npz
    from .results import restore_pixel as restore

    record = previous.get("pixel")
    if not record:
        return None
    try:
        arrays = read_pixel_npz(out / NPZ, record.get("adversaries_sha256"))
    except ResultsError as err:
        log.info(f"note: {err}; the pixel attack starts over")
        return None
    return restore(previous, n, shape, arrays)


def npz_record(npz: bytes) -> dict:
    return {"adversaries_file": NPZ, "adversaries_sha256": hashlib.sha256(npz).hexdigest()}


def write_npz(out: Path | None, pixel) -> dict | None:
    """The pixel adversaries so far, written beside results.json (before it, so that results.json
    never names a file that is not there); their record for results.json."""
    if pixel is None:
        return None
    from .results import pixel_npz

    npz = pixel_npz(pixel)
    if out is not None:
        write_bytes(out / NPZ, npz)
    return npz_record(npz)


class Checkpoint:
    """A running scan's finished part and its partial writes to ``out``/results.json (none
    without ``out``). ``assemble(output, pixel, extra, search_error)`` makes the results
    document of what finished. The search and the pixel attack call :meth:`on_search` and
    :meth:`on_pixel` after each batch; a stop calls :meth:`interrupted` or :meth:`failed`."""

    def __init__(self, out: Path | None, n: int, assemble: Callable, output=None, pixel=None,
                 search_error: dict | None = None) -> None:
        self.out, self.n, self.assemble = out, n, assemble
        self.output, self.pixel, self.search_error = output, pixel, search_error
        self.written: float | None = None
        self.saved = output.n_done if output is not None else 0
        self.interval = PARTIAL_EVERY_S
        self.where = "" if out is None else f" in {out / 'results.json'}"

    def document(self, output, pixel=None, extra=None, natural=None) -> dict:
        return self.assemble(output, pixel, extra, natural, self.search_error)

    def write(self, output, pixel=None, natural=None) -> None:
        """results.json (and the pixel adversaries' npz) of what finished; ``natural``: the
        naturalness view, where it was measured before a stop."""
        from . import results

        results.write(self.out / "results.json",
                      self.document(output, pixel, write_npz(self.out, pixel), natural))

    def stopped(self, err: OutputError) -> OutputError:
        kept = (f"the last partial results.json ({self.saved} of {self.n} images) is kept: run the "
                "same command with --resume once fixed") if self.saved else "no image was saved"
        return OutputError(f"{err}; the scan stopped, {kept}")

    def save(self, output, pixel=None) -> None:
        began = time.monotonic()
        try:
            self.write(output, pixel)
        except OutputError as err:
            raise self.stopped(err) from err
        self.written, self.saved = time.monotonic(), output.n_done
        # a large scan's partial write takes long (0.6 s for 20 models x 2,000 images): space
        # them so that writing stays under 5% of the scan
        self.interval = max(PARTIAL_EVERY_S, 20 * (self.written - began))

    def on_pixel(self, pixel) -> None:
        self.pixel = pixel
        if self.out is None:
            return
        fault_point("pixel-between-batches")
        if pixel.n_done < self.n and time.monotonic() - (self.written or 0) >= self.interval:
            self.save(self.output, pixel)

    def on_search(self, output) -> None:
        # Atomic write of what is finished: after the first batch, then at most every 5 s, or 20
        # times a write's duration where that is longer (the JSON of a large scan is big). A
        # failed write stops the scan (OutputError).
        self.output = output
        if self.out is None:
            return
        fault_point("between-batches" if self.written is not None else "before-first-write")
        due = self.written is None or time.monotonic() - self.written >= self.interval
        if output.n_done < self.n and due:
            self.save(output)

    def interrupted(self) -> Interrupted:
        """A stop during the search or the pixel attack: what finished is written; the error to
        raise says how to continue."""
        done, n = self.output, self.n
        if done is None or done.n_done == 0:
            return Interrupted("no image was finished, nothing saved")
        if self.out is None:
            return Interrupted(f"{done.n_done} of {n} images were finished; nothing is saved "
                               "without out=FOLDER, which also lets resume=True continue")
        self.write(done, self.pixel)
        pixel = "" if self.pixel is None else f" (pixel attack: {self.pixel.n_done})"
        return Interrupted(f"partial results for {done.n_done} of {n} images{pixel}{self.where}; "
                           "continue with the same command plus --resume")

    def failed(self, err: AuditorError) -> AuditorError:
        """A failure during the search (e.g. a model that starts failing): what finished before
        it is kept; the error to raise says so."""
        done = self.output
        more = done is not None and (done.n_done > self.saved or self.pixel is not None)
        if self.out is not None and more:
            self.save(done, self.pixel)
        if self.saved:
            return type(err)(f"{err} (the {self.saved} of {self.n} images finished before are kept"
                             f"{self.where}: fix the cause and run the same command with --resume)")
        return err
