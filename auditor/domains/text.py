"""The text domain: sentences or premise-hypothesis pairs from .txt/.tsv/.jsonl files or lists
(:mod:`auditor.text.data`), the sentence generator and its fit check, text models (ONNX with a
tokenizer, Hugging Face folders, pipelines, functions of texts), and the report's texts with
their changed words. Its package, :mod:`auditor.text`, holds the parts."""

from __future__ import annotations

import logging
from typing import Any

from .base import DOMAINS

log = logging.getLogger("auditor")
PAIRS = "premise-hypothesis pairs"  # TextSet.kind of pairs


class TextDomain:
    name = "text"
    unit = "texts"
    fallback = False
    views_left_out = ("for text, the pixel attacks, difference maps and the pixel-space "
                      "naturalness check are left out (they act on pixels); the report highlights "
                      "the changed words instead")

    def claims(self, source: Any) -> bool:
        from ..text.data import is_text

        return is_text(source)

    def check(self, config: Any, source: Any) -> None:
        from ..errors import OptionError

        if config.pixel.attack != "none":
            raise OptionError("--pixel-attack acts on pixels: it does not apply to text; drop it")

    def wrong_generator(self, generator: str) -> str:
        return (f"generator {generator} makes images, and the data is text: scan text with a text "
                "generator (--generator snli) or give images")

    def load(self, source: Any, named: dict[str, Any], config: Any):
        from ..loading import Loaded
        from ..text.fit import text_fit
        from ..text.scan import describe, text_classifier, text_generator
        from ..text.data import load_text

        texts = load_text(source, config.limit)
        gen = text_generator(config.generator, config.device)
        classifiers = [text_classifier(gen, m, name, texts.pairs, config.models)
                       for name, m in named.items()]
        for clf in classifiers:  # a model that fails on the data fails now, in one line
            clf.predict(texts.items[:2])
        describe(gen, texts, source, config.generator, classifiers, self.views_left_out)
        fit, per_input = text_fit(gen, texts.items)
        if fit["verdict"] in ("poor", "partial"):
            log.warning(fit["message"])
        return Loaded(gen, None, texts, fit, per_input, classifiers, self)

    def worker_classifier(self, gen, path, name: str, options, threads: int, kind: str):
        from ..text.scan import text_classifier

        return text_classifier(gen, path, name, kind == PAIRS, options, threads)

    def labelled(self, gen, path, limit: int | None, labels: str, models: list):
        """(labelled texts, a function that loads ``models``) for validate-generator."""
        from ..models import unique_names
        from ..text.labelled import labelled_texts, text_models

        data, class_names = labelled_texts(path, gen, limit,
                                           None if labels in ("auto", "folders") else labels)
        classifiers = text_models(gen, models, unique_names(models), data.pairs, class_names)
        return data, lambda: classifiers

    def generator_record(self) -> dict[str, Any]:
        return {"modality": self.name}

    def data_record(self, inputs) -> dict[str, Any]:
        return {"n_resized": 0, "kind": inputs.kind}

    def naturalness(self, loaded, output):
        return None  # a pixel-space measure (views_left_out)

    def complete(self, res: dict[str, Any], loaded, output, pixel, gallery: int) -> None:
        from .. import results
        from ..text.scan import attach

        if output is None:  # a redraw: the latents as results.json keeps them
            output = results.restore(res, loaded.n, loaded.gen.latent_dim)
        attach(res, loaded.gen, loaded.inputs, loaded.classifiers, output, gallery)

    def gallery_rows(self, results: dict[str, Any], generator) -> list[dict[str, Any]]:
        from ..text.report import gallery_rows

        return gallery_rows(results)

    def strip_rows(self, results: dict[str, Any], generator) -> list[dict[str, Any]]:
        from ..text.report import strip_rows

        return strip_rows(results)

    def template_flags(self, results: dict[str, Any]) -> dict[str, bool]:
        return {"text": True, "pairs": results["data"].get("kind") == PAIRS}


TEXT = DOMAINS.register("text")(TextDomain())
