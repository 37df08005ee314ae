"""Validating a generator on labelled images of its domain, as `auditor validate-generator` does
it: load the bundle, the models and the labelled images (:func:`plan_validation`), then scan
them, measure which of the scan's figures ranks the models by accuracy and record it in the
bundle's manifest (:func:`validate_generator`). The measures are
:mod:`auditor.accuracy_figures`'s; :func:`rho_intervals` adds how far each reported ρ moves over
resamples of the reported half.

Nothing here prints: the scan's progress goes to the ``progress`` callback.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .data import ImageSet
from .errors import OptionError

MIN_MODELS = 3  # models to rank, at least
MIN_IMAGES = 20  # labelled images, at least (200 or more give a figure worth reading)
DRAWS = 200  # bootstrap resamples of the reported half behind each ρ's interval
PERCENTILES = (10, 90)  # the interval: the range ρ moves over on another set of that size
WIDE = 0.15  # an interval wider than this gets a note: too few labelled images to rank the models
log = logging.getLogger("auditor")


@dataclass
class ValidationPlan:
    """What :func:`validate_generator` will scan: a bundle, three or more models, labelled
    images."""

    generator: Any  # the bundle's generator (auditor.generators)
    classifiers: list[Any]  # the models, loaded
    images: ImageSet  # the labelled images; ``images.labels`` their labels
    labelled: Path  # where they were read from
    reference: Any  # the bundle's reference classifier R, where its figures apply
    error_models: list[str] | None  # models whose distance to the nearest natural error is searched
    seed: int
    write: bool  # record the validation in the bundle's manifest

    @property
    def n_models(self) -> int:
        return len(self.classifiers)

    @property
    def total(self) -> int:
        """The scan's units of work, as its ``progress`` callback counts them."""
        return len(self.images.names) * (len(self.classifiers) + len(self.error_models or []))


@dataclass(frozen=True)
class FigureRho:
    """One figure's Spearman ρ with accuracy over the models, on each half of the images."""

    figure: str  # its key, e.g. "mean_dz"
    label: str  # its name in words
    rho_validation: float | None  # on the half that chose the figure read as accuracy
    rho_test: float | None  # on the other half: the one to report
    chosen: bool  # the figure to read as accuracy
    interval: tuple[float, float] | None = None  # rho_test's 10th-90th percentile over resamples


@dataclass(frozen=True)
class GeneratorValidation:
    """The result of :func:`validate_generator`."""

    record: dict[str, Any]  # the manifest's ``validation`` record
    figures: tuple[FigureRho, ...]  # every figure measured, in the record's order
    n_models: int
    n_validation: int  # images that chose the figure
    n_test: int  # images its ρ is reported on
    manifest: Path | None  # the manifest it was recorded in; None where not written

    @property
    def chosen(self) -> FigureRho:
        """The figure to read as accuracy on this generator's domain."""
        return next(f for f in self.figures if f.chosen)


def plan_validation(
    bundle: str | os.PathLike, models: Sequence[str | os.PathLike], labelled: str | os.PathLike,
    *, labels: str = "auto", limit: int | None = None, write: bool = True, seed: int = 0,
) -> ValidationPlan:
    """Load the generator ``bundle`` (a bundle folder, or a bundled generator's name with
    ``write=False``), three or more model files and the labelled images: an .npz with an images
    and a labels array, or a folder with one sub-folder per class (``labels="folders"``); the
    first ``limit`` of them. Raises :class:`OptionError` (and the loaders' errors) with the
    CLI's messages."""
    from .domains import of_generator
    from .generators import bundled_names, load_generator
    from .loading import reference_for

    bundle, labelled = str(bundle), Path(labelled)
    paths = [Path(p) for p in models]
    if len(paths) < MIN_MODELS:
        raise OptionError("validate-generator needs three or more models to rank, got "
                          f"{len(paths)}")
    for path in paths:
        if not path.exists():
            raise OptionError(f"model file {str(path)!r} does not exist")
    gen = load_generator(bundle)
    if write and bundle in bundled_names():
        raise OptionError(f"{bundle} is a bundled generator: validate a copy of its folder, or "
                          "pass --no-write")
    data, classifiers_of = of_generator(gen).labelled(gen, labelled, limit, labels, paths)
    if data.labels is None:
        raise OptionError(f"no labels in {labelled}: give an .npz with an images and a labels "
                          "array, or one sub-folder per class with --labels folders")
    if len(data.names) < MIN_IMAGES:
        raise OptionError(f"{len(data.names)} labelled images are too few to validate on; give 200 "
                          "or more")
    classifiers = classifiers_of()
    reference, _, error_models = reference_for(gen, classifiers, data.items,
                                               "on" if gen.reference is not None else "off")
    return ValidationPlan(gen, classifiers, data, labelled, reference, error_models, seed, write)


