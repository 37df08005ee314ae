"""A scan from start to end: models and inputs in, an :class:`~auditor.audit.Audit` out.

    config (config.py) -> load (loading.py) -> plan -> search, partial results saved as batches
    finish (checkpoint.py) -> figures and report files (finishing.py)

Used by the command line (``auditor scan``) and by people (``auditor.scan``). Nothing here
prints: notes and warnings go to the ``auditor`` logger (the CLI shows them on stderr; in a
notebook, warnings show by default); progress goes to a callback (progress.py draws it).
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .audit import Audit
from .checkpoint import Checkpoint, previous_results, restore_pixel, scan_key
from .config import ScanConfig, build_config, named_models
from .errors import AuditorError, OptionError, OutputError
from .finishing import figures, redraw
from .formats import FORMATS
from .loading import Loaded, model_record, reference_for, source_name
from .search.estimate import BUDGET, auto_error_images, search_error_estimate
from .search.registry import describe_search

log = logging.getLogger("auditor")


def scan(
    models: Any,
    images: Any,
    *,
    out: str | os.PathLike | None = None,
    formats: str | Sequence[str] = FORMATS,
    generator: str = "auto",
    search: str = "auto",
    seed: int = 0,
    limit: int | None = None,
    samples: int | None = None,
    step: float | None = None,
    max_radius: float | None = None,
    patience: int = 3,
    max_steps: int | None = None,
    refine_steps: int = 50,
    normalize: str | Sequence[float] | None = None,
    input_scale: float = 1.0,
    layout: str | None = None,
    gallery: int = 12,
    device: str | None = None,
    batch: int | None = None,
    resume: bool = False,
    force: bool = False,
    wait: float = 0.0,
    baseline: str | None = None,
    alpha: float = 0.05,
    gate_on: str = "dz",
    error_distance: str = "auto",
    pixel_attack: str = "none",
    pixel_norm: str = "l2",
    pixel_max: float | None = None,
    pixel_queries: int = 2000,
    search_error: str | int = "auto",
    workers: int | None = None,
    ray: str | None = None,
    class_names: Any = None,
    progress: bool | Callable = True,
) -> Audit:
    """Audit one or more models on unlabeled images; returns an :class:`Audit`.

    ``models``: a mapping name -> model, a list of models (named by file stem or function
    name) or one model. A model is a path to an ONNX or TorchScript file or a Hugging Face model
    folder, a ``torch.nn.Module``, an ``onnxruntime.InferenceSession``, or a function
    ``f(images) -> labels (N,) or scores (N, K)`` taking float32 (N, C, H, W) in [0, 1]; for text,
    a function of a list of texts, a transformers text-classification ``pipeline`` or a
    ``(model, tokenizer)`` pair.
    ``images``: a folder or file path, an array (N, H, W[, C]) / (N, C, H, W), or a list of PIL
    images; for text, a .txt/.tsv/.jsonl path or a list of sentences or (premise, hypothesis)
    pairs. ``class_names``: a model's class names where its own are generic or absent, a mapping
    model -> names (``--class-names``).

    The other keywords are ``auditor scan``'s options, same names and defaults (``search`` is
    ``--search``, ``formats`` ``--format``). With ``out``, the scan runs as on the command line:
    it locks the folder, saves partial results as batches finish (``resume=True`` continues an
    interrupted scan) and writes the report ``formats`` there; without it nothing is written
    until :meth:`Audit.write`. ``progress=False`` hides the progress bar (a progress factory,
    see ``auditor.progress``, draws it another way). ``pixel_attack`` (auto, fmn, deepfool,
    nattack, hsj; default none) adds the pixel-space view: eps in ``pixel_norm`` (l2, linf) up to
    ``pixel_max``, ``pixel_queries`` (queries, or forward and backward passes for fmn and
    deepfool) per image and model. ``workers=N`` searches on a local Ray cluster of N processes,
    ``ray="ADDRESS"`` (or "auto") on an existing cluster: same results (needs ``auditor[ray]``
    and model files, not in-memory models).

    Raises the :class:`~auditor.errors.AuditorError` subclasses the CLI reports in one line:
    ``OptionError``, ``DataError``, ``ModelError``, ``GeneratorError``, ``OutputError`` (the
    finished audit in its ``audit`` attribute), ``Interrupted`` (what was saved in its message).
    """
    from .models import unique_names

    named = named_models(models, unique_names)
    config = build_config(
        named, out=out, formats=formats, generator=generator, search=search, seed=seed,
        limit=limit, samples=samples, step=step, max_radius=max_radius, patience=patience,
        max_steps=max_steps, refine_steps=refine_steps, normalize=normalize,
        input_scale=input_scale, layout=layout, gallery=gallery, device=device, batch=batch,
        resume=resume, force=force, wait=wait, baseline=baseline, alpha=alpha, gate_on=gate_on,
        error_distance=error_distance, pixel_attack=pixel_attack, pixel_norm=pixel_norm,
        pixel_max=pixel_max, pixel_queries=pixel_queries, search_error=search_error,
        workers=workers, ray=ray, class_names=class_names)
    return run(config, named, images, progress)


def run(config: ScanConfig, named: dict[str, Any], source: Any,
        progress: bool | Callable = True) -> Audit:
    """The scan of ``config`` on models ``named`` and inputs ``source``: in its output folder,
    locked, or in memory. ``progress``: True draws a bar (progress.ProgressBar), False nothing,
    or a progress factory."""
    from .domains import choose
    from .files import FolderLock, check_writable, remove_stale_temporaries

    domain = choose(source, config.generator, config)  # refuses what it cannot do, before loading
    out = config.outputs.out
    if out is None:
        if config.outputs.resume:
            raise OptionError("resume needs the folder of the interrupted scan: pass out=FOLDER")
        return _pipeline(config, named, source, _progress(progress), domain)
    check_writable(out)
    # one writer, from the same-scan check to the last output
    with FolderLock(out, config.outputs.wait):
        remove_stale_temporaries(out)
        return _pipeline(config, named, source, _progress(progress), domain)


def _pipeline(config: ScanConfig, named, source, progress: Callable, domain) -> Audit:
    """load -> plan -> (resume) -> search -> figures and outputs."""
    loaded = domain.load(source, named, config)
    plan = make_plan(config, loaded, named, source)
    out, n = plan.out, loaded.n
    previous = (previous_results(out, plan.key, config.outputs.resume, config.outputs.force)
                if out is not None else None)
    finished = previous if previous is not None and previous.get("complete") else None
    start = pixel = None
    if previous and not finished:
        from . import results

        start = results.restore(previous, n, loaded.gen.latent_dim)
        pixel = restore_pixel(previous, out, n, loaded.gen.image_shape) if plan.attack else None
        log.info(f"resuming: {start.n_done} of {n} images already done in {out / 'results.json'}"
                 + (f" (pixel attack: {pixel.n_done})" if pixel is not None else ""))
    checkpoint = Checkpoint(out, n, plan.document, start, pixel, _estimated(previous))
    if finished is not None:  # resume of a finished scan: redraw, don't search
        return redraw(plan, checkpoint, finished)
    output, pixel = _search(plan, checkpoint, progress)
    return figures(plan, checkpoint, output, pixel)


@dataclass
class Plan:
    """What a loaded scan will do: its search settings for the generator's latent size, R and
    the models it judges, the pixel attack, the search-error subset, and the scan's identity."""

    config: ScanConfig
    loaded: Loaded
    settings: Any  # SearchSettings with the radius cap of the generator's latent size
    reference: Any
    applies: list[str] | None
    error_models: list[str] | None
    attack: str | None
    k_error: int
    model_meta: list[dict]
    key: str
    data_record: dict

    @property
    def out(self) -> Path | None:
        return self.config.outputs.out

    @property
    def searched_reference(self) -> Any:
        """R where its figures apply to a model, else None: the search then never feeds R inputs
        it may not read (a pair classifier given single sentences)."""
        return self.reference if self.applies else None

    def document(self, output, pixel=None, extra=None, natural=None, search_error=None) -> dict:
        """The results document of what finished (``output``: the latent search's)."""
        from . import results

        gate = self.config.gate
        return results.build(
            generator=self._generator_record(), data=self.data_record,
            search=dict(vars(self.settings), stretched=list(self.settings.stretched or ()),
                        white=list(self.settings.white or ()),
                        trees=list(self.settings.trees or ()),
                        decodes=output.decodes,
                        seconds=round(output.seconds_total, 2),
                        seconds_generator=round(output.seconds_generator, 2),
                        seconds_classifier=round(output.seconds_classifier, 2),
                        seconds_classifiers={k: round(v, 2)
                                             for k, v in output.classifier_seconds.items()}),
            models=self.model_meta, names=self.loaded.inputs.names, output=output,
            fit=self.loaded.fit, per_input=self.loaded.per_input, scan_key=self.key,
            baseline=gate.baseline, alpha=gate.alpha,
            gate_on=gate.on.replace("-", "_") if gate.on != "dz" else "dz",
            pixel=pixel, pixel_extra=extra, search_error=search_error, naturalness=natural,
            expects_pixel=self.attack is not None, expects_search_error=self.k_error > 0,
        )

    def _generator_record(self) -> dict:
        from .generators import weights_id

        gen = self.loaded.gen
        shape = gen.image_shape
        candidates = self.loaded.candidates
        record = {"name": gen.name, "path": str(gen.path), "latent_dim": gen.latent_dim,
                  "image_shape": list(shape) if shape else None,
                  "weights_sha256": weights_id(gen.manifest),
                  **self.loaded.domain.generator_record(),
                  "family": gen.manifest["family"], "validation": gen.manifest.get("validation"),
                  "decoding": gen.decoding, "decoding_rule": gen.describe_decoding(),
                  **({"chosen_by": "auto", "candidates": candidates,
                      "none_fits": not candidates[0]["fits"]} if candidates else {})}
        if self.reference is not None:
            keys = ("architecture", "class_names", "accuracy", "n_images")
            record["reference_classifier"] = {k: gen.reference.record.get(k) for k in keys} | {
                "sha256": gen.manifest["files"].get("reference.npz"), "models": self.applies,
                "error_distance_models": self.error_models}
        return record


