"""A scan's first step: the generator (chosen or named), the inputs in its domain, the
classifiers fitted to its images, and what results.json says of each (file, hash, input
contract); which models the generator's reference classifier R judges. Text scans load through
``text/scan.py``."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Any

from .errors import OptionError

log = logging.getLogger("auditor")


@dataclass
class Loaded:
    """What a scan works on once loaded."""

    gen: Any
    candidates: list[dict] | None  # generator auto's candidates, best first
    images: Any  # data.ImageSet, or text.data.TextSet
    fit: dict
    per_input: Any  # the fit check's per-input arrays (recon_mse, fit_score, in_domain), or None
    classifiers: list
    text: bool

    @property
    def n(self) -> int:
        return len(self.images.names)


def load(source, named: dict[str, Any], config, text: bool) -> Loaded:
    """Generator, inputs in its domain, classifiers (``config``: the scan's ScanConfig)."""
    if text:
        from .text.scan import load as load_text

        return Loaded(*load_text(source, config.generator, config.limit, named, config.models),
                      text=True)
    from . import data as data_mod
    from .generators import choose_generator, generator_fit, load_generator
    from .models import as_classifier
    from .models.hf_folder import bundle_classes

    if config.generator == "auto":
        loaded: dict = {}

        def images_for(shape):
            if shape not in loaded:
                loaded[shape] = data_mod.image_set(source, shape, config.limit)
            return loaded[shape].images

        def conversions(shape) -> int:  # images resized or converted to a generator's domain
            return loaded[shape].n_resized + loaded[shape].n_converted

        gen, candidates = choose_generator(images_for, device=config.device,
                                           conversions=conversions)
        images = loaded[gen.image_shape]
        _describe_choice(candidates)
    else:
        gen, candidates = load_generator(config.generator, device=config.device), None
        images = data_mod.image_set(source, gen.image_shape, config.limit)
    _describe(gen, images, source, config)
    fit, per_input = generator_fit(gen, images.images)
    if fit["verdict"] in ("poor", "partial") and (candidates is None or candidates[0]["fits"]):
        log.warning(fit["message"])
    shape = gen.image_shape
    classes = bundle_classes(gen)
    classifiers = [as_classifier(m, name, shape, config.models, class_names=classes)
                   for name, m in named.items()]
    for clf in classifiers:
        log.info(f"model {clf.name} ({clf.format}, {clf.provider}): input "
                 f"{clf.contract.describe()}")
        for note in getattr(clf, "notes", ()):
            log.info(note)
    return Loaded(gen, candidates, images, fit, per_input, classifiers, text=False)


def _describe_choice(candidates: list[dict]) -> None:
    """generator auto's one line: the bundle that fits best, or that none fits (a warning)."""
    best = candidates[0]
    others = "; ".join(f"{c['name']} {100 * c['share_outside']:.0f}%" for c in candidates[1:])
    others = f"; {others}" if others else ""
    if best["fits"]:
        log.info(f"generator auto: {best['name']} fits these images best "
                 f"({100 * best['share_outside']:.0f}% outside its domain{others}); "
                 "--generator NAME chooses another")
        return
    log.warning(f"generator auto: no bundled generator fits these images; the least bad is "
                f"{best['name']} ({100 * best['share_outside']:.0f}% outside its domain{others}), "
                "and the scan goes on with it, but its dz then measures the generator more than "
                "the model: train a generator on such images with `auditor train-generator DATA "
                "--out DIR` and scan with --generator DIR")


def _describe(gen, images, source, config) -> None:
    """The notes on the generator and the images' conversion a scan starts with."""
    from . import data as data_mod

    shape = gen.image_shape
    if config.search.refine_steps and not gen.gradients:
        log.info(f"note: generator {gen.name} is an imported ONNX graph without gradients: z0 = "
                 "E(x) is used as it is (no --refine-steps)")
    log.info(f"{len(images.names)} images from {source_name(source)} → {'x'.join(map(str, shape))} "
             f"for generator {gen.name}: {data_mod.conversion_rule(shape)}")
    if gen.decoding != "plain":
        log.info(f"decoding rule {gen.decoding}: {gen.describe_decoding()}")
    if images.skipped:
        log.warning(data_mod.skipped_message(images.skipped))
    if images.ignored:
        log.info(data_mod.ignored_message(images.ignored))


def source_name(source) -> str:
    """How the scan names its inputs: the path, or what was passed in memory."""
    if isinstance(source, (str, os.PathLike)):
        return str(source)
    shape = getattr(source, "shape", None)
    return (f"an array of shape {tuple(shape)}" if shape is not None
            else f"a list of {len(source)} images")


def model_record(clf, model: Any) -> dict[str, Any]:
    """results.json's description of a model: file, format, size and SHA-256 (of the file, or of
    an in-memory torch module's weights), input contract, where it runs."""
    from .files import sha256
    from .models import model_digest

    record: dict[str, Any] = {"name": clf.name, "path": None if clf.path is None else str(clf.path),
                              "format": clf.format}
    files = clf.folder.files() if getattr(clf, "folder", None) is not None else [clf.path]
    if clf.path is not None and clf.path.is_dir() and files == [clf.path]:
        files = sorted(p for p in clf.path.rglob("*") if p.is_file())
    if clf.path is not None:
        digest = sha256(files[0]) if len(files) == 1 else _combined(files)
        record.update(sha256=digest, size_bytes=sum(p.stat().st_size for p in files))
    else:
        record["source"] = f"in memory: {type(model).__module__}.{type(model).__qualname__}"
        digest = model_digest(model)
        if digest is not None:
            record["sha256"] = digest
    record.update(input=clf.contract.describe(), provider=str(clf.provider),
                  class_names=clf.class_names)
    return record


def _combined(files) -> str:
    """One SHA-256 of several files (a model folder's): of their names and SHA-256s."""
    import hashlib

    from .files import sha256

    return hashlib.sha256("".join(f"{p.name}\0{sha256(p)}\n" for p in files).encode()
                          ).hexdigest()


def input_bytes(images) -> bytes:
    """What identifies a scan's inputs: the pixels, or the texts (an object array's bytes are
    pointers)."""
    if images.images.dtype == object:
        from .text.data import hashable

        return hashable(images.images)
    return images.images.tobytes()


def rule(images, shape) -> str:
    """How the inputs were converted: the image conversion rule, or the text normalisation."""
    if shape is None:
        from .text.data import RULE

        return RULE
    from .data import conversion_rule

    return conversion_rule(shape)


def reference_for(gen, classifiers, images, mode: str):
    """The generator's reference classifier R, the models its figures apply to, and the models
    whose distance to the nearest natural error is searched ((None, None, None) when the error
    distance is off or there is no R). ``auto`` searches it unless the bundle's manifest says
    ``"error_distance_default": "skip"`` (where the search is costly, as on photos): R's
    agreement with each model and the semantics of the adversaries are given all the same."""
    from .reference import mismatch

    if mode == "off" or (mode == "auto" and gen.reference is None):
        return None, None, None
    if gen.reference is None:
        raise OptionError(f"generator {gen.name} ships no reference classifier, which "
                          "--error-distance on needs: train one with `auditor train-generator` on "
                          "labelled data (an .npz with labels)")
    applies = []
    for clf in classifiers:
        reason = mismatch(clf, gen.reference, clf.predict(images[:64]))
        if reason:
            log.info(f"note: the reference classifier's figures are left out for model {clf.name}: "
                     f"{reason}")
        else:
            applies.append(clf.name)
    skip = mode == "auto" and gen.manifest.get("error_distance_default") == "skip"
    _describe_reference(gen, applies, skip)
    return gen.reference, applies, [] if skip else list(applies)


def _describe_reference(gen, applies: list[str], skip: bool) -> None:
    accuracy = gen.reference.record.get("accuracy")
    head = (f"reference classifier of {gen.name}: {len(gen.reference.class_names)} classes, "
            "accuracy "
            + ("unknown (no labelled images measured it)" if accuracy is None
               else f"{100 * accuracy:.1f}%"))
    if applies and skip:
        log.info(f"{head}; its agreement with {len(applies)} model(s) and the semantics of their "
                 "adversaries are given; the distance to the nearest natural error is not searched "
                 f"by default with {gen.name} (it about doubles the search; --error-distance on "
                 "searches it)")
    elif applies:
        log.info(f"{head}; also searching the distance to the nearest natural error for "
                 f"{len(applies)} model(s) (about twice the search time; --error-distance off "
                 "skips it)")
    else:
        log.info(f"{head}; it applies to none of the models: no natural-error figures")
