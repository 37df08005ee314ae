"""The text parts of a scan: loading texts, the text generator and text models (with the checks
that the three fit one another), the data's fit to the generator, and what results.json and the
report need beyond the latent figures: every input's text, every adversary as text (checked
against its model once more), and the interpolation strips as sentences.

The image-only parts of a scan are left out for text, each with its reason stated in the scan:
the pixel view (pixel attacks act on pixels), difference maps (the changed words are
highlighted instead) and the k-NN naturalness check (it measures pixel distances).
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from ..errors import GeneratorError, OptionError
from ..gallery import strip_picks, strip_times

log = logging.getLogger("auditor")
STRIP_TEXTS = 4  # gallery inputs that get strips


def text_generator(generator: str, device: str | None):
    """The text scan's generator: the one named, or (``auto``) the bundled text generator."""
    from ..generators import bundled_names, load_generator

    if generator != "auto":
        gen = load_generator(generator, device=device)
        if gen.modality != "text":
            raise OptionError(f"generator {gen.name} makes images, and the data is text: scan text "
                              "with a text generator (--generator snli) or give images")
        return gen
    names = bundled_names("text")
    if not names:
        raise GeneratorError("no bundled text generator found: reinstall auditor, or pass "
                             "--generator DIR")
    return load_generator(names[0], device=device)


def describe(gen, texts, source, generator: str, classifiers, left_out: str) -> None:
    """The set-up lines of a text scan: the generator, the texts and their rule, the decoding,
    the generator's quality, the views left out, the models."""
    from .data import RULE

    if generator == "auto":
        log.info(f"generator auto: {gen.name}, the bundled generator for text "
                 "(images never see it)")
    origin = (source if isinstance(source, (str, bytes)) or hasattr(source, "__fspath__")
              else "a list")
    log.info(f"{len(texts.names)} {texts.kind} from {origin}"
             f" for generator {gen.name}: {RULE}"
             + (f" ({texts.n_normalised} normalised)" if texts.n_normalised else ""))
    log.info(f"decoding rule {gen.decoding}: {gen.describe_decoding()}")
    quality = gen.manifest.get("quality", {})
    if "exact_match" in quality:
        log.info(f"generator {gen.name}: decode(encode(x)) gives "
                 f"{100 * quality['exact_match']:.0f}% of {quality.get('n_sentences', '?')} "
                 "held-out sentences back exactly, "
                 f"{100 * quality.get('token_accuracy', 0):.0f}% of their words")
    log.info(f"note: {left_out}")
    for clf in classifiers:
        log.info(f"model {clf.name} ({clf.format}, {clf.provider}): input {clf.describe()}")
        for note in getattr(clf, "notes", ()):
            log.info(note)


def text_classifier(gen, model, name: str, pairs: bool, options=None, threads: int = 0):
    """A text model as a classifier of the generator's classes (SNLI's order, for pairs) where the
    bundle's texts are of the model's kind (pairs, or sentences for a bundle trained on
    sentences); ``options``: the scan's ModelOptions (device, --class-names)."""
    from ..models.hf_folder import bundle_classes
    from .model_loading import as_text_classifier

    same_kind = pairs == (gen.manifest.get("texts", "pairs") == "pairs")
    class_names = (bundle_classes(gen) or []) if same_kind else []
    return as_text_classifier(model, name, pairs, class_names, options, threads)


def adversary_texts(gen, items: np.ndarray, output, classifiers):
    """Every model's natural adversaries as inputs (object arrays, None where none), rendered
    from z* by the scan's rule and fed back to the model, with the label the model gives each.

    Greedy decoding is discontinuous in z: where a word's choice is a near-tie, the float
    rounding of another batch composition (or of z* as results.json stores it) can change it, so
    a rendered adversary may get another label than the search saw. Such an adversary keeps the
    label its model gives the stored text where that still differs from the model's label of the
    input; where it does not, no text is stored (it is no adversary). Returns (texts, labels,
    dropped) per model; every stored text gets its stored label, as the report says."""
    base = gen.decode(output.z0[: output.n_done])
    texts_, labels_, changed_ = {}, {}, {}
    for clf in classifiers:
        res = output.results[clf.name]
        n = output.n_done
        rows = np.flatnonzero(~np.isnan(res.delta_z[:n]) & ~res.reconstruction_changed[:n])
        texts = np.full(n, None, dtype=object)
        labels = res.adversary_prediction[:n].copy()
        changed = []
        if len(rows):
            found = gen.render(res.z_star[rows], items[rows], base[rows])
            got = clf.predict(found)
            for i, r in enumerate(rows):
                if got[i] != labels[r]:
                    changed.append(int(r))
                    labels[r] = got[i]
                if got[i] != res.prediction[r]:
                    texts[r] = found[i] if np.ndim(found[i]) == 0 else found[i][1]
        if changed:
            lost = sum(texts[r] is None for r in changed)
            log.warning(f"{clf.label}: {len(changed)} natural adversaries decoded to a text it "
                        "labels otherwise than the search saw (greedy decoding is discontinuous "
                        "where a word is a near-tie); stored with the label the model gives the "
                        "stored text" + (f", {lost} without text (it no longer changes the label)"
                                         if lost else ""))
        texts_[clf.name], labels_[clf.name], changed_[clf.name] = texts, labels, changed
    return texts_, labels_, changed_


def attach(res: dict[str, Any], gen, texts, classifiers, output, gallery: int) -> None:
    """Texts, adversaries and sentence strips into results.json (see the module docstring)."""
    adversaries, labels, changed = adversary_texts(gen, texts.items, output, classifiers)
    for i, inst in enumerate(res["instances"]):
        item = texts.items[i]
        inst["text"] = list(item) if texts.pairs else item
        for name, r in inst["results"].items():
            r["adversary"] = adversaries[name][i]
    for name, rows in changed.items():
        for i in rows:
            r = res["instances"][i]["results"][name]
            r["adversary_prediction"] = int(labels[name][i])
            r["adversary_relabelled"] = True
    res["report"] = {"gallery": gallery}
    by_name = {c.name: c for c in classifiers}
    t = strip_times()
    strips = []
    for index, name in strip_picks(res, STRIP_TEXTS):
        r = res["instances"][index]["results"][name]
        if r["delta_z"] == 0:  # the reconstruction itself changed the label: nothing to walk
            continue
        z0, z1 = output.z0[index], np.asarray(r["z_star"], np.float32)
        z = z0[None] + t[:, None] * (z1 - z0)[None]
        x = np.repeat(texts.items[index : index + 1], len(t), axis=0)
        frames = gen.render(z, x, np.repeat(gen.decode(z0[None]), len(t)))
        got = by_name[name].predict(frames)
        sentences = [f if np.ndim(f) == 0 else f[1] for f in frames]
        strips.append({"index": index, "model": name, "t": [round(float(v), 4) for v in t],
                       "sentences": sentences, "labels": [int(v) for v in got]})
    res["report"]["strips"] = strips
