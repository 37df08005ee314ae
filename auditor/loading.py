"""A scan's first step: the generator (chosen or named), the inputs in its domain, the
classifiers fitted to its images, and what results.json says of each (file, hash, input
contract); which models the generator's reference classifier R judges. Each input domain loads
its own (auditor/domains/)."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Any

from .errors import OptionError

log = logging.getLogger("auditor")


@dataclass
class Loaded:
    """What a scan works on once loaded (by its domain: auditor/domains/)."""

    gen: Any
    candidates: list[dict] | None  # generator auto's candidates, best first
    inputs: Any  # the domain's InputSet (domains/base.py)
    fit: dict
    per_input: Any  # the fit check's per-input arrays (recon_mse, fit_score, in_domain), or None
    classifiers: list
    domain: Any  # the inputs' Domain

    @property
    def n(self) -> int:
        return len(self.inputs.names)


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
