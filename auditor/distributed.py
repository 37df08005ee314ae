"""A scan's search split over processes and machines with Ray (the optional extra ``auditor[ray]``).

Work units are chunks of images, each searched with every model by one Ray task: the search is
per image with its own random stream keyed by the image's index, and a model's dz does not depend
on the others, so units are independent; a unit holds whole search batches (the anchors are
labelled once per batch and charged to its images), so a distributed scan's results equal a
single process's, whatever the number of workers and the order units finish in. Decodes stay
shared between the models of a unit.

The generator bundle and the model files travel through Ray's object store as bytes (a worker
writes them to its own temporary folder once and loads them as a scan does; user models are never
pickled). The driver merges units as they finish; the finished prefix of images is what partial
results hold (units finished beyond a gap are kept when the gap fills, lost on Ctrl-C). A worker
that dies has its unit retried by Ray (``MAX_RETRIES``); a unit that fails for a data or model
reason stops the scan with that error.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .errors import AuditorError, ClusterError, OptionError, first_line
from .faults import worker_fault

if TYPE_CHECKING:
    from .models import ModelOptions

MAX_RETRIES = 3
INSTALL = "pip install 'auditor[ray]' (or pip install ray)"


def require_ray():
    try:
        import ray
    except ImportError:
        raise OptionError("--workers and --ray need Ray, which is not installed: "
                          f"{INSTALL}") from None
    return ray


@dataclass(frozen=True)
class Bundle:
    """Files as bytes, by relative path: a generator bundle's folder, or one model file."""

    files: tuple[tuple[str, bytes], ...]
    sha: str

    @classmethod
    def of(cls, path: Path) -> Bundle:
        import hashlib

        path = Path(path)
        items = ([(p.relative_to(path).as_posix(), p.read_bytes())
                  for p in sorted(path.rglob("*")) if p.is_file()]
                 if path.is_dir() else [(path.name, path.read_bytes())])
        digest = hashlib.sha256()
        for name, data in items:
            digest.update(name.encode() + b"\0" + data)
        return cls(tuple(items), digest.hexdigest())

    def materialise(self, root: Path) -> Path:
        """The files under ``root``/<sha>, written once per node; a folder already there is used
        only if it still holds exactly these files (another scan's, or one tampered with, is
        replaced)."""
        folder = root / self.sha[:16]
        if folder.exists() and Bundle.of(folder).sha != self.sha:
            import shutil

            shutil.rmtree(folder, ignore_errors=True)
        if not folder.exists():
            staging = Path(tempfile.mkdtemp(dir=root))
            for name, data in self.files:
                (staging / name).parent.mkdir(parents=True, exist_ok=True)
                (staging / name).write_bytes(data)
            try:
                staging.rename(folder)
            except OSError:  # another task of this worker's node won the race
                pass
        return folder


@dataclass(frozen=True)
class Spec:
    """What a worker needs besides the images: the generator, the models, how to feed them."""

    generator: Bundle
    models: tuple[tuple[str, Bundle], ...]  # (name, file)
    options: ModelOptions
    reference: bool
    error_models: tuple[str, ...] | None
    threads: int  # torch's and ONNX Runtime's threads in a worker: its share of the cores
    domain: str = "image"  # the inputs' domain (auditor/domains/), which loads the models
    kind: str = "images"  # what the inputs are (the InputSet's kind: sentences, pairs, ...)


_cache: dict = {}  # per worker process: loaded generator and classifiers by spec


def _loaded(spec: Spec):
    key = (spec.generator.sha, tuple((n, b.sha) for n, b in spec.models), repr(spec.options),
           spec.domain, spec.kind)
    if key not in _cache:
        import torch

        from .domains import DOMAINS
        from .generators import load_generator

        torch.set_num_threads(spec.threads)
        user = os.getuid() if hasattr(os, "getuid") else "user"
        root = Path(tempfile.gettempdir()) / f"auditor-ray-{user}"
        root.mkdir(mode=0o700, exist_ok=True)  # per user: another user's files are never loaded
        gen = load_generator(str(spec.generator.materialise(root)), device=spec.options.device)
        domain, classifiers = DOMAINS[spec.domain], []
        for name, bundle in spec.models:
            folder = bundle.materialise(root)  # a model folder's files, or one model file
            path = folder / bundle.files[0][0] if len(bundle.files) == 1 else folder
            classifiers.append(domain.worker_classifier(gen, path, name, spec.options,
                                                        spec.threads, spec.kind))
        _cache.clear()
        _cache[key] = (gen, classifiers)
    return _cache[key]


