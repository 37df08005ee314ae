"""The driver of every latent search: black-box search for the nearest natural adversary of every
image, for every model.

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

import numpy as np

from .registry import ALGORITHMS
from .step import Step
from .subspace import active_basis, project
from .types import SearchContext, SearchOutput, SearchSettings, batch_size, empty_output


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
    anchor_labels: dict | None = None,
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
    ``anchor_labels``: a dict that keeps each model's labels of the anchors (the same prior
    samples in every batch and search of one seed) across batches and calls; a model labels them,
    and is charged for them, only where the dict has none yet (search/estimate.py's long runs).
    """
    import time

    settings = settings.for_generator(generator, classifiers, images)
    basis = active_basis(generator) if settings.active_dims else None  # subspace.py
    started = time.perf_counter()
    n = len(images)
    names = [c.name for c in classifiers]
    if reference is not None and error_models is None:
        error_models = names
    out = resume if resume is not None else empty_output(
        n, generator.latent_dim, names,
        errors=list(error_models) if reference is not None else None)
    if (out.errors is not None) != (reference is not None):
        raise ValueError("resumed results and this search differ in whether error distances are "
                         "searched")
    n_error = len(out.errors) if out.errors is not None else 0
    chunk = batch_size(settings, len(classifiers))
    if out.n_done % chunk and out.n_done != n:
        raise ValueError(f"resumed results end at image {out.n_done}, not at a batch boundary of "
                         f"{chunk}")
    if progress and out.n_done:
        progress(out.n_done * (len(classifiers) + n_error))
    for start in range(out.n_done, n, chunk):
        stop = min(n, start + chunk)
        _search_chunk(generator, classifiers, images, settings, out, start, stop, first_index,
                      progress, reference, basis, anchor_labels)
        out.n_done = stop
        if on_chunk:
            on_chunk(out)
    out.seconds_total += time.perf_counter() - started
    out.seconds_classifier = sum(out.classifier_seconds.values())
    return out


def _search_chunk(generator, classifiers, images, settings, out, start, stop, first_index, progress,
                  reference=None, basis=None, anchor_labels=None) -> None:
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
        images_ = (generator.prior(z, x) if rows is None
                   else generator.render(z, x[rows], base[rows]))
        out.seconds_generator += time.perf_counter() - t
        decoded[0] += len(z)
        return images_

    def classify(clf, images_: np.ndarray, scores: bool = False):
        """Labels (N,); with ``scores``, labels and log-probabilities from one model call."""
        t = time.perf_counter()
        labels = clf.predict_scores(images_) if scores else clf.predict(images_)
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
    white, trees = settings.white or (), settings.trees or ()
    for clf in models:
        if clf.name in white or clf.name in trees:
            _search_white(generator, clf, x, z0, base, decode, classify, out, start,
                          basis if clf.name in trees else False)
    _search_pairs(decode, classify, models, x, z0, settings, out.results, start, first_index,
                  progress, basis=basis, anchor_labels=anchor_labels)
    if reference is not None:
        _search_errors(decode, classify, models, x, z0, settings, out, start, first_index, progress,
                       reference, (r_x, r_recon), basis)
    out.decodes += decoded[0]


def _search_white(generator, clf, x, z0, base, decode, classify, out, start, trees=False) -> None:
    """The gradient search (gradient.py) of one model's pairs of the batch whose reconstruction
    keeps its label; each adversary it finds is checked with the model's own ``predict`` (one
    query) and kept where confirmed: the black-box search then walks these pairs for half its
    steps and keeps the closer of both (step.Step keeps the closest flip so far). With ``trees``
    (the active basis, or None: all directions) the gradients are a soft copy's of the model's
    trees (trees.py), and the black-box walk starts from the adversary found here for
    margin.TREES of its steps."""
    import time

    from .gradient import STEPS, search_by_gradient
    from .trees import read_copy, search_trees

    res = out.results[clf.name]
    stop = start + len(x)
    rows = np.flatnonzero(res.reconstruction_prediction[start:stop] == res.prediction[start:stop])
    if len(rows) == 0:
        return
    target = res.prediction[start + rows]
    t = time.perf_counter()
    if trees is False:
        z_star, norm, found = search_by_gradient(generator, clf, x[rows], z0[rows], base[rows],
                                                 target)
    else:
        copy = read_copy(clf, generator.image_shape)
        if copy is None:  # (the file changed since auto read it): the black box alone
            return
        z_star, norm, found = search_trees(generator, copy, clf, x[rows], z0[rows], base[rows],
                                           target, trees, STEPS)
    out.classifier_seconds[clf.name] += time.perf_counter() - t
    res.queries[start + rows] += 2 * STEPS  # a forward and a backward pass per step
    found &= norm > 0  # z0 itself: its render differs from the reconstruction in last bits only
    rows, z_star, norm, target = rows[found], z_star[found], norm[found], target[found]
    if len(rows) == 0:
        return
    labels = classify(clf, decode(z_star, rows))
    res.queries[start + rows] += 1
    ok = labels != target
    at = start + rows[ok]
    res.delta_z[at], res.z_star[at], res.adversary_prediction[at] = norm[ok], z_star[ok], labels[ok]


