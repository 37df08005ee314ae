"""Black-box search for the nearest natural adversary of every image, for every model.

For image x with z0 = I(x) (refined on ||G(z) - x||) and classifier f, an adversary is a
z with f(G(z)) != f(x); its cost is dz = ||z - z0||. Each algorithm (one module each)
proposes N perturbations per (image, model) pair and step and learns which flipped the
label; this driver does the rest:

- images are processed in batches; every step is a few generator calls (of at most
  ``chunk_samples`` decodes) and one classifier call per model and generator call (black
  box: only predicted labels are used); every verified flip closer than the best so far
  becomes the pair's adversary, so dz is an upper bound of the optimum;
- common random numbers: image i's noise at step k comes from its own seeded stream, the
  same for every model, so models are compared on the same draws and a model's results do
  not depend on the other models, the batching or ``--limit``;
- decodes are shared: proposals that coincide between models are decoded once;
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
from .local import LocalSearch

ALGORITHMS = {"local": LocalSearch, "hybrid": HybridSearch, "iterative": IterativeSearch}


@dataclass
class SearchSettings:
    """Search settings; ``None`` means the chosen algorithm's default (``resolved()`` fills them in)."""

    algorithm: str = "local"
    samples: int | None = None  # N, proposals per image and step
    step: float | None = None  # dr: shell width (hybrid, iterative) or precision (local)
    max_radius: float = 8.0  # no flip within this norm: the pair is censored
    patience: int = 3  # B, consecutive misses that end the hybrid's iterative phase
    max_steps: int | None = None  # steps per image before the search stops with what it has
    refine_steps: int = 50  # gradient steps improving z0 on ||G(z) - x||
    seed: int = 0
    chunk_samples: int = 8192  # decodes per generator call: bounds memory
    batch_images: int | None = None  # images searched together; None: from chunk_samples

    def resolved(self) -> SearchSettings:
        """A copy with the algorithm's defaults in place of ``None``; validated."""
        self.validate()  # the algorithm first: its defaults fill in the rest
        values = dict(vars(self))
        for key, value in ALGORITHMS[self.algorithm].defaults.items():
            if values.get(key) is None:
                values[key] = value
        settings = SearchSettings(**values)
        settings.validate()
        return settings

    def validate(self) -> None:
        if self.algorithm not in ALGORITHMS:
            raise OptionError(
                f"unknown search algorithm {self.algorithm!r}; expected one of {', '.join(ALGORITHMS)}"
            )
        for key in ("samples", "patience", "max_steps", "chunk_samples"):
            value = getattr(self, key)
            if value is not None and value <= 0:
                raise OptionError(f"--{key.replace('_', '-')} must be positive, got {value}")
        for key in ("step", "max_radius"):
            value = getattr(self, key)
            if value is not None and (not value > 0 or not np.isfinite(value)):
                raise OptionError(f"--{key.replace('_', '-')} must be a positive number, got {value}")
        if self.step is not None and self.step > self.max_radius:
            raise OptionError(f"--step ({self.step}) must not exceed --max-radius ({self.max_radius})")
        if self.batch_images is not None and self.batch_images <= 0:
            raise OptionError(f"--batch must be positive, got {self.batch_images}")
        if self.refine_steps < 0:
            raise OptionError(f"--refine-steps must be 0 or more, got {self.refine_steps}")

    @property
    def proposals(self) -> int:
        """Perturbations proposed per (image, model) pair and step."""
        return self.samples or ALGORITHMS[self.algorithm].defaults["samples"]


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
    anchors: np.ndarray | None = None  # (A, d) prior samples, for algorithms that ask
    anchor_labels: np.ndarray | None = None  # (models, A) each model's labels of G(anchors)