def make_plan(config: ScanConfig, loaded: Loaded, named: dict[str, Any], source) -> Plan:
    """The :class:`Plan` of a loaded scan; an OptionError where the gate cannot be computed."""
    gen, classifiers, gate = loaded.gen, loaded.classifiers, config.gate
    settings = config.search.for_generator(gen, classifiers, loaded.inputs.items)
    log.info(describe_search(settings, classifiers))
    n, shape = loaded.n, gen.image_shape
    gated = gate.on == "error-distance" and gate.baseline and gen.reference is not None
    mode = "on" if gated and config.errors.distance == "auto" else config.errors.distance
    reference, applies, error_models = reference_for(gen, classifiers, loaded.inputs.items, mode)
    if gate.on == "error-distance" and gate.baseline and (
            reference is None or set(named) - set(error_models)):
        raise OptionError("--gate-on error-distance needs the generator's reference classifier to "
                          "apply to every model; it applies to: "
                          f"{', '.join(applies or []) or 'none'}")
    model_meta = [model_record(c, m) for c, m in zip(classifiers, named.values())]
    chosen = config.errors.search_error_images
    k_error = min(n, chosen) if chosen is not None else auto_error_images(n, gen.modality)
    attack = None
    if config.pixel.attack != "none":
        from .pixel import choose_attack, describe

        attack = choose_attack(config.pixel.attack, classifiers, shape)
        log.info(f"pixel attack: {describe(attack, config.pixel)}")
    pixel = config.pixel
    key = scan_key(model_meta, hashlib.sha256(loaded.inputs.identity()).hexdigest(),
                   {"files": gen.manifest["files"], "error_models": error_models,
                    **({"pixel": [attack, pixel.norm, pixel.cap, pixel.queries]} if attack else {}),
                    "search_error": k_error},
                   settings, config.models, config.limit)
    inputs = loaded.inputs
    in_files = isinstance(source, (str, os.PathLike))
    data_record = {"path": str(source) if in_files else None,
                   **({} if in_files else {"source": source_name(source)}),
                   "n_images": n, "n_skipped": len(inputs.skipped),
                   "skipped": [{"file": f, "reason": r} for f, r in inputs.skipped],
                   "conversion": inputs.rule, **loaded.domain.data_record(inputs)}
    return Plan(config, loaded, settings, reference, applies, error_models, attack, k_error,
                model_meta, key, data_record)


