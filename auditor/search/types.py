"""The latent search's settings and results: what a scan asks of the search and what it gets
back, per model and image."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from ..errors import OptionError
from .registry import ALGORITHMS, AUTO, auto_search, default_search
from .subspace import active_basis


@dataclass(frozen=True)
class SearchSettings:
    """Search settings; ``None`` means the chosen algorithm's default (``resolved()`` fills them
    in)."""

    algorithm: str = AUTO  # auto: the generator's default (registry.DEFAULTS), set by for_generator
    samples: int | None = None  # N, proposals per image and step
    step: float | None = None  # dr: shell width (hybrid, iterative) or precision (local)
    # no flip within this norm: the pair is censored; None: radius_cap(d)
    max_radius: float | None = None
    patience: int = 3  # B, consecutive misses that end the hybrid's iterative phase
    max_steps: int | None = None  # steps per image before the search stops with what it has
    refine_steps: int = 50  # gradient steps improving z0 on ||G(z) - x||
    seed: int = 0
    chunk_samples: int = 8192  # decodes per generator call: bounds memory
    batch_images: int | None = None  # images searched together; None: from chunk_samples
    chosen: str | None = None  # why --search auto chose the algorithm, in words (for_generator)
    # models whose margins are flat between jumps or who give labels only (smoothness.py), whose
    # pairs a search with a stretch (margin.py) walks for up to that many times max_steps; None:
    # not asked yet
    stretched: tuple[str, ...] | None = None
    # models searched by their gradients through the generator besides margin.py's black box at
    # half the steps, the closer adversary kept (search/gradient.py); None or (): none
    white: tuple[str, ...] | None = None
    # ONNX tree ensembles searched by the gradients of a soft copy of their trees through the
    # generator (search/trees.py) before margin.py's black box, which starts from the adversary
    # found there; None or (): none
    trees: tuple[str, ...] | None = None
    # the generator's active directions the search moves z in (search/subspace.py), set by
    # for_generator for an algorithm that asks; None: all of them
    active_dims: int | None = None

    def resolved(self) -> SearchSettings:
        """A copy with the algorithm's defaults in place of ``None``; validated. With the algorithm
        still ``auto`` (no generator yet), only validated."""
        self.validate()  # the algorithm first: its defaults fill in the rest
        if self.algorithm == AUTO:
            return self
        values = dict(vars(self))
        for key, value in ALGORITHMS[self.algorithm].defaults.items():
            if values.get(key) is None:
                values[key] = value
        settings = SearchSettings(**values)
        settings.validate()
        return settings

    def validate(self) -> None:
        if self.algorithm not in ALGORITHMS and self.algorithm != AUTO:
            raise OptionError(
                f"unknown search algorithm {self.algorithm!r}; expected {AUTO} or one of "
                f"{', '.join(ALGORITHMS)}"
            )
        for key in ("samples", "patience", "max_steps", "chunk_samples"):
            value = getattr(self, key)
            if value is not None and value <= 0:
                raise OptionError(f"--{key.replace('_', '-')} must be positive, got {value}")
        for key in ("step", "max_radius"):  # None: the default
            value = getattr(self, key)
            if value is not None and (not value > 0 or not np.isfinite(value)):
                raise OptionError(f"--{key.replace('_', '-')} must be a positive number, got "
                                  f"{value}")
        if self.step is not None and self.max_radius is not None and self.step > self.max_radius:
            raise OptionError(f"--step ({self.step}) must not exceed --max-radius "
                              f"({self.max_radius})")
        if self.batch_images is not None and self.batch_images <= 0:
            raise OptionError(f"--batch must be positive, got {self.batch_images}")
        if self.refine_steps < 0:
            raise OptionError(f"--refine-steps must be 0 or more, got {self.refine_steps}")

    def for_generator(self, generator, classifiers: Sequence | None = None,
                      inputs: np.ndarray | None = None) -> SearchSettings:
        """A resolved copy for ``generator``: ``auto`` becomes the default search of its modality
        and latent size (settings the user gave stay theirs), and the radius cap its latent
        size's unless given. Given the ``classifiers`` and the ``inputs`` they will be searched
        on, auto also asks whether every model gives scores and which are smooth
        (registry.auto_search), and a search with a stretch learns which are flat between jumps."""
        values = dict(vars(self))
        if self.algorithm == AUTO:
            modality = getattr(generator, "modality", "image")
            if classifiers is None:
                chosen = default_search(modality, generator.latent_dim)
                values["chosen"] = "auto: the default for the generator"
            else:
                chosen, values["chosen"] = auto_search(generator, classifiers, inputs, self.seed)
            values.update({key: value for key, value in chosen.items()
                           if key == "algorithm" or values.get(key) is None})
        settings = SearchSettings(**values).for_latent(generator.latent_dim).resolved()
        if (settings.stretched is None and classifiers is not None and inputs is not None
                and getattr(ALGORITHMS[settings.algorithm], "stretch", 1) > 1):
            from .smoothness import flat_models

            settings = replace(settings, stretched=tuple(flat_models(generator, classifiers,
                                                                     inputs, self.seed)))
        basis = (active_basis(generator) if getattr(ALGORITHMS[settings.algorithm], "subspace",
                                                    False) else None)
        return replace(settings, active_dims=None if basis is None else int(basis.shape[1]))

    def for_latent(self, latent_dim: int) -> SearchSettings:
        """A copy whose radius cap is set: the given one, or :func:`radius_cap` of the latent
        size."""
        if self.max_radius is not None:
            return self
        return SearchSettings(**{**vars(self), "max_radius": radius_cap(latent_dim)})

    @property
    def proposals(self) -> int:
        """Perturbations proposed per (image, model) pair and step."""
        return self.samples or ALGORITHMS[self.algorithm].defaults["samples"]


def radius_cap(latent_dim: int) -> float:
    """The default radius cap: 2 sqrt(d), twice the typical norm of a prior sample (8 for d = 16,
    as the grayscale bundles were validated with; 16 for the photos' d = 64, where detail-preserving
    candidates of a quarter of the photos needed radii of 12-24 to flip a CNN)."""
    return round(2.0 * float(np.sqrt(latent_dim)), 4)


@dataclass
class ModelResult:
    """One model's results over N images (arrays of length N)."""

    prediction: np.ndarray  # f(x), int64
    reconstruction_prediction: np.ndarray  # f(G(z0)), int64
    adversary_prediction: np.ndarray  # f(G(z*)), -1 where none was found
    delta_z: np.ndarray  # ||z* - z0||, NaN where none (censored or reconstruction changed)
    z_star: np.ndarray  # (N, d), NaN where none
    queries: np.ndarray  # classifier queries spent per image, int64

    @property
    def reconstruction_changed(self) -> np.ndarray:
        return self.reconstruction_prediction != self.prediction

    @property
    def censored(self) -> np.ndarray:
        return ~self.reconstruction_changed & np.isnan(self.delta_z)