ANCHOR_STREAM = 2**62  # random stream of the anchors; image streams are keyed 0, 1, 2, ...


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

    settings = settings.resolved()
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
    shape = x.shape[1:]
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
    del recon
    n_pairs = m * len(models)
    k = settings.proposals
    d = generator.latent_dim
    target = np.concatenate([out.results[c.name].prediction[start:stop] for c in models])
    algorithm = ALGORITHMS[settings.algorithm]
    context = SearchContext(z0=z0, target=target, n_models=len(models))
    if getattr(algorithm, "anchors", 0):
        # Anchors: latent points drawn from the generator's prior with the scan's seed, the
        # same for every batch; each model labels them here (queries charged to the batch).
        anchors = _stream(settings.seed, ANCHOR_STREAM).standard_normal((algorithm.anchors, d), dtype=np.float32)
        decoded = decode(anchors)
        context.anchors = anchors
        context.anchor_labels = np.stack([classify(clf, decoded) for clf in models])
        share = np.full(m, algorithm.anchors // m) + (np.arange(m) < algorithm.anchors % m)
        for clf in models:
            out.results[clf.name].queries[start:stop] += share
        del decoded
    state = algorithm(n_pairs, settings, d, context)
    state.done[~np.concatenate(active)] = True
    reported = int(state.done.sum())
    if progress and reported:
        progress(reported)
    streams = [_stream(settings.seed, first_index + start + i) for i in range(m)]
    per_call = max(1, settings.chunk_samples // k)  # distinct states decoded per generator call
    for _ in range(settings.max_steps):
        live = np.flatnonzero(~state.done)
        if len(live) == 0:
            break
        img = live % m
        # Common random numbers: each live image draws its noise once per step; every model's
        # proposals for that image are made from the same draws.
        noise = np.zeros((m, k, d), dtype=np.float32)
        uniform = np.zeros((m, k), dtype=np.float32)
        for i in np.unique(img):
            noise[i] = streams[i].standard_normal((k, d), dtype=np.float32)
            uniform[i] = 1.0 - streams[i].random(k, dtype=np.float32)  # in (0, 1]
        deltas, keys = state.propose(live, noise[img], uniform[img])  # (L, k, d), (L, c)
        # Decode each distinct (image, state key) once, shared by the models in that state.
        _, first, inverse = np.unique(
            np.column_stack([img, keys]), axis=0, return_index=True, return_inverse=True
        )
        inverse = inverse.reshape(-1)
        model_of = live // m
        labels = np.empty((len(live), k), dtype=np.int64)
        for b in range(0, len(first), per_call):
            block = first[b : b + per_call]
            z = z0[img[block]][:, None, :] + deltas[block]
            decoded = decode(z.reshape(-1, d)).reshape(len(block), k, *shape)
            in_block = (inverse >= b) & (inverse < b + len(block))
            for j, clf in enumerate(models):
                sel = np.flatnonzero(in_block & (model_of == j))
                if len(sel):
                    rows = decoded[inverse[sel] - b].reshape(-1, *shape)
                    labels[sel] = classify(clf, rows).reshape(len(sel), k)
            del decoded
        # per live pair: the closest flipping proposal (best) and its norm (r_min; inf: none)
        flips = labels != target[live][:, None]
        masked = np.where(flips, np.linalg.norm(deltas, axis=2), np.inf)
        best = masked.argmin(axis=1)
        r_min = masked[np.arange(len(live)), best]
        for j, clf in enumerate(models):
            sel = np.flatnonzero(model_of == j)
            if len(sel) == 0:
                continue
            res = out.results[clf.name]
            rows = start + img[sel]
            res.queries[rows] += k
            # Keep the closest flip found so far (NaN: none yet). An image occurs once per model.
            b = sel[np.isfinite(r_min[sel]) & ~(r_min[sel] >= res.delta_z[rows])]
            rb = start + img[b]
            res.delta_z[rb] = r_min[b]
            res.z_star[rb] = z0[img[b]] + deltas[b, best[b]]
            res.adversary_prediction[rb] = labels[b, best[b]]
        state.observe(live, r_min, best, deltas)
        if progress:
            now = int(state.done.sum())
            progress(now - reported)
            reported = now
    if progress and reported < n_pairs:  # pairs stopped by max_steps
        progress(n_pairs - reported)
