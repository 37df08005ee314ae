"""Black-box search for the nearest natural adversary of every image, for every model.

For image x with z0 = I(x) (refined on ||G(z) - x||) and classifier f, an adversary is a
z with f(G(z)) != f(x); its cost is dz = ||z - z0||. Each algorithm (one module each)
decides which shell of norms (lo, hi] to sample next; this driver does the rest:

- images are processed in chunks; every step is one generator call for the chunk and one
  classifier call per model (black box: only predicted labels are used);
- common random numbers: image i's perturbations at step k come from its own seeded
  stream, the same for every model, so models are compared on the same samples and a
  model's results do not depend on the other models, the chunking or ``--limit``;
- decodes are shared: (image, shell) states that coincide between models are decoded once;
- the label to flip is the model's own prediction f(x); where the reconstruction G(z0)
  already changes it, the pair is recorded as such and not searched.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from ..errors import OptionError
from .hybrid import HybridSearch
from .iterative import IterativeSearch

ALGORITHMS = {"hybrid": HybridSearch, "iterative": IterativeSearch}


@dataclass
class SearchSettings:
    algorithm: str = "hybrid"
    samples: int = 250  # N, perturbations sampled per image and step
    step: float = 0.1  # dr, shell width and stopping precision
    max_radius: float = 8.0  # no flip within this norm: the pair is censored
    patience: int = 3  # B, consecutive misses that end the hybrid's iterative phase
    max_steps: int = 200  # steps per image before the search stops with what it has
    refine_steps: int = 50  # gradient steps improving z0 on ||G(z) - x||
    seed: int = 0
    chunk_samples: int = 32_768  # decodes per generator call: bounds memory
    batch_images: int | None = None  # images searched together; None: from chunk_samples

    def validate(self) -> None:
        if self.algorithm not in ALGORITHMS:
            raise OptionError(
                f"unknown search algorithm {self.algorithm!r}; expected one of {', '.join(ALGORITHMS)}"
            )
        for key in ("samples", "patience", "max_steps", "chunk_samples"):
            if getattr(self, key) <= 0:
                raise OptionError(f"--{key.replace('_', '-')} must be positive, got {getattr(self, key)}")
        for key in ("step", "max_radius"):
            value = getattr(self, key)
            if not value > 0 or not np.isfinite(value):
                raise OptionError(f"--{key.replace('_', '-')} must be a positive number, got {value}")
        if self.step > self.max_radius:
            raise OptionError(f"--step ({self.step}) must not exceed --max-radius ({self.max_radius})")
        if self.batch_images is not None and self.batch_images <= 0:
            raise OptionError(f"--batch must be positive, got {self.batch_images}")
        if self.refine_steps < 0:
            raise OptionError(f"--refine-steps must be 0 or more, got {self.refine_steps}")


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
    decodes: int = 0  # generator decodes, shared between models
    seconds_generator: float = 0.0
    seconds_classifier: float = 0.0
    seconds_total: float = 0.0
    classifier_seconds: dict[str, float] = field(default_factory=dict)
    n_done: int = 0  # images[:n_done] are finished


def empty_output(n: int, latent_dim: int, names: Sequence[str]) -> SearchOutput:
    """A SearchOutput for n images with nothing searched yet."""
    out = SearchOutput(z0=np.zeros((n, latent_dim), dtype=np.float32), results={})
    for name in names:
        out.results[name] = ModelResult(
            prediction=np.zeros(n, dtype=np.int64),
            reconstruction_prediction=np.zeros(n, dtype=np.int64),
            adversary_prediction=np.full(n, -1, dtype=np.int64),
            delta_z=np.full(n, np.nan),
            z_star=np.full((n, latent_dim), np.nan, dtype=np.float32),
            queries=np.zeros(n, dtype=np.int64),
        )
        out.classifier_seconds[name] = 0.0
    return out


def batch_size(settings: SearchSettings, n_models: int) -> int:
    """Images searched together. A step decodes at most (models x images x N) samples:
    unless --batch says otherwise, keep that under chunk_samples."""
    if settings.batch_images:
        return settings.batch_images
    return max(1, settings.chunk_samples // (settings.samples * max(1, n_models)))


def _stream(seed: int, index: int) -> np.random.Generator:
    return np.random.default_rng([seed, index])


def search(
    generator,
    classifiers: Sequence,
    images: np.ndarray,
    settings: SearchSettings,
    progress: Callable[[int], None] | None = None,
    first_index: int = 0,
    resume: SearchOutput | None = None,
    on_chunk: Callable[[SearchOutput], None] | None = None,
) -> SearchOutput:
    """Search adversaries of ``images`` (N, C, H, W) for each classifier.

    ``progress(k)`` is called with the number of (image, model) pairs finished since the
    last call; ``on_chunk(out)`` after every batch of images (``out.n_done`` are finished).
    ``resume`` continues a SearchOutput whose first ``n_done`` images are finished: the
    result is identical to an uninterrupted search, because every image's random stream is
    keyed by its index and batches keep their boundaries.
    ``first_index`` is the dataset index of ``images[0]`` (it keys the random streams).
    """
    import time

    settings.validate()
    started = time.perf_counter()
    n = len(images)
    out = resume if resume is not None else empty_output(n, generator.latent_dim, [c.name for c in classifiers])
    chunk = batch_size(settings, len(classifiers))
    if out.n_done % chunk and out.n_done != n:
        raise ValueError(f"resumed results end at image {out.n_done}, not at a batch boundary of {chunk}")
    if progress and out.n_done:
        progress(out.n_done * len(classifiers))
    for start in range(out.n_done, n, chunk):
        stop = min(n, start + chunk)
        _search_chunk(generator, classifiers, images, settings, out, start, stop, first_index, progress)
        out.n_done = stop
        if on_chunk:
            on_chunk(out)
    out.seconds_total += time.perf_counter() - started
    out.seconds_classifier = sum(out.classifier_seconds.values())
    return out


def _search_chunk(generator, classifiers, images, settings, out, start, stop, first_index, progress) -> None:
    import time

    def decode(z: np.ndarray) -> np.ndarray:
        t = time.perf_counter()
        x = generator.decode(z)
        out.seconds_generator += time.perf_counter() - t
        out.decodes += len(z)
        return x

    def classify(clf, x: np.ndarray) -> np.ndarray:
        t = time.perf_counter()
        labels = clf.predict(x)
        out.classifier_seconds[clf.name] += time.perf_counter() - t
        return labels

    x = images[start:stop]
    m = len(x)
    t = time.perf_counter()
    z0 = generator.refine(x, generator.encode(x), settings.refine_steps)
    out.seconds_generator += time.perf_counter() - t
    out.z0[start:stop] = z0
    recon = decode(z0)

    # One search state per (image, model) pair: pair p = model j * m + image i.
    models = list(classifiers)
    active = []
    for clf in models:
        res = out.results[clf.name]
        res.prediction[start:stop] = classify(clf, x)
        res.reconstruction_prediction[start:stop] = classify(clf, recon)
        res.queries[start:stop] += 2
        active.append(res.reconstruction_prediction[start:stop] == res.prediction[start:stop])
    n_pairs = m * len(models)
    state = ALGORITHMS[settings.algorithm](
        n_pairs, step=settings.step, max_radius=settings.max_radius, patience=settings.patience
    )
    state.done[~np.concatenate(active)] = True
    reported = int(state.done.sum())
    if progress and reported:
        progress(reported)
    target = np.concatenate([out.results[c.name].prediction[start:stop] for c in models])
    streams = [_stream(settings.seed, first_index + start + i) for i in range(m)]
    big_n = settings.samples
    for _ in range(settings.max_steps):
        live = np.flatnonzero(~state.done)
        if len(live) == 0:
            break
        live_images = np.unique(live % m)
        # Common random numbers: each live image draws its directions and radius fractions
        # once per step; every model's samples for that image use the same draws.
        dirs = np.zeros((m, big_n, generator.latent_dim), dtype=np.float32)
        fracs = np.zeros((m, big_n), dtype=np.float32)
        for i in live_images:
            g = streams[i].standard_normal((big_n, generator.latent_dim), dtype=np.float32)
            dirs[i] = g / np.linalg.norm(g, axis=1, keepdims=True)
            fracs[i] = 1.0 - streams[i].random(big_n, dtype=np.float32)  # in (0, 1]
        lo, hi = state.interval()
        # Decode each distinct (image, lo, hi) once, shared by the models in that state.
        keys = np.stack([live % m, lo[live], hi[live]], axis=1)
        uniq, inverse = np.unique(keys, axis=0, return_inverse=True)
        inverse = inverse.reshape(-1)
        u_img = uniq[:, 0].astype(int)
        radii = uniq[:, 1:2] + fracs[u_img] * (uniq[:, 2:3] - uniq[:, 1:2])  # (U, N)
        z = z0[u_img][:, None, :] + radii[:, :, None].astype(np.float32) * dirs[u_img]  # (U, N, d)
        decoded = decode(z.reshape(-1, generator.latent_dim)).reshape(len(uniq), big_n, *x.shape[1:])
        found = np.zeros(len(live), dtype=bool)
        radius = np.zeros(len(live))
        for j, clf in enumerate(models):
            sel = np.flatnonzero(live // m == j)
            if len(sel) == 0:
                continue
            rows = inverse[sel]
            labels = classify(clf, decoded[rows].reshape(-1, *x.shape[1:])).reshape(len(sel), big_n)
            res = out.results[clf.name]
            img = live[sel] % m
            np.add.at(res.queries, start + img, big_n)
            flips = labels != target[live[sel]][:, None]
            masked = np.where(flips, radii[rows], np.inf)
            k = masked.argmin(axis=1)
            r_min = masked[np.arange(len(sel)), k]
            hit = np.isfinite(r_min)
            found[sel] = hit
            radius[sel] = np.where(hit, r_min, 0.0)
            # Keep the closest flip found so far (NaN: none yet). An image occurs once per model.
            current = res.delta_z[start + img]
            b = np.flatnonzero(hit & ~(r_min >= current))
            ib = img[b]
            res.delta_z[start + ib] = r_min[b]
            res.z_star[start + ib] = z0[ib] + r_min[b, None].astype(np.float32) * dirs[ib, k[b]]
            res.adversary_prediction[start + ib] = labels[b, k[b]]
        state.update(live, found, radius)
        if progress:
            now = int(state.done.sum())
            progress(now - reported)
            reported = now
    if progress and reported < n_pairs:  # pairs stopped by max_steps
        progress(n_pairs - reported)