def _search(plan: Plan, checkpoint: Checkpoint, progress: Callable):
    """The latent search, then the search-error estimate and the pixel attack; a stop writes
    what finished (checkpoint.py). Returns the search's output and the pixel attack's."""
    from .faults import fault_point
    from .progress import opened
    from .search import search

    loaded, attack, k_error = plan.loaded, plan.attack, plan.k_error
    gen, classifiers, images = loaded.gen, loaded.classifiers, loaded.inputs.items
    per_image = len(classifiers) * (2 if attack else 1) + len(plan.error_models or [])
    title = f"{plan.settings.algorithm} search" + (f" + {attack}" if attack else "")
    total = loaded.n * per_image + k_error * len(classifiers)
    try:
        with opened(progress, title, total, f"{loaded.inputs.one}×model pairs") as advance:
            if plan.config.cluster is None:
                output = search(gen, classifiers, images, plan.settings, resume=checkpoint.output,
                                on_chunk=checkpoint.on_search, progress=advance,
                                reference=plan.searched_reference, error_models=plan.error_models)
            else:
                output = _distributed(plan, checkpoint, advance)
            checkpoint.output = output
            fault_point("after-search")
            if k_error and checkpoint.search_error is None:
                chosen = plan.config.errors.search_error_images
                checkpoint.search_error = search_error_estimate(
                    gen, classifiers, images, output, plan.settings, k_error, advance,
                    budget=BUDGET if chosen is None else None)
            if attack:
                from .pixel import pixel_attack

                predictions = {c.name: output.results[c.name].prediction for c in classifiers}
                checkpoint.pixel = pixel_attack(classifiers, images, predictions, plan.config.pixel,
                                                attack, resume=checkpoint.pixel,
                                                on_chunk=checkpoint.on_pixel, progress=advance)
    except KeyboardInterrupt:
        raise checkpoint.interrupted() from None
    except OutputError:
        raise
    except AuditorError as err:  # e.g. a model that starts failing: keep what finished before it
        replacement = checkpoint.failed(err)
        if replacement is err:
            raise
        raise replacement from err
    return output, checkpoint.pixel