def _unit(spec: Spec, images: np.ndarray, start: int, stop: int, settings, names: tuple[str, ...]):
    """Search images[start:stop] with the models ``names``: (start, stop, names, SearchOutput)."""
    from .search import search

    worker_fault()  # tests only (faults.py)
    gen, classifiers = _loaded(spec)
    chosen = [c for c in classifiers if c.name in names]
    errors = None if spec.error_models is None else [n for n in spec.error_models if n in names]
    out = search(gen, chosen, images[start:stop], settings, first_index=start,
                 reference=gen.reference if spec.reference else None, error_models=errors)
    return start, stop, names, out


def units(n: int, first: int, batch: int, n_units_hint: int) -> list[tuple[int, int]]:
    """Image ranges of whole batches, at least ``n_units_hint`` of them where the images allow."""
    batches = [(a, min(a + batch, n)) for a in range(first, n, batch)]
    per = max(1, len(batches) // max(1, n_units_hint))
    return [(batches[i][0], batches[min(i + per, len(batches)) - 1][1])
            for i in range(0, len(batches), per)]


class Cluster:
    """``with Cluster(workers, address) as c``: a local Ray cluster of ``workers`` processes, or
    the one at ``address`` (``auto`` finds a running one); shut down on exit if we started it."""

    def __init__(self, workers: int | None, address: str | None) -> None:
        self.workers, self.address = workers, address
        self.started = False

    def __enter__(self) -> Cluster:
        ray = require_ray()
        import logging

        if not ray.is_initialized():
            kwargs = dict(include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR,
                          configure_logging=False)
            try:
                if self.address:
                    ray.init(address=self.address, **kwargs)
                else:
                    ray.init(num_cpus=self.workers, **kwargs)
            except (ConnectionError, RuntimeError, ValueError) as err:
                where = (f"the Ray cluster at {self.address!r}" if self.address
                         else "a local Ray cluster")
                raise OptionError(f"could not start or join {where}: "
                                  f"{str(err).splitlines()[0][:200]}") from None
            self.started = True
        # the workers asked for when we started the cluster; else (an address, or Ray already
        # initialised by the caller) the CPUs the cluster has
        self.size = (self.workers if self.started and self.workers
                     else int(ray.cluster_resources().get("CPU", 1)))
        return self

    def __exit__(self, *exc) -> None:
        if self.started:
            require_ray().shutdown()


def distributed_search(spec: Spec, images: np.ndarray, settings, workers: int,
                       split: str = "chunks", resume=None, on_chunk: Callable | None = None,
                       progress: Callable[[int], None] | None = None):
    """The search of ``images`` with the spec's models, as Ray tasks over ``workers`` processes;
    equal to :func:`auditor.search.search` on the same inputs. ``split``: "chunks" (a unit is a
    chunk of images with every model; decodes shared) or "models" (a chunk with one model)."""
    import time

    ray = require_ray()
    from .search import batch_size, empty_output

    settings = settings.resolved()
    started = time.perf_counter() - (resume.seconds_total if resume is not None else 0.0)
    names = tuple(n for n, _ in spec.models)
    n = len(images)
    out = resume if resume is not None else empty_output(
        n, _latent_dim(spec), names, errors=list(spec.error_models) if spec.reference else None)
    n_error = len(out.errors) if out.errors is not None else 0
    if progress and out.n_done:
        progress(out.n_done * (len(names) + n_error))
    batch = batch_size(settings, len(names))
    ranges = units(n, out.n_done, batch, 4 * workers)
    if split not in ("chunks", "models"):
        raise ValueError(f"split is chunks or models, got {split!r}")
    groups = [names] if split == "chunks" else [(m,) for m in names]
    # every unit searches in the batches of the whole scan (a unit with fewer models would
    # otherwise size its own, and a batch's anchor queries are shared among its images)
    settings = replace(settings, batch_images=batch)
    task = ray.remote(num_cpus=1, max_retries=MAX_RETRIES, retry_exceptions=False)(_unit)
    images_ref, spec_ref = ray.put(images), ray.put(spec)
    pending = {task.remote(spec_ref, images_ref, a, b, settings, g): (a, b, g)
               for a, b in ranges for g in groups}
    todo = {(a, b): len(groups) for a, b in ranges}
    finished_ranges: set[tuple[int, int]] = set()

    def absorb(result) -> None:
        start, stop, unit_names, unit = result
        _merge(out, unit, start, stop, unit_names)
        todo[(start, stop)] -= 1
        if progress:
            errors = sum(1 for m in unit_names if out.errors and m in out.errors)
            progress((stop - start) * (len(unit_names) + errors))
        if todo[(start, stop)] == 0:
            finished_ranges.add((start, stop))
            grew = False
            while any(lo == out.n_done for lo, _ in finished_ranges):
                lo, hi = next(r for r in finished_ranges if r[0] == out.n_done)
                finished_ranges.discard((lo, hi))
                out.n_done, grew = hi, True
            if grew and on_chunk:
                on_chunk(out)

    def finish_before(first: int) -> None:
        """The units of images before ``first`` still running: waited for and kept, so that the
        saved prefix reaches the unit that failed (nothing already computed is lost)."""
        for ref, (a, _, _) in sorted(pending.items(), key=lambda item: item[1][0]):
            if a >= first:
                continue
            try:
                result = ray.get(ref)
            except ray.exceptions.RayError:
                return
            pending.pop(ref)
            absorb(result)

    _collect(ray, pending, absorb, finish_before)
    out.seconds_classifier = sum(out.classifier_seconds.values())
    out.seconds_total = time.perf_counter() - started  # wall time of the scan's search
    return out


def _collect(ray, pending: dict, absorb: Callable, finish_before: Callable) -> None:
    """Wait for the units in ``pending`` (ref -> (start, stop, models)) and ``absorb`` each
    result; a failed unit ends the search with its cause (a data or model reason: the scan's own
    error, after keeping the units before it) or a ClusterError. Units left are cancelled."""
    try:
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            ref = ready[0]
            a, b, _ = pending.pop(ref)
            try:
                result = ray.get(ref)
            except ray.exceptions.RayTaskError as err:
                cause = getattr(err, "cause", None)
                if isinstance(cause, AuditorError):  # a data or model reason: the scan's own error
                    finish_before(a)
                    raise cause from None
                raise ClusterError(f"the Ray task searching images {a}-{b - 1} failed: "
                                   f"{type(cause or err).__name__}: "
                                   f"{first_line(cause or err, 200)}") from err
            except ray.exceptions.RayError as err:  # a worker or node died more than retried, ...
                raise ClusterError(f"the Ray cluster lost the task searching images {a}-{b - 1} "
                                   f"(retried {MAX_RETRIES} times): "
                                   f"{first_line(err, 200)}") from err
            absorb(result)
    finally:
        for ref in pending:
            ray.cancel(ref, force=True)


def _latent_dim(spec: Spec) -> int:
    import json

    manifest = dict(spec.generator.files).get("manifest.json")
    return int(json.loads(manifest)["latent_dim"])


def _merge(out, unit, start: int, stop: int, names: Sequence[str]) -> None:
    """Copy a unit's SearchOutput (images start:stop, models ``names``) into the scan's."""
    out.z0[start:stop] = unit.z0
    for name in names:
        for target, source in ((out.results, unit.results), (out.errors, unit.errors)):
            if target is None or name not in (source or {}):
                continue
            for f in fields(source[name]):
                getattr(target[name], f.name)[start:stop] = getattr(source[name], f.name)
        if out.reference_adversary is not None:
            out.reference_adversary[name][start:stop] = unit.reference_adversary[name]
        out.classifier_seconds[name] = (out.classifier_seconds.get(name, 0.0)
                                        + unit.classifier_seconds.get(name, 0.0))
    if out.reference_prediction is not None:
        out.reference_prediction[start:stop] = unit.reference_prediction
    out.decodes += unit.decodes
    out.seconds_generator += unit.seconds_generator  # summed over workers: compute, not wall time
