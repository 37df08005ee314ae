"""The image domain: image files, folders, arrays and PIL images read into the generator's shape
(:mod:`auditor.data`), the image generator's fit check, models fed pixels
(:mod:`auditor.models`), every view (pixel attacks, difference maps, pixel naturalness), and the
gallery of images (:mod:`.image_views`)."""

from __future__ import annotations

import logging
from typing import Any

from . import image_views
from .base import DOMAINS

log = logging.getLogger("auditor")


class ImageDomain:
    name = "image"
    unit = "images"
    fallback = True  # inputs no other domain claims are read as images
    views_left_out = None

    def claims(self, source: Any) -> bool:
        return True

    def check(self, config: Any, source: Any) -> None:
        pass

    def wrong_generator(self, generator: str) -> str:
        return (f"generator {generator} is for text; give .txt, .tsv or .jsonl files (or a folder "
                "of them), or an image generator for images")

    def load(self, source: Any, named: dict[str, Any], config: Any):
        from .. import data as data_mod
        from ..generators import choose_generator, generator_fit, load_generator
        from ..loading import Loaded

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
        else:
            gen, candidates = load_generator(config.generator, device=config.device), None
            images = data_mod.image_set(source, gen.image_shape, config.limit)
        classifiers = self._classifiers(gen, named, config)  # a text model is refused here
        if candidates is not None:
            _describe_choice(candidates)
        _describe(gen, images, source, config)
        fit, per_input = generator_fit(gen, images.images)
        if fit["verdict"] in ("poor", "partial") and (candidates is None or candidates[0]["fits"]):
            log.warning(fit["message"])
        for clf in classifiers:
            log.info(f"model {clf.name} ({clf.format}, {clf.provider}): input "
                     f"{clf.contract.describe()}")
            for note in getattr(clf, "notes", ()):
                log.info(note)
        return Loaded(gen, candidates, images, fit, per_input, classifiers, self)

    @staticmethod
    def _classifiers(gen, named: dict[str, Any], config: Any) -> list:
        from ..models import as_classifier
        from ..models.hf_folder import bundle_classes

        classes = bundle_classes(gen)
        return [as_classifier(m, name, gen.image_shape, config.models, class_names=classes)
                for name, m in named.items()]

    def worker_classifier(self, gen, path, name: str, options, threads: int, kind: str):
        from ..models import load_classifier
        from ..models.hf_folder import bundle_classes

        return load_classifier(path, name, gen.image_shape, options, threads=threads,
                               class_names=bundle_classes(gen))

    def labelled(self, gen, path, limit: int | None, labels: str, models: list):
        """(labelled images, a function that loads ``models``) for validate-generator;
        ``labels == "folders"``: one sub-folder per class."""
        from ..data import folder_labels, load_images
        from ..models import ModelOptions, load_classifier, unique_names

        data = load_images(path, gen.image_shape, limit)
        if labels == "folders":
            data.labels, _ = folder_labels(data.names)
        return data, lambda: [load_classifier(p, n, gen.image_shape, ModelOptions())
                              for p, n in zip(models, unique_names(models))]

    def generator_record(self) -> dict[str, Any]:
        return {}  # results.json names no modality for images (the first domain)

    def data_record(self, inputs) -> dict[str, Any]:
        return {"n_resized": inputs.n_resized}

    def naturalness(self, loaded, output):
        from ..naturalness import natural_view

        log.info("measuring how natural the natural adversaries are")
        return natural_view(loaded.gen, loaded.inputs.items, output,
                            [c.name for c in loaded.classifiers])

    def complete(self, res: dict[str, Any], loaded, output, pixel, gallery: int) -> None:
        images = loaded.inputs.items
        image_views.attach_originals(res, images, gallery)
        image_views.attach_strips(res, loaded.gen, loaded.classifiers)
        if pixel is not None:
            image_views.attach_pixel(res, pixel, images)

    def gallery_rows(self, results: dict[str, Any], generator) -> list[dict[str, Any]]:
        return image_views.gallery_rows(results, generator)

    def strip_rows(self, results: dict[str, Any], generator) -> list[dict[str, Any]]:
        return image_views.strip_rows(results, generator)

    def template_flags(self, results: dict[str, Any]) -> dict[str, bool]:
        return {"text": False, "pairs": False}


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
    from .. import data as data_mod
    from ..loading import source_name

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


IMAGE = DOMAINS.register("image")(ImageDomain())