def _search_errors(decode, classify, models, x, z0, settings, out, start, first_index, progress,
                   reference, reference_labels, basis) -> None:
    """The semantics check (R's label of every natural adversary) and the error-distance search."""
    stop = start + len(x)
    for clf in models:  # the semantics check: R's label of each natural adversary
        res = out.results[clf.name]
        rows = start + np.flatnonzero(~np.isnan(res.delta_z[start:stop]))
        if len(rows):
            out.reference_adversary[clf.name][rows] = reference.predict(
                decode(res.z_star[rows], rows - start))
    # The nearest natural error: the same search, "f disagrees with R" as the flip.
    checked = [clf for clf in models if clf.name in out.errors]
    for clf in checked:
        res, err = out.results[clf.name], out.errors[clf.name]
        err.prediction[start:stop] = res.prediction[start:stop]
        err.reconstruction_prediction[start:stop] = res.reconstruction_prediction[start:stop]
    if checked:
        _search_pairs(decode, classify, checked, x, z0, settings, out.errors, start, first_index,
                      progress, reference=reference, reference_labels=reference_labels,
                      basis=basis)


def _search_pairs(decode, classify, models, x, z0, settings, results, start, first_index, progress,
                  reference=None, reference_labels=None, basis=None, anchor_labels=None) -> None:
    """Search every (image, model) pair of a batch and record the closest flip in ``results``.

    Without ``reference`` a flip is f(G(z)) != f(x), and pairs whose reconstruction already
    changed f's label are not searched. With it a flip is f(G(z)) != R(G(z)) (searched as a
    0/1 "disagrees" label with target 0), and pairs where f and R already disagree on x or on
    G(z0) get distance 0 at z0. With ``basis`` V (subspace.py) the algorithm searches y, and
    z = z0 + V y.
    """
    m, k = len(x), settings.proposals
    d = z0.shape[1] if basis is None else basis.shape[1]  # the algorithm's dimensions
    n_pairs = m * len(models)
    active, target = _targets(models, z0, results, start, reference_labels)
    algorithm = ALGORITHMS[settings.algorithm]
    stretched = np.array([reference is None and m.name in (settings.stretched or ())
                          for m in models])  # the error-distance search walks by labels
    white = np.array([reference is None and m.name in (settings.white or ()) for m in models])
    trees = np.array([reference is None and m.name in (settings.trees or ()) for m in models])
    context = SearchContext(z0=z0 if basis is None else project(z0, basis), target=target,
                            n_models=len(models), stretched=stretched, white=white, trees=trees,
                            starts=_starts(models, trees, z0, results, start, basis))
    if algorithm.anchors:
        _label_anchors(context, algorithm.anchors, decode, classify, models, results, settings,
                       start, z0.shape[1], reference, basis,
                       anchor_labels if reference is None else None)
    state = algorithm(n_pairs, settings, d, context)
    state.done[~np.concatenate(active)] = True
    reported = int(state.done.sum())
    if progress and reported:
        progress(reported)
    # searches that read scores get each proposal's margin from the models that give them
    scored = np.array([getattr(algorithm, "scores", False) and reference is None
                       and bool(getattr(clf, "has_scores", False)) for clf in models])
    step = Step(decode, classify, models, z0, x.shape[1:], settings, results, start, target,
                 reference, scored, basis)
    streams = [_stream(settings.seed, first_index + start + i) for i in range(m)]
    for _ in range(settings.max_steps * getattr(state, "stretch", 1)):  # stretch: margin.py
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
        r_min, best, flips, margins = step(live, img, deltas, keys)
        if step.scored.any():
            state.observe(live, r_min, best, deltas, flips, margins=margins)
        else:
            state.observe(live, r_min, best, deltas, flips)
        if progress:
            now = int(state.done.sum())
            progress(now - reported)
            reported = now
    if progress and reported < n_pairs:  # pairs stopped by max_steps
        progress(n_pairs - reported)
    if step.scored.any():
        _verify(decode, classify, models, step.scored, z0, results, start, target)


