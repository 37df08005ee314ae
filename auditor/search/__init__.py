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
    max_radius: float | None = None  # no flip within this norm: the pair is censored; None: radius_cap(d)
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
        for key in ("step", "max_radius"):  # None: the default
            value = getattr(self, key)
            if value is not None and (not value > 0 or not np.isfinite(value)):
                raise OptionError(f"--{key.replace('_', '-')} must be a positive number, got {value}")
        if self.step is not None and self.max_radius is not None and self.step > self.max_radius:
            raise OptionError(f"--step ({self.step}) must not exceed --max-radius ({self.max_radius})")
        if self.batch_images is not None and self.batch_images <= 0:
            raise OptionError(f"--batch must be positive, got {self.batch_images}")
        if self.refine_steps < 0:
            raise OptionError(f"--refine-steps must be 0 or more, got {self.refine_steps}")

    def for_latent(self, latent_dim: int) -> SearchSettings:
        """A copy whose radius cap is set: the given one, or :func:`radius_cap` of the latent size."""
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


def empty_output(n: int, latent_dim: int, names: Sequence[str], errors: Sequence[str] | None = None) -> SearchOutput:
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
    reference=None,
    error_models: Sequence[str] | None = None,
) -> SearchOutput:
    """Search adversaries of ``images`` (N, C, H, W) for each classifier.

    ``progress(k)`` is called with the number of (image, model) pairs finished since the
    last call; ``on_chunk(out)`` after every batch of images (``out.n_done`` are finished).
    ``resume`` continues a SearchOutput whose first ``n_done`` images are finished: the
    result is identical to an uninterrupted search, because every image's random stream is
    keyed by its index and batches keep their boundaries.
    ``first_index`` is the dataset index of ``images[0]`` (it keys the random streams).
    With a ``reference`` classifier R, every pair is searched a second time with another flip
    criterion, "f disagrees with R on the decoded image": the distance to the nearest natural
    error (in ``out.errors``; progress then counts each pair twice), for the models named in
    ``error_models`` (default: all; R's figures apply only to models with R's classes). R labels
    the anchors and every decode; the models' queries count only the models' own calls. R also
    labels every natural adversary G(z*) (``out.reference_adversary``).
    """
    import time

    settings = settings.for_latent(generator.latent_dim).resolved()
    started = time.perf_counter()
    n = len(images)
    names = [c.name for c in classifiers]
    if reference is not None and error_models is None:
        error_models = names
    out = resume if resume is not None else empty_output(
        n, generator.latent_dim, names, errors=list(error_models) if reference is not None else None)
    if (out.errors is not None) != (reference is not None):
        raise ValueError("resumed results and this search differ in whether error distances are searched")
    n_error = len(out.errors) if out.errors is not None else 0
    chunk = batch_size(settings, len(classifiers))
    if out.n_done % chunk and out.n_done != n:
        raise ValueError(f"resumed results end at image {out.n_done}, not at a batch boundary of {chunk}")
    if progress and out.n_done:
        progress(out.n_done * (len(classifiers) + n_error))
    for start in range(out.n_done, n, chunk):
        stop = min(n, start + chunk)
        _search_chunk(generator, classifiers, images, settings, out, start, stop, first_index, progress, reference)
        out.n_done = stop
        if on_chunk:
            on_chunk(out)
    out.seconds_total += time.perf_counter() - started
    out.seconds_classifier = sum(out.classifier_seconds.values())
    return out