def validate_generator(plan: ValidationPlan, progress: Callable[[int], None] | None = None,
                       command: str | None = None) -> GeneratorValidation:
    """Scan the plan's labelled images with its models, measure every figure's Spearman ρ with
    accuracy (chosen on the first half of the images, reported on the other) and, with
    ``plan.write``, record it in the bundle's manifest (``command``: its provenance).
    ``progress(k)`` is called as the scan finishes k more units of :attr:`ValidationPlan.total`."""
    from .files import write_text
    from .generators import MANIFEST, read_manifest
    from .search import SearchSettings, search
    from .accuracy_figures import LABELS, chosen_figure, validate
    from .domains import of_generator

    gen, classifiers = plan.generator, plan.classifiers
    settings = SearchSettings(seed=plan.seed).resolved()
    out = search(gen, classifiers, plan.images.items, settings, progress=progress,
                 reference=plan.reference, error_models=plan.error_models)
    zoo = f"{len(classifiers)} models given to auditor validate-generator, on {plan.labelled.name}"
    record, _ = validate(classifiers, out, plan.images.items, plan.images.labels, zoo)
    n = len(plan.images.names)
    record["spearman_test_interval"] = rho_intervals(
        classifiers, out, plan.images.labels, np.arange(n // 2, n), record["spearman_test"],
        seed=plan.seed)
    if command is not None:
        record["command"] = command
    manifest = None
    if plan.write:
        document = read_manifest(gen.path)
        document["validation"] = record
        manifest = gen.path / MANIFEST
        write_text(manifest, json.dumps(document, indent=2) + "\n")
    chosen = chosen_figure(record)
    intervals = record["spearman_test_interval"]
    figures = tuple(FigureRho(key, LABELS[key], record["spearman_validation"].get(key), rho,
                              key == chosen, tuple(intervals[key]) if key in intervals else None)
                    for key, rho in record["spearman_test"].items())
    _note_interval(next((f for f in figures if f.chosen), None), record["n_images"]["test"],
                   of_generator(gen).unit)
    return GeneratorValidation(record, figures, len(classifiers), record["n_images"]["validation"],
                               record["n_images"]["test"], manifest)


def rho_intervals(classifiers, out, labels: np.ndarray, rows: np.ndarray, rho: dict,
                  seed: int = 0, draws: int = DRAWS) -> dict[str, list[float]]:
    """Per product figure that has a ρ in ``rho``: the 10th and 90th percentiles of its
    Spearman ρ with accuracy over ``draws`` bootstrap resamples of ``rows`` (the reported half),
    figures recomputed as :func:`auditor.accuracy_figures.model_figures` computes them. How far the
    reported ρ would move on another labelled set of that size: wide where the images are too
    few, or the models' accuracies too close, to rank the models."""
    from .consensus import dawid_skene
    from .stats import effective, median
    from .accuracy_figures import FIGURES, rank_corr

    res = [out.results[m.name] for m in classifiers]
    pred = np.stack([r.prediction[rows] for r in res])
    per_row = {"accuracy": pred == labels[rows], "mean_dz": np.stack(
        [effective(r.delta_z[rows], r.censored[rows]) for r in res])}
    if out.errors is not None and all(m.name in out.errors for m in classifiers):
        per_row["agreement_with_reference"] = pred == out.reference_prediction[rows]
        per_row["mean_error_distance"] = np.stack(  # no natural error found: +inf
            [np.nan_to_num(out.errors[m.name].delta_z[rows], nan=np.inf) for m in classifiers])

    def value(key: str, idx: np.ndarray) -> np.ndarray:
        if key == "consensus_accuracy":
            return dawid_skene(pred[:, idx])["accuracy"]
        if key in ("accuracy", "agreement_with_reference"):
            return per_row[key][:, idx].mean(axis=1)
        rows_dz = per_row[key.replace("median", "mean")][:, idx]
        if key.startswith("median"):
            return np.array([median(v[~np.isnan(v)]) if (~np.isnan(v)).any() else np.inf
                             for v in rows_dz])
        finite = np.isfinite(rows_dz)
        fallback = 0.0 if key == "mean_error_distance" else np.nan
        return np.array([v[f].mean() if f.any() else fallback for v, f in zip(rows_dz, finite)])

    keys = [k for k in FIGURES if rho.get(k) is not None
            and (k == "consensus_accuracy" or k.replace("median", "mean") in per_row)]
    rng = np.random.default_rng(seed)
    drawn: dict[str, list[float]] = {k: [] for k in keys}
    for _ in range(draws):
        idx = rng.integers(0, len(rows), len(rows))
        accuracy = value("accuracy", idx)
        for k in keys:
            drawn[k].append(rank_corr(value(k, idx), accuracy))
    return {k: [round(float(np.percentile(v, p)), 3) for p in PERCENTILES]
            for k, v in ((k, np.array(v)[~np.isnan(v)]) for k, v in drawn.items()) if len(v)}


def _note_interval(chosen: FigureRho | None, n_test: int, unit: str) -> None:
    """Say how far the chosen figure's reported ρ moves over resamples, and where it moves a
    lot, what to do."""
    if chosen is None or chosen.interval is None or chosen.rho_test is None:
        return
    lo, hi = chosen.interval
    wide = hi - lo > WIDE
    log.info(f"note: the reported ρ of {chosen.label}, {chosen.rho_test:.2f}, moves between "
             f"{lo:.2f} and {hi:.2f} over resamples of its {n_test} {unit} (10th-90th "
             "percentile)" + (": too few labelled " + unit + ", or models too close in accuracy, "
                              "to rank them reliably; validate on more (several hundred a half) "
                              "or with models further apart" if wide else ""))