@dataclass
class SearchOutput:
    z0: np.ndarray  # (N, d) refined encodings
    results: dict[str, ModelResult]
    # With a reference classifier R: per model the distance to the nearest natural *error*
    # (f(G(z)) != R(G(z))), 0 where f and R already disagree on x or G(z0); and R(x).
    errors: dict[str, ModelResult] | None = None
    reference_prediction: np.ndarray | None = None
    # R's label of each model's natural adversary G(z*) (-1 where none): did it keep its class?
    reference_adversary: dict[str, np.ndarray] | None = None
    decodes: int = 0  # generator decodes, shared between models
    seconds_generator: float = 0.0
    seconds_classifier: float = 0.0
    seconds_total: float = 0.0
    classifier_seconds: dict[str, float] = field(default_factory=dict)
    n_done: int = 0  # images[:n_done] are finished


def _empty_result(n: int, latent_dim: int) -> ModelResult:
    return ModelResult(
        prediction=np.zeros(n, dtype=np.int64),
        reconstruction_prediction=np.zeros(n, dtype=np.int64),
        adversary_prediction=np.full(n, -1, dtype=np.int64),
        delta_z=np.full(n, np.nan),
        z_star=np.full((n, latent_dim), np.nan, dtype=np.float32),
        queries=np.zeros(n, dtype=np.int64),
    )


def empty_output(n: int, latent_dim: int, names: Sequence[str],
                 errors: Sequence[str] | None = None) -> SearchOutput:
    """A SearchOutput for n images with nothing searched yet; ``errors``: the models whose
    distance to the nearest natural error is searched too (None: no reference classifier)."""
    out = SearchOutput(z0=np.zeros((n, latent_dim), dtype=np.float32), results={})
    if errors is not None:
        out.errors, out.reference_prediction = {}, np.full(n, -1, dtype=np.int64)
        out.reference_adversary = {name: np.full(n, -1, dtype=np.int64) for name in names}
    for name in names:
        out.results[name] = _empty_result(n, latent_dim)
        if errors is not None and name in errors:
            out.errors[name] = _empty_result(n, latent_dim)
        out.classifier_seconds[name] = 0.0
    return out


def batch_size(settings: SearchSettings, n_models: int) -> int:
    """Images searched together. A step proposes (models x images x N) perturbations:
    unless --batch says otherwise, keep that under chunk_samples, so that the working set
    of a step does not depend on the number of images."""
    if settings.batch_images:
        return settings.batch_images
    return max(1, settings.chunk_samples // (settings.proposals * max(1, n_models)))


@dataclass
class SearchContext:
    """What an algorithm may know about a batch besides the labels of its own proposals.
    Pair p is image p % m under model p // m."""

    z0: np.ndarray  # (m, d) encodings of the batch's images
    target: np.ndarray  # (pairs,) the label each pair must flip
    n_models: int
    stretched: np.ndarray | None = None  # (models,) bool: SearchSettings.stretched names it
    white: np.ndarray | None = None  # (models,) bool: searched by gradients too (half the steps)
    trees: np.ndarray | None = None  # (models,) bool: searched by a soft copy's gradients first
    # (pairs, d) per pair an adversary's delta to start from (search/trees.py's), in the search's
    # coordinates; NaN rows: none
    starts: np.ndarray | None = None
    anchors: np.ndarray | None = None  # (A, d) prior samples, for algorithms that ask
    anchor_labels: np.ndarray | None = None  # (models, A) each model's labels of G(anchors)