def _search_chunk(generator, classifiers, images, settings, out, start, stop, first_index, progress,
                  reference=None) -> None:
    import time

    x = images[start:stop]
    t = time.perf_counter()
    z0 = generator.refine(x, generator.encode(x), settings.refine_steps)
    base = generator.decode(z0)  # G(z0), the reconstruction under the plain rule
    out.seconds_generator += time.perf_counter() - t
    # decodes are added to ``out`` when the chunk is finished, so that a scan stopped mid-chunk
    # saves the count of the chunks it saves (a resume then counts exactly as a straight run)
    decoded = [len(z0)]

    def decode(z: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
        """Candidate inputs of latents ``z``; ``rows``: the batch input each belongs to (None:
        prior samples, decoded plainly)."""
        t = time.perf_counter()
        images_ = generator.prior(z, x) if rows is None else generator.render(z, x[rows], base[rows])
        out.seconds_generator += time.perf_counter() - t
        decoded[0] += len(z)
        return images_

    def classify(clf, images_: np.ndarray) -> np.ndarray:
        t = time.perf_counter()
        labels = clf.predict(images_)
        out.classifier_seconds[clf.name] += time.perf_counter() - t
        return labels

    out.z0[start:stop] = z0
    recon = generator.reconstruction(x, base)  # the candidate at z0
    models = list(classifiers)
    for clf in models:
        res = out.results[clf.name]
        res.prediction[start:stop] = classify(clf, x)
        res.reconstruction_prediction[start:stop] = classify(clf, recon)
        res.queries[start:stop] += 2
    if reference is not None:
        r_x, r_recon = reference.predict(x), reference.predict(recon)
        out.reference_prediction[start:stop] = r_x
    del recon
    _search_pairs(decode, classify, models, x, z0, settings, out.results, start, first_index, progress)
    if reference is not None:
        _search_errors(decode, classify, models, x, z0, settings, out, start, first_index, progress, reference,
                       (r_x, r_recon))
    out.decodes += decoded[0]


def _search_errors(decode, classify, models, x, z0, settings, out, start, first_index, progress, reference,
                   reference_labels) -> None:
    """The semantics check (R's label of every natural adversary) and the error-distance search."""
    stop = start + len(x)
    for clf in models:  # the semantics check: R's label of each natural adversary
        res = out.results[clf.name]
        rows = start + np.flatnonzero(~np.isnan(res.delta_z[start:stop]))
        if len(rows):
            out.reference_adversary[clf.name][rows] = reference.predict(decode(res.z_star[rows], rows - start))
    # The nearest natural error: the same search, "f disagrees with R" as the flip.
    checked = [clf for clf in models if clf.name in out.errors]
    for clf in checked:
        res, err = out.results[clf.name], out.errors[clf.name]
        err.prediction[start:stop] = res.prediction[start:stop]
        err.reconstruction_prediction[start:stop] = res.reconstruction_prediction[start:stop]
    if checked:
        _search_pairs(decode, classify, checked, x, z0, settings, out.errors, start, first_index, progress,
                      reference=reference, reference_labels=reference_labels)


def _search_pairs(decode, classify, models, x, z0, settings, results, start, first_index, progress,
                  reference=None, reference_labels=None) -> None:
    """Search every (image, model) pair of a batch and record the closest flip in ``results``.

    Without ``reference`` a flip is f(G(z)) != f(x), and pairs whose reconstruction already
    changed f's label are not searched. With it a flip is f(G(z)) != R(G(z)) (searched as a
    0/1 "disagrees" label with target 0), and pairs where f and R already disagree on x or on
    G(z0) get distance 0 at z0.
    """
    m = len(x)
    shape = x.shape[1:]
    stop = start + m
    n_pairs = m * len(models)
    k = settings.proposals
    d = z0.shape[1]
    active = []
    for clf in models:
        res = results[clf.name]
        if reference is None:
            active.append(res.reconstruction_prediction[start:stop] == res.prediction[start:stop])
        else:
            r_x, r_recon = reference_labels
            ok = (res.prediction[start:stop] == r_x) & (res.reconstruction_prediction[start:stop] == r_recon)
            rows = start + np.flatnonzero(~ok)
            res.delta_z[rows] = 0.0
            res.z_star[rows] = z0[rows - start]
            res.adversary_prediction[rows] = res.reconstruction_prediction[rows]
            active.append(ok)
    if reference is None:
        target = np.concatenate([results[c.name].prediction[start:stop] for c in models])
    else:
        target = np.zeros(n_pairs, dtype=np.int64)  # 0: f agrees with R; a flip is 1
    algorithm = ALGORITHMS[settings.algorithm]
    context = SearchContext(z0=z0, target=target, n_models=len(models))
    if getattr(algorithm, "anchors", 0):
        # Anchors: latent points drawn from the generator's prior with the scan's seed, the
        # same for every batch; each model labels them here (queries charged to the batch).
        anchors = _stream(settings.seed, ANCHOR_STREAM).standard_normal((algorithm.anchors, d), dtype=np.float32)
        decoded = decode(anchors)
        context.anchors = anchors
        context.anchor_labels = np.stack([classify(clf, decoded) for clf in models])
        if reference is not None:
            context.anchor_labels = (context.anchor_labels != reference.predict(decoded)[None]).astype(np.int64)
        share = np.full(m, algorithm.anchors // m) + (np.arange(m) < algorithm.anchors % m)
        for clf in models:
            results[clf.name].queries[start:stop] += share
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
        flips = np.empty((len(live), k), dtype=bool)
        for b in range(0, len(first), per_call):
            block = first[b : b + per_call]
            z = z0[img[block]][:, None, :] + deltas[block]
            decoded = decode(z.reshape(-1, d), np.repeat(img[block], k)).reshape(len(block), k, *shape)
            r_labels = None if reference is None else reference.predict(decoded.reshape(-1, *shape)).reshape(len(block), k)
            in_block = (inverse >= b) & (inverse < b + len(block))
            for j, clf in enumerate(models):
                sel = np.flatnonzero(in_block & (model_of == j))
                if len(sel):
                    rows = decoded[inverse[sel] - b].reshape(-1, *shape)
                    labels[sel] = classify(clf, rows).reshape(len(sel), k)
                    flips[sel] = (labels[sel] != target[live[sel]][:, None] if r_labels is None
                                  else labels[sel] != r_labels[inverse[sel] - b])
            del decoded
        # per live pair: the closest flipping proposal (best) and its norm (r_min; inf: none)
        masked = np.where(flips, np.linalg.norm(deltas, axis=2), np.inf)
        best = masked.argmin(axis=1)
        r_min = masked[np.arange(len(live)), best]
        for j, clf in enumerate(models):
            sel = np.flatnonzero(model_of == j)
            if len(sel) == 0:
                continue
            res = results[clf.name]
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