def _starts(models, trees, z0, results, start, basis) -> np.ndarray | None:
    """(pairs, d) the adversary each pair of a tree model has from its soft copy's gradients
    (z* - z0, in the search's coordinates), NaN where none; None where no model has any."""
    if not trees.any():
        return None
    m = len(z0)
    deltas = np.stack([results[clf.name].z_star[start:start + m] - z0 if walk
                       else np.full(z0.shape, np.nan, dtype=np.float32)
                       for clf, walk in zip(models, trees)]).reshape(len(models) * m, -1)
    return deltas if basis is None else project(deltas, basis)


def _verify(decode, classify, models, scored, z0, results, start, target) -> None:
    """Adversaries found from labels that came with scores: each model's own ``predict`` labels
    the decoded z* again (one query per input); one it does not flip is dropped (censored)."""
    m = len(z0)
    for j, clf in enumerate(models):
        res = results[clf.name]
        rows = start + np.flatnonzero(~np.isnan(res.delta_z[start:start + m]))
        if not scored[j] or len(rows) == 0:
            continue
        labels = classify(clf, decode(res.z_star[rows], rows - start))
        res.queries[rows] += 1
        flipped = labels != target[j * m + rows - start]
        bad = rows[~flipped]
        res.delta_z[bad], res.z_star[bad], res.adversary_prediction[bad] = np.nan, np.nan, -1
        res.adversary_prediction[rows[flipped]] = labels[flipped]


def _targets(models, z0, results, start, reference_labels):
    """Per model the batch's pairs to search, and the label each pair must flip. With R
    (``reference_labels``: R(x), R(G(z0))), pairs where f and R already disagree get distance 0."""
    stop = start + len(z0)
    active = []
    for clf in models:
        res = results[clf.name]
        if reference_labels is None:
            active.append(res.reconstruction_prediction[start:stop] == res.prediction[start:stop])
            continue
        r_x, r_recon = reference_labels
        ok = ((res.prediction[start:stop] == r_x)
              & (res.reconstruction_prediction[start:stop] == r_recon))
        rows = start + np.flatnonzero(~ok)
        res.delta_z[rows] = 0.0
        res.z_star[rows] = z0[rows - start]
        res.adversary_prediction[rows] = res.reconstruction_prediction[rows]
        active.append(ok)
    if reference_labels is None:
        target = np.concatenate([results[c.name].prediction[start:stop] for c in models])
    else:
        target = np.zeros(len(z0) * len(models), dtype=np.int64)  # 0: f agrees with R; a flip is 1
    return active, target


def _label_anchors(context, n_anchors, decode, classify, models, results, settings, start, d,
                   reference, basis, kept=None) -> None:
    """Anchors: latent points drawn from the generator's prior with the scan's seed, the same for
    every batch; each model labels them here (queries charged to the batch), except a model whose
    labels ``kept`` (a dict, filled here) already holds. The algorithm gets them in its own
    coordinates (``basis``)."""
    m = len(context.z0)
    anchors = _stream(settings.seed, ANCHOR_STREAM).standard_normal((n_anchors, d),
                                                                    dtype=np.float32)
    context.anchors = anchors if basis is None else project(anchors, basis)
    keys = [(clf.name, n_anchors, d, settings.seed) for clf in models]
    labels = {} if kept is None else kept  # filled here with the labels it lacks
    new = [j for j, key in enumerate(keys) if key not in labels]
    if new:
        decoded = decode(anchors)
        labels.update((keys[j], classify(models[j], decoded)) for j in new)
        if reference is not None:
            r = reference.predict(decoded)
            labels.update((keys[j], (labels[keys[j]] != r).astype(np.int64)) for j in new)
    context.anchor_labels = np.stack([labels[key] for key in keys])
    share = np.full(m, n_anchors // m) + (np.arange(m) < n_anchors % m)
    for j in new:
        results[models[j].name].queries[start:start + m] += share
