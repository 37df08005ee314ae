"""A scan from start to end: models and images in, an :class:`~auditor.audit.Audit` out.

    options -> generator (chosen or named) -> images in its domain -> classifiers -> search
    (partial results saved as batches finish, resumable) -> results -> report files

Used by the command line (``auditor scan``) and by people (``auditor.scan``). Nothing here
prints: notes and warnings go to the ``auditor`` logger (the CLI shows them on stderr; in a
notebook, warnings show by default), the progress bar to stderr through rich.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .audit import Audit
from .errors import AuditorError, Interrupted, OptionError, OutputError
from .files import write_bytes
from .naturalness import natural_view
from .search.estimate import BUDGET, auto_error_images, parse_error_images, search_error_estimate

log = logging.getLogger("auditor")

ALL_FORMATS = ("html", "pdf", "md", "json")


def scan(
    models: Any,
    images: Any,
    *,
    out: str | os.PathLike | None = None,
    formats: str | Sequence[str] = ALL_FORMATS,
    generator: str = "auto",
    search: str = "local",
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
    progress: bool = True,
) -> Audit:
    """Audit one or more models on unlabeled images; returns an :class:`Audit`.

    ``models``: a mapping name -> model, a list of models (named by file stem or function
    name) or one model. A model is a path to an ONNX or TorchScript file, a ``torch.nn.Module``,
    an ``onnxruntime.InferenceSession``, or a function ``f(images) -> labels (N,) or scores
    (N, K)`` taking float32 (N, C, H, W) in [0, 1].
    ``images``: a folder or file path, an array (N, H, W[, C]) / (N, C, H, W), or a list of PIL images.

    The other keywords are ``auditor scan``'s options, same names and defaults (``search`` is
    ``--search``, ``formats`` ``--format``). With ``out``, the scan runs as on the command line:
    it locks the folder, saves partial results as batches finish (``resume=True`` continues an
    interrupted scan) and writes the report ``formats`` there; without it nothing is written
    until :meth:`Audit.write`. ``progress=False`` hides the progress bar. ``pixel_attack``
    (auto, fmn, deepfool, nattack, hsj; default none) adds the pixel-space view: eps in
    ``pixel_norm`` (l2, linf) up to ``pixel_max``, ``pixel_queries`` (queries, or forward and
    backward passes for fmn and deepfool) per image and model. ``workers=N`` searches on a local
    Ray cluster of N processes, ``ray="ADDRESS"`` (or "auto") on an existing cluster: same results
    (needs ``auditor[ray]`` and model files, not in-memory models).

    Raises the :class:`~auditor.errors.AuditorError` subclasses the CLI reports in one line:
    ``OptionError``, ``DataError``, ``ModelError``, ``GeneratorError``, ``OutputError`` (the
    finished audit in its ``audit`` attribute), ``Interrupted`` (what was saved in its message).
    """
    from .models import ModelOptions, unique_names
    from .pixel import PixelSettings
    from .report import parse_formats
    from .search import SearchSettings

    named = _named_models(models, unique_names)
    settings = SearchSettings(
        algorithm=search, samples=samples, step=step, max_radius=max_radius, patience=patience,
        max_steps=max_steps, refine_steps=refine_steps, seed=seed, batch_images=batch,
    ).resolved()
    _check_options(named, limit=limit, layout=layout, input_scale=input_scale, device=device, gallery=gallery,
                   baseline=baseline, alpha=alpha, wait=wait, error_distance=error_distance, gate_on=gate_on)
    pixel = PixelSettings(attack=pixel_attack, norm=pixel_norm, max_eps=pixel_max, queries=pixel_queries, seed=seed)
    pixel.validate()
    error_images = parse_error_images(search_error, OptionError)
    if workers is not None and workers < 1:
        raise OptionError(f"--workers must be 1 or more, got {workers}")
    if workers is not None or ray is not None:
        from .distributed import require_ray

        require_ray()
        memory = [name for name, m in named.items() if not isinstance(m, (str, os.PathLike))]
        if memory:
            raise OptionError(f"--workers/--ray send model files to the workers; {', '.join(memory)} is in memory: "
                              "save it (ONNX or TorchScript) and pass its path")
    options = ModelOptions(input_scale=input_scale, normalize=_floats(normalize), layout=layout, device=device)
    wanted = parse_formats(formats if isinstance(formats, str) else ",".join(formats))
    job = _Scan(named=named, images=images, generator=generator, settings=settings, options=options, limit=limit,
                gallery=gallery, device=device, baseline=baseline, alpha=alpha, error_distance=error_distance,
                gate_on=gate_on, progress=progress, pixel=pixel, cluster=(workers, ray) if workers or ray else None,
                error_images=error_images)
    if out is None:
        if resume:
            raise OptionError("resume needs the folder of the interrupted scan: pass out=FOLDER")
        return job.run(None)
    from .files import FolderLock, remove_stale_temporaries

    out = Path(out)
    check_writable(out)
    with FolderLock(out, wait):  # one writer per folder, from before the same-scan check to the last output
        remove_stale_temporaries(out)
        return job.run(out, resume=resume, force=force, wanted=wanted)


def _named_models(models: Any, unique_names: Callable) -> dict[str, Any]:
    if isinstance(models, Mapping):
        named = {str(k): v for k, v in models.items()}
    elif isinstance(models, (list, tuple)):
        named = dict(zip(unique_names(list(models)), models))
    else:
        named = dict(zip(unique_names([models]), [models]))
    if not named:
        raise OptionError("no model to audit: pass one or more model files or models")
    for name, model in named.items():
        if isinstance(model, (str, os.PathLike)) and not Path(model).exists():
            raise OptionError(f"model file {str(model)!r} does not exist")
        if not name:
            raise OptionError("model names must not be empty")
    return named


def _floats(value: str | Sequence[float] | None) -> tuple[float, ...] | None:
    if value is None or not isinstance(value, str):
        return None if value is None else tuple(float(v) for v in value)
    try:
        return tuple(float(v) for v in value.split(","))
    except ValueError:
        raise OptionError(f"--normalize expects comma-separated numbers, got {value!r}") from None


def _check_options(named, *, limit, layout, input_scale, device, gallery, baseline, alpha, wait, error_distance,
                   gate_on) -> None:
    from .models import LAYOUTS

    if limit is not None and limit <= 0:
        raise OptionError(f"--limit must be positive, got {limit}")
    if layout is not None and layout not in LAYOUTS:
        raise OptionError(f"--layout must be one of {', '.join(LAYOUTS)}, got {layout!r}")
    if not input_scale > 0:
        raise OptionError(f"--input-scale must be positive, got {input_scale}")
    if device not in (None, "cpu", "cuda"):
        raise OptionError(f"--device must be cpu or cuda, got {device!r}")
    if gallery < 0:
        raise OptionError(f"--gallery must be 0 or more, got {gallery}")
    if baseline is not None and (baseline not in named or len(named) < 2):
        raise OptionError(f"--baseline {baseline!r} must name one of two or more scanned models: {', '.join(named)}")
    if not 0 < alpha < 1:
        raise OptionError(f"--alpha must be between 0 and 1, got {alpha}")
    if not wait >= 0:
        raise OptionError(f"--wait must be 0 or more seconds, got {wait}")
    if error_distance not in ("auto", "on", "off"):
        raise OptionError(f"--error-distance must be auto, on or off, got {error_distance!r}")
    if gate_on not in ("dz", "error-distance"):
        raise OptionError(f"--gate-on must be dz or error-distance, got {gate_on!r}")
    if gate_on == "error-distance" and error_distance == "off":
        raise OptionError("--gate-on error-distance needs the error distance: drop --error-distance off")


def check_writable(out: Path) -> None:
    """An :class:`OptionError` before any work where ``out`` cannot be written."""
    probe = out
    while not probe.exists():
        probe = probe.parent
    if probe.is_dir() and os.statvfs(probe).f_flag & os.ST_RDONLY:
        raise OptionError(f"cannot write the report into {str(out)!r}: {probe} is on a read-only file system; "
                          "pick a writable --out folder")
    if not probe.is_dir() or not os.access(probe, os.W_OK):
        raise OptionError(f"cannot write the report into {str(out)!r}: pick a writable --out folder")


def model_record(clf, model: Any) -> dict[str, Any]:
    """results.json's description of a model: file, format, size and SHA-256 (of the file, or of
    an in-memory torch module's weights), input contract, where it runs."""
    from .generators import sha256
    from .models import model_digest

    record: dict[str, Any] = {"name": clf.name, "path": None if clf.path is None else str(clf.path),
                              "format": clf.format}
    if clf.path is not None:
        record.update(sha256=sha256(clf.path), size_bytes=clf.path.stat().st_size)
    else:
        record["source"] = f"in memory: {type(model).__module__}.{type(model).__qualname__}"
        digest = model_digest(model)
        if digest is not None:
            record["sha256"] = digest
    record.update(input=clf.contract.describe(), provider=str(clf.provider), class_names=clf.class_names)
    return record