def _distributed(plan: Plan, checkpoint: Checkpoint, progress):
    """The search on Ray: a local cluster of ``workers`` processes or the one at ``ray``."""
    from .distributed import Bundle, Cluster, Spec, distributed_search

    workers, address = plan.config.cluster.workers, plan.config.cluster.address
    classifiers, error_models = plan.loaded.classifiers, plan.error_models
    with Cluster(workers, address) as cluster:
        where = (f"a local Ray cluster of {workers} workers" if workers
                 else f"the Ray cluster at {address}")
        log.info(f"searching on {where} ({cluster.size} CPUs)")
        spec = Spec(Bundle.of(plan.loaded.gen.path),
                    tuple((c.name, Bundle.of(_files_of(c))) for c in classifiers),
                    plan.config.models,
                    plan.searched_reference is not None,
                    tuple(error_models) if error_models is not None else None,
                    threads=max(1, (os.cpu_count() or 1) // cluster.size) if workers else 1,
                    domain=plan.loaded.domain.name, kind=plan.loaded.inputs.kind)
        return distributed_search(spec, plan.loaded.inputs.items, plan.settings, cluster.size,
                                  resume=checkpoint.output, on_chunk=checkpoint.on_search,
                                  progress=progress)


def _files_of(clf) -> Path:
    """What a Ray worker needs to load a model: its file, or its model folder."""
    folder = getattr(clf, "folder", None)
    return folder.path if folder is not None else clf.path


def _estimated(previous: dict | None) -> dict | None:
    """The search-error estimate of a scan being resumed (made once its search was done)."""
    if previous is None or not previous.get("search_error"):
        return None
    return previous["search_error"] | {
        "models": {m["name"]: m.get("search_error") for m in previous["models"]}}


def _progress(progress: bool | Callable) -> Callable:
    if callable(progress):
        return progress
    from . import progress as bars

    return bars.ProgressBar if progress else bars.silent
