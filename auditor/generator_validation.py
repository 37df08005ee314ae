"""Validating a generator on labelled images of its domain, as `auditor validate-generator` does
it: load the bundle, the models and the labelled images (:func:`plan_validation`), then scan
them, measure which of the scan's figures ranks the models by accuracy and record it in the
bundle's manifest (:func:`validate_generator`). The measures are :mod:`auditor.accuracy_figures`'s.

Nothing here prints: the scan's progress goes to the ``progress`` callback.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .data import ImageSet
from .errors import OptionError

MIN_MODELS = 3  # models to rank, at least
MIN_IMAGES = 20  # labelled images, at least (200 or more give a figure worth reading)


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

    gen, classifiers = plan.generator, plan.classifiers
    settings = SearchSettings(seed=plan.seed).resolved()
    out = search(gen, classifiers, plan.images.items, settings, progress=progress,
                 reference=plan.reference, error_models=plan.error_models)
    zoo = f"{len(classifiers)} models given to auditor validate-generator, on {plan.labelled.name}"
    record, _ = validate(classifiers, out, plan.images.items, plan.images.labels, zoo)
    if command is not None:
        record["command"] = command
    manifest = None
    if plan.write:
        document = read_manifest(gen.path)
        document["validation"] = record
        manifest = gen.path / MANIFEST
        write_text(manifest, json.dumps(document, indent=2) + "\n")
    chosen = chosen_figure(record)
    figures = tuple(FigureRho(key, LABELS[key], record["spearman_validation"].get(key), rho,
                              key == chosen) for key, rho in record["spearman_test"].items())
    return GeneratorValidation(record, figures, len(classifiers), record["n_images"]["validation"],
                               record["n_images"]["test"], manifest)