def _input_bytes(images) -> bytes:
    """What identifies a scan's inputs: the pixels, or the texts (an object array's bytes are pointers)."""
    if images.images.dtype == object:
        from .text.data import hashable

        return hashable(images.images)
    return images.images.tobytes()


def _rule(images, shape) -> str:
    """How the inputs were converted: the image conversion rule, or the text normalisation."""
    if shape is None:
        from .text.data import RULE

        return RULE
    from .data import conversion_rule

    return conversion_rule(shape)


def scan_key(models: list[dict[str, Any]], image_digest: str, generator_id: Any, settings, options, limit) -> str:
    """What makes two scans the same scan: models, images (their pixels), generator, settings."""
    blob = json.dumps({
        "models": [[m["name"], m["path"], m.get("sha256") or m["format"]] for m in models], "data": image_digest,
        "generator": generator_id, "settings": dict(vars(settings)), "options": vars(options), "limit": limit,
    }, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _previous_results(out: Path, key: str, resume: bool, force: bool) -> dict | None:
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
        raise OptionError(f"{path} is not a readable auditor results file; pass --force to overwrite it "
                          "or choose another --out") from None
    same = previous.get("scan_key") == key
    if resume:
        if not same:
            raise OptionError(f"{path} comes from a different scan (models, images or settings changed); run "
                              "the same command as the interrupted scan with --resume, or drop --resume and add --force")
        return previous
    if not same and not force:
        raise OptionError(f"{out} holds the results of a different scan; pass --force to overwrite them or "
                          "choose another --out")
    return None


def reference_for(gen, classifiers, images, mode: str):
    """The generator's reference classifier R, the models its figures apply to, and the models
    whose distance to the nearest natural error is searched ((None, None, None) when the error
    distance is off or there is no R). ``auto`` searches it unless the bundle's manifest says
    ``"error_distance_default": "skip"`` (where the search is costly, as on photos): R's agreement
    with each model and the semantics of the adversaries are given all the same."""
    from .reference import mismatch

    if mode == "off" or (mode == "auto" and gen.reference is None):
        return None, None, None
    if gen.reference is None:
        raise OptionError(f"generator {gen.name} ships no reference classifier, which --error-distance on needs: "
                          "train one with `auditor train-generator` on labelled data (an .npz with labels)")
    applies = []
    for clf in classifiers:
        reason = mismatch(clf, gen.reference, clf.predict(images[:64]))
        if reason:
            log.info(f"note: the reference classifier's figures are left out for model {clf.name}: {reason}")
        else:
            applies.append(clf.name)
    skip = mode == "auto" and gen.manifest.get("error_distance_default") == "skip"
    accuracy = gen.reference.record.get("accuracy")
    head = (f"reference classifier of {gen.name}: {len(gen.reference.class_names)} classes, accuracy "
            + ("unknown (no labelled images measured it)" if accuracy is None else f"{100 * accuracy:.1f}%"))
    if applies and skip:
        log.info(f"{head}; its agreement with {len(applies)} model(s) and the semantics of their adversaries are "
                 f"given; the distance to the nearest natural error is not searched by default with {gen.name} "
                 "(it about doubles the search; --error-distance on searches it)")
    elif applies:
        log.info(f"{head}; also searching the distance to the nearest natural error for {len(applies)} "
                 "model(s) (about twice the search time; --error-distance off skips it)")
    else:
        log.info(f"{head}; it applies to none of the models: no natural-error figures")
    return gen.reference, applies, [] if skip else list(applies)


class _Scan:
    """One scan's inputs and settings; :meth:`run` does the work, in ``out`` or in memory."""

    def __init__(self, *, named, images, generator, settings, options, limit, gallery, device, baseline, alpha,
                 error_distance, gate_on, progress, pixel, cluster=None, error_images=None) -> None:
        self.named, self.source, self.generator = named, images, generator
        self.settings, self.options, self.limit, self.gallery, self.device = settings, options, limit, gallery, device
        self.baseline, self.alpha, self.error_distance, self.gate_on = baseline, alpha, error_distance, gate_on
        self.progress, self.pixel, self.cluster = progress, pixel, cluster
        self.error_images = error_images  # search-error subset size; None: auto
        from .text.scan import check_modalities

        self.text = check_modalities(images, generator)  # text inputs: auditor/text
        if self.text and pixel.attack != "none":
            raise OptionError("--pixel-attack acts on pixels: it does not apply to text; drop it")
        if self.text and cluster is not None:
            raise OptionError("--workers/--ray do not search text yet: drop them (a text scan runs in one process)")

    def _load(self):
        """Generator, images in its domain, classifiers, reference classifier, metadata."""
        from . import data as data_mod
        from .generators import choose_generator, generator_fit, load_generator
        from .models import as_classifier

        if self.text:
            from .text.scan import load

            return load(self.source, self.generator, self.limit, self.named, self.device)
        if self.generator == "auto":
            loaded: dict = {}

            def images_for(shape):
                if shape not in loaded:
                    loaded[shape] = data_mod.image_set(self.source, shape, self.limit)
                return loaded[shape].images

            gen, candidates = choose_generator(images_for, device=self.device)
            images = loaded[gen.image_shape]
            others = "; ".join(f"{c['name']} {100 * c['share_outside']:.0f}%" for c in candidates[1:])
            log.info(f"generator auto: {gen.name} fits these images best ({100 * candidates[0]['share_outside']:.0f}% "
                     f"outside its domain{'; ' + others if others else ''}); --generator NAME chooses another")
        else:
            gen, candidates = load_generator(self.generator, device=self.device), None
            images = data_mod.image_set(self.source, gen.image_shape, self.limit)
        shape = gen.image_shape
        if self.settings.refine_steps and not getattr(gen, "gradients", True):
            log.info(f"note: generator {gen.name} is an imported ONNX graph without gradients: z0 = E(x) is used "
                     "as it is (no --refine-steps)")
        log.info(f"{len(images.names)} images from {self._source_name()} → {'x'.join(map(str, shape))} for generator "
                 f"{gen.name}: {data_mod.conversion_rule(shape)}")
        if gen.decoding != "plain":
            log.info(f"decoding rule {gen.decoding}: {gen.describe_decoding()}")
        if images.skipped:
            log.warning(data_mod.skipped_message(images.skipped))
        if images.ignored:
            log.info(data_mod.ignored_message(images.ignored))
        fit, recon_mse = generator_fit(gen, images.images)
        if fit["verdict"] in ("poor", "partial"):
            log.warning(fit["message"])
        classifiers = [as_classifier(m, name, shape, self.options) for name, m in self.named.items()]
        for clf in classifiers:
            log.info(f"model {clf.name} ({clf.format}, {clf.provider}): input {clf.contract.describe()}")
        return gen, candidates, images, fit, recon_mse, classifiers

    def _source_name(self) -> str:
        if isinstance(self.source, (str, os.PathLike)):
            return str(self.source)
        shape = getattr(self.source, "shape", None)
        return f"an array of shape {tuple(shape)}" if shape is not None else f"a list of {len(self.source)} images"

    def run(self, out: Path | None, resume: bool = False, force: bool = False,
            wanted: tuple[str, ...] = ()) -> Audit:
        from . import results
        from .files import fault_point
        from .generators import weights_id
        from .search import search

        gen, candidates, images, fit, recon_mse, classifiers = self._load()
        self.texts = images if self.text else None
        self.settings = self.settings.for_latent(gen.latent_dim)
        settings, baseline, alpha, gate_on = self.settings, self.baseline, self.alpha, self.gate_on
        names = list(self.named)
        n, shape = len(images.names), gen.image_shape
        gated = gate_on == "error-distance" and baseline and gen.reference is not None
        mode = "on" if gated and self.error_distance == "auto" else self.error_distance  # the gate needs it
        reference, applies, error_models = reference_for(gen, classifiers, images.images, mode)
        if gate_on == "error-distance" and baseline and (reference is None or set(names) - set(error_models)):
            raise OptionError("--gate-on error-distance needs the generator's reference classifier to apply to every "
                              f"model; it applies to: {', '.join(applies or []) or 'none'}")
        model_meta = [model_record(c, m) for c, m in zip(classifiers, self.named.values())]
        k_error = min(n, self.error_images) if self.error_images is not None else auto_error_images(n)
        attack = None
        if self.pixel.attack != "none":
            from .pixel import choose_attack, describe

            attack = choose_attack(self.pixel.attack, classifiers, shape)
            log.info(f"pixel attack: {describe(attack, self.pixel)}")
        key = scan_key(model_meta, hashlib.sha256(_input_bytes(images)).hexdigest(),
                       {"files": gen.manifest["files"], "error_models": error_models,
                        **({"pixel": [attack, self.pixel.norm, self.pixel.cap, self.pixel.queries]} if attack else {}),
                        "search_error": k_error},
                       settings, self.options, self.limit)
        previous = _previous_results(out, key, resume, force) if out is not None else None
        finished = previous if previous is not None and previous.get("complete") else None
        start = results.restore(previous, n, gen.latent_dim) if previous and not finished else None
        start_pixel = _restore_pixel(previous, out, n, shape) if start is not None and attack else None
        if start is not None:
            log.info(f"resuming: {start.n_done} of {n} images already done in {out / 'results.json'}"
                     + (f" (pixel attack: {start_pixel.n_done})" if start_pixel is not None else ""))
        data_record = {"path": str(self.source) if isinstance(self.source, (str, os.PathLike)) else None,
                       **({} if isinstance(self.source, (str, os.PathLike)) else {"source": self._source_name()}),
                       "n_images": n, "n_skipped": len(images.skipped),
                       "skipped": [{"file": f, "reason": r} for f, r in images.skipped],
                       "conversion": _rule(images, shape), "n_resized": images.n_resized,
                       **({"kind": images.kind} if self.text else {})}

        def assemble(output, pixel=None, extra=None, natural=None) -> dict:
            return results.build(
                generator={"name": gen.name, "path": str(gen.path), "latent_dim": gen.latent_dim,
                           "image_shape": list(shape) if shape else None, "weights_sha256": weights_id(gen.manifest),
                           **({"modality": "text"} if self.text else {}),
                           "family": gen.manifest["family"], "validation": gen.manifest.get("validation"),
                           "decoding": gen.decoding, "decoding_rule": gen.describe_decoding(),
                           **({"chosen_by": "auto", "candidates": candidates} if candidates else {}),
                           **({"reference_classifier": {k: gen.reference.record.get(k) for k in
                                                        ("architecture", "class_names", "accuracy", "n_images")}
                               | {"sha256": gen.manifest["files"].get("reference.npz"), "models": applies,
                                  "error_distance_models": error_models}}
                              if reference is not None else {})},
                data=data_record,
                search=dict(vars(settings), decodes=output.decodes, seconds=round(output.seconds_total, 2),
                            seconds_generator=round(output.seconds_generator, 2),
                            seconds_classifier=round(output.seconds_classifier, 2),
                            seconds_classifiers={k: round(v, 2) for k, v in output.classifier_seconds.items()}),
                models=model_meta, names=images.names, output=output, fit=fit, recon_mse=recon_mse, scan_key=key,
                baseline=baseline, alpha=alpha, gate_on=gate_on.replace("-", "_") if gate_on != "dz" else "dz",
                pixel=pixel, pixel_extra=extra, search_error=state.get("search_error"), naturalness=natural,
                expects_pixel=attack is not None, expects_search_error=k_error > 0,
            )

        state = {"output": start, "pixel": start_pixel, "written": None, "saved": start.n_done if start else 0,
                 "search_error": None, "interval": PARTIAL_EVERY_S}
        if previous is not None and previous.get("search_error"):  # estimated once the search was done
            state["search_error"] = previous["search_error"] | {
                "models": {m["name"]: m.get("search_error") for m in previous["models"]}}
        if finished is not None:  # resume of a finished scan: redraw, don't search
            return self._redraw(finished, assemble, gen, images, classifiers, out, wanted)
        where = "" if out is None else f" in {out / 'results.json'}"

        def stopped(err: OutputError) -> OutputError:
            kept = (f"the last partial results.json ({state['saved']} of {n} images) is kept: run the same "
                    "command with --resume once fixed") if state["saved"] else "no image was saved"
            return OutputError(f"{err}; the scan stopped, {kept}")

        def save(output, pixel=None) -> None:
            began = time.monotonic()
            try:
                results.write(out / "results.json", assemble(output, pixel, _write_npz(out, pixel)))
            except OutputError as err:
                raise stopped(err) from err
            state["written"], state["saved"] = time.monotonic(), output.n_done
            # a large scan's partial write takes long (0.6 s for 20 models x 2,000 images): space
            # them so that writing stays under 5% of the scan
            state["interval"] = max(PARTIAL_EVERY_S, 20 * (state["written"] - began))

        def save_pixel(pixel) -> None:
            state["pixel"] = pixel
            if out is None:
                return
            fault_point("pixel-between-batches")
            if pixel.n_done < n and time.monotonic() - (state["written"] or 0) >= state["interval"]:
                save(state["output"], pixel)

        def save_partial(output) -> None:
            # Atomic write of what is finished: after the first batch, then at most every 5 s, or 20
            # times a write's duration where that is longer (the JSON of a large scan is big). A
            # failed write stops the scan (OutputError).
            state["output"] = output
            if out is None:
                return
            fault_point("between-batches" if state["written"] is not None else "before-first-write")
            if output.n_done < n and (state["written"] is None or time.monotonic() - state["written"] >= state["interval"]):
                save(output)

        try:
            with _progress_bar(self.progress, f"{settings.algorithm} search" + (f" + {attack}" if attack else ""),
                               n * (len(classifiers) * (2 if attack else 1) + len(error_models or []))
                               + k_error * len(classifiers)) as advance:
                if self.cluster is None:
                    output = search(gen, classifiers, images.images, settings, resume=start, on_chunk=save_partial,
                                    progress=advance, reference=reference, error_models=error_models)
                else:
                    output = self._distributed(gen, classifiers, images.images, reference, error_models, start,
                                               save_partial, advance)
                state["output"] = output
                fault_point("after-search")
                if k_error and state["search_error"] is None:
                    state["search_error"] = search_error_estimate(
                        gen, classifiers, images.images, output, settings, k_error, advance,
                        budget=BUDGET if self.error_images is None else None)
                if attack:
                    from .pixel import pixel_attack

                    predictions = {c.name: output.results[c.name].prediction for c in classifiers}
                    state["pixel"] = pixel_attack(classifiers, images.images, predictions, self.pixel, attack,
                                                  resume=state["pixel"], on_chunk=save_pixel, progress=advance)
        except KeyboardInterrupt:
            done = state["output"]
            if done is None or done.n_done == 0:
                raise Interrupted("no image was finished, nothing saved") from None
            if out is None:
                raise Interrupted(f"{done.n_done} of {n} images were finished; nothing is saved without out=FOLDER, "
                                  "which also lets resume=True continue") from None
            pixel = state["pixel"]
            results.write(out / "results.json", assemble(done, pixel, _write_npz(out, pixel)))
            raise Interrupted(
                f"partial results for {done.n_done} of {n} images"
                + (f" (pixel attack: {pixel.n_done})" if pixel is not None else "")
                + f"{where}; continue with the same command plus --resume"
            ) from None
        except OutputError:
            raise
        except AuditorError as err:  # e.g. a model that starts failing: keep what finished before it
            done = state["output"]
            if out is not None and done is not None and (done.n_done > state["saved"] or state["pixel"] is not None):
                save(done, state["pixel"])
            if state["saved"]:
                raise type(err)(f"{err} (the {state['saved']} of {n} images finished before are kept{where}: "
                                "fix the cause and run the same command with --resume)") from err
            raise
        pixel = state["pixel"]
        try:
            if not self.text:
                log.info("measuring how natural the natural adversaries are")
            natural = None if self.text else natural_view(gen, images.images, output, names)
            extra = self._pixel_extras(gen, classifiers, images.images, output, pixel, natural) if pixel is not None else None
            npz = results.pixel_npz(pixel) if pixel is not None else None
            if pixel is not None:
                extra |= _npz_record(npz)
                if out is not None:
                    write_bytes(out / NPZ, npz)
            res = self._finish(assemble(output, pixel, extra, natural), images.images, gen, classifiers, out, pixel)
        except OutputError as err:
            raise stopped(err) from err
        except KeyboardInterrupt:  # the search was done: keep it, the report can be drawn on --resume
            if out is None:
                raise Interrupted("while drawing the gallery; nothing is saved without out=FOLDER") from None
            results.write(out / "results.json", assemble(output, pixel, _write_npz(out, pixel)))
            raise Interrupted(f"all {n} images were searched and saved{where}; run the same "
                              "command plus --resume to draw the report") from None
        for m in res["models"]:
            if m["degenerate"]:
                log.warning(f"model {m['name']} is degenerate: it predicts {m['classes_used']} class(es), one of them "
                            f"for {100 * m['top_class_share']:.0f}% of the images; its large Δz says nothing about "
                            "robustness and it is ranked last")
        audit = Audit(res, gen)
        audit.pixel_npz = npz
        return self._outputs(audit, out, wanted)

    def _distributed(self, gen, classifiers, images, reference, error_models, start, on_chunk, progress):
        """The search on Ray: a local cluster of ``workers`` processes or the one at ``ray``."""
        from .distributed import Bundle, Cluster, Spec, distributed_search

        workers, address = self.cluster
        with Cluster(workers, address) as cluster:
            log.info(f"searching on {'a local Ray cluster of ' + str(workers) + ' workers' if workers else 'the Ray cluster at ' + address}"
                     f" ({cluster.size} CPUs)")
            spec = Spec(Bundle.of(gen.path), tuple((c.name, Bundle.of(c.path)) for c in classifiers), self.options,
                        reference is not None, tuple(error_models) if error_models is not None else None,
                        threads=max(1, (os.cpu_count() or 1) // cluster.size) if workers else 1)
            return distributed_search(spec, images, self.settings, cluster.size, resume=start, on_chunk=on_chunk,
                                      progress=progress)

    def _pixel_extras(self, gen, classifiers, images, output, pixel, natural) -> dict:
        """How natural each pixel adversary is (beside the natural ones, ``natural``: see
        naturalness.natural_view) and whether the generator repairs either; per instance, the
        out-of-domain flags."""
        from .naturalness import summary
        from .pixel.repair import repair

        log.info("measuring how natural the pixel adversaries are and whether the generator repairs them")
        nat = natural["nat"]
        models, flags = {}, {"natural_out_of_domain": natural["flags"], "pixel_out_of_domain": {}}
        n = len(images)
        for clf in classifiers:
            res, px = output.results[clf.name], pixel.results[clf.name]
            has_z, adversaries = natural["has"][clf.name], natural["adversaries"][clf.name]
            has_px = ~np.isnan(px.eps)
            px_scores = nat.score(np.nan_to_num(px.adversary[has_px]), np.flatnonzero(has_px))
            flag = np.zeros(n, dtype=bool)
            flag[has_px] = px_scores["out_of_domain"]
            flags["pixel_out_of_domain"][clf.name] = flag
            keeps = ~res.reconstruction_changed
            models[clf.name] = {
                "naturalness": {"natural": natural["models"][clf.name], "pixel": summary(px_scores)},
                "repair": {"pixel": _with_pngs(repair(gen, clf, np.nan_to_num(px.adversary), res.prediction,
                                                      has_px & keeps, self.settings.refine_steps,
                                                      examples=REPAIR_EXAMPLES), images, res.prediction,
                                                      px.adversary_prediction),
                           "natural": repair(gen, clf, adversaries, res.prediction, has_z & keeps,
                                             self.settings.refine_steps),
                           "n_reconstruction_changed": int((~keeps).sum())},
            }
        return {"naturalness": natural["record"], "_models": models, "_flags": flags}

    def _redraw(self, finished, assemble, gen, images, classifiers, out, wanted) -> Audit:
        """``resume`` of a finished scan: the gate and the ranking follow this call's baseline and
        alpha; the report is drawn, nothing is searched."""
        from . import results

        log.info(f"resuming: the scan in {out / 'results.json'} is complete; drawing its outputs")
        pixel = npz = None
        if finished.get("pixel"):
            npz = (out / NPZ).read_bytes() if (out / NPZ).is_file() else b""
            arrays = results.read_pixel_npz(out / NPZ, finished["pixel"].get("adversaries_sha256"))
            pixel = results.restore_pixel(finished, len(images.names), gen.image_shape, arrays)
        gate_was = finished.get("gate") or {}
        on = "dz" if self.gate_on == "dz" else "distance to the nearest natural error"
        if (finished.get("alpha") != self.alpha or gate_was.get("baseline") != self.baseline
                or (self.baseline and gate_was.get("on", "dz") != on)):
            output = results.restore(finished, len(images.names), gen.latent_dim)
            natural = None if self.text else natural_view(gen, images.images, output, [c.name for c in classifiers])
            extra = (self._pixel_extras(gen, classifiers, images.images, output, pixel, natural) | _npz_record(npz)
                     if pixel is not None else None)
            rebuilt = assemble(output, pixel, extra, natural)
            for key in ("report", "created"):
                if key in finished:
                    rebuilt[key] = finished[key]
            for old_inst, new_inst in zip(finished["instances"], rebuilt["instances"]):
                if "image_png" in old_inst:
                    new_inst["image_png"] = old_inst["image_png"]
                for name, r in old_inst["results"].items():
                    for k in ("pixel_png", "pixel_difference_png"):
                        if k in r:
                            new_inst["results"][name][k] = r[k]
            finished = rebuilt
            results.write(out / "results.json", finished)
        if "report" not in finished:  # interrupted between the search and the report
            finished = self._finish(finished, images.images, gen, classifiers, out, pixel)
        audit = Audit(finished, gen)
        audit.pixel_npz = npz
        return self._outputs(audit, out, wanted)

    def _finish(self, res: dict, images, gen, classifiers, out: Path | None, pixel=None) -> dict:
        """A finished scan's results with what the report needs from the images and the models
        (the gallery's originals, the strips' labels), written to results.json."""
        from . import report, results

        if self.text:
            from .text.scan import attach

            output = results.restore(res, len(images), gen.latent_dim)
            attach(res, gen, self.texts, classifiers, output, self.gallery)
            if out is not None:
                results.write(out / "results.json", res)
            return res
        report.attach_originals(res, images, self.gallery)
        report.attach_strips(res, gen, classifiers)
        if pixel is not None:
            report.attach_pixel(res, pixel, images)
        if out is not None:
            results.write(out / "results.json", res)
        return res

    @staticmethod
    def _outputs(audit: Audit, out: Path | None, wanted: tuple[str, ...]) -> Audit:
        """The report files of a finished scan whose results.json is written; an output that fails
        never loses the others (:class:`OutputError` carries the audit)."""
        if out is None:
            return audit
        try:
            audit.written = audit._write_reports(out, wanted)
        except OutputError as err:
            audit.written = [Path(p) for p in err.written] + [out / "results.json"]
            err.audit = audit  # results.json is kept where an output failed: the rest can be redrawn
            raise
        except KeyboardInterrupt:
            raise Interrupted(f"while writing the report; {out / 'results.json'} is complete: run the same "
                              "command plus --resume to draw the report") from None
        if "json" in wanted:
            audit.written.append(out / "results.json")
            if audit.pixel_npz is not None:
                audit.written.append(out / NPZ)
        else:  # kept while scanning so that nothing is lost; removed when not asked for
            (out / "results.json").unlink()
        return audit


REPAIR_EXAMPLES = 3  # per model, the report shows this many pixel adversaries and their round trips
PARTIAL_EVERY_S = 5.0  # partial results.json at most this often (or 20x a write's duration, if longer)


def _with_pngs(record: dict, images: np.ndarray, labels: np.ndarray, adversary_labels: np.ndarray) -> dict:
    """A repair record whose examples (index, x', G(I(x')), label) become what results.json keeps:
    the clean image, the adversary and its round trip as inline PNGs, with the model's labels."""
    from .report import png_data_uri

    examples = record.pop("_examples", [])
    record["examples"] = [{"index": i, "label": int(labels[i]), "adversary_label": int(adversary_labels[i]),
                           "round_trip_label": back,
                           "repaired": back == int(labels[i]), "image_png": png_data_uri(images[i]),
                           "adversary_png": png_data_uri(adv), "round_trip_png": png_data_uri(trip)}
                          for i, adv, trip, back in examples]
    return record


NPZ = "pixel-adversaries.npz"


def _npz_record(npz: bytes) -> dict:
    return {"adversaries_file": NPZ, "adversaries_sha256": hashlib.sha256(npz).hexdigest()}


def _write_npz(out: Path | None, pixel) -> dict | None:
    """The pixel adversaries so far, written beside results.json (before it, so that results.json
    never names a file that is not there); their record for results.json."""
    if pixel is None:
        return None
    from .results import pixel_npz

    npz = pixel_npz(pixel)
    if out is not None:
        write_bytes(out / NPZ, npz)
    return _npz_record(npz)


def _restore_pixel(previous: dict, out: Path, n: int, shape):
    """The pixel attack's finished images, where results.json and its npz agree; else None
    (the attack starts over, the latent search still resumes)."""
    from .errors import ResultsError
    from .results import read_pixel_npz, restore_pixel

    record = previous.get("pixel")
    if not record:
        return None
    try:
        arrays = read_pixel_npz(out / NPZ, record.get("adversaries_sha256"))
    except ResultsError as err:
        log.info(f"note: {err}; the pixel attack starts over")
        return None
    return restore_pixel(previous, n, shape, arrays)


class _progress_bar:
    """A progress bar on stderr, or nothing; yields the function the search calls with each
    batch's finished pairs. rich's bar in a terminal and in Jupyter with ipywidgets (its live
    display needs them); in Jupyter without them, one line rewritten in place (rich would warn
    and show nothing)."""

    def __init__(self, show: bool, title: str, total: int) -> None:
        self.show, self.title, self.total = show, title, total
        self.bar = None
        self.text: _TextProgress | None = None

    def __enter__(self) -> Callable[[int], None]:
        if not self.show:
            return lambda k: None
        from rich.console import Console
        from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                                   TimeRemainingColumn)

        console = Console(stderr=True, highlight=False)
        if console.is_jupyter and not _has_ipywidgets():
            self.text = _TextProgress(self.title, self.total)
            return self.text.advance
        self.bar = Progress(TextColumn(self.title), BarColumn(), MofNCompleteColumn(), TextColumn("image×model pairs"),
                            TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
                            console=console, transient=False)
        self.bar.__enter__()
        task = self.bar.add_task("search", total=self.total)
        return lambda k: self.bar.advance(task, k)

    def __exit__(self, *exc) -> None:
        if self.bar is not None:
            self.bar.__exit__(*exc)
        if self.text is not None:
            self.text.close()


def _has_ipywidgets() -> bool:
    import importlib.util

    return importlib.util.find_spec("ipywidgets") is not None


class _TextProgress:
    """``title ━━━━━━━━━──────── 120/240 image×model pairs 0:00:12 ETA 0:00:12`` on one stderr
    line, rewritten with a carriage return at most twice a second (notebooks honour it)."""

    WIDTH = 30

    def __init__(self, title: str, total: int) -> None:
        self.title, self.total, self.done = title, max(total, 1), 0
        self.started = self.shown = time.monotonic()
        self._draw()

    def advance(self, k: int) -> None:
        self.done += k
        if time.monotonic() - self.shown >= 0.5 or self.done >= self.total:
            self._draw()

    def _draw(self) -> None:
        import sys

        self.shown = time.monotonic()
        elapsed = self.shown - self.started
        filled = int(self.WIDTH * min(self.done / self.total, 1.0))
        eta = elapsed / self.done * (self.total - self.done) if self.done else None
        clock = time.strftime("%H:%M:%S", time.gmtime(elapsed))[1:]
        left = "-:--:--" if eta is None else time.strftime("%H:%M:%S", time.gmtime(eta))[1:]
        sys.stderr.write(f"\r{self.title} {'━' * filled}{'─' * (self.WIDTH - filled)} {self.done}/{self.total} "
                         f"image×model pairs {clock} ETA {left}")
        sys.stderr.flush()

    def close(self) -> None:
        import sys

        self._draw()
        sys.stderr.write("\n")
        sys.stderr.flush()
