"""The reports: a self-contained HTML page (CSS, images and chart inline, no network fetch),
the same paginated as a PDF, and a Markdown section for model cards.

Drawn from results.json and the generator (adversaries and interpolation frames are
decoded from the stored latents), plus the original images where the scan still has them
in memory (they are then stored in results.json for `auditor report`).
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import numpy as np

from .assets import asset_dir
from .formats import FORMATS, parse_formats  # noqa: F401  (their home: auditor/formats.py)
from .gallery import (  # noqa: F401
    ALL_MODELS_UP_TO, _column_models, _semantics, class_names, gallery_columns, label_name, ranked,
    select_gallery,
)
from .pictures import (  # noqa: F401  (the images' data URIs: auditor/pictures.py)
    SCALE, difference_map, image_from_uri, png_data_uri, svg_data_uri,
)
from .summary_text import (  # noqa: F401  (the summary's sentences: auditor/summary_text.py)
    COMPACT_LETTERS, FEW_IMAGES, FIGURE_NAMES, consensus_text, format_rho, overlap, pair_matrix,
    fit_text, search_error_text, trust, underrated_text,
)


def candidates(generator, inst: dict[str, Any], z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(reconstruction, candidate images of latents ``z``) of one instance, by the generator's
    decoding rule (the detail-preserving rule needs the original, stored as the instance's PNG)."""
    z0 = np.asarray(inst["z0"], dtype=np.float32)[None]
    base = generator.decode(z0)
    if generator.decoding == "plain":
        return base[0], generator.decode(z)
    x = image_from_uri(inst["image_png"])[None]
    return x[0], generator.render(z, np.repeat(x, len(z), 0), np.repeat(base, len(z), 0))


def attach_originals(results: dict[str, Any], images: np.ndarray, n: int) -> None:
    """Store the gallery's original images in results.json (PNG data URIs), so that the
    report can be drawn again from the file alone. ``images`` is (N, C, H, W)."""
    results["report"] = {"gallery": n}
    for index, _ in select_gallery(results, n, results["search"].get("seed", 0)):
        results["instances"][index]["image_png"] = png_data_uri(images[index])


def attach_pixel(results: dict[str, Any], pixel, images: np.ndarray) -> None:
    """Store the gallery images' pixel adversaries (and their differences to the original) in
    results.json, beside the natural ones, for the models the gallery shows."""
    n, seed = results.get("report", {}).get("gallery", 0), results["search"].get("seed", 0)
    for index, _ in select_gallery(results, n, seed):
        inst = results["instances"][index]
        for name in set(_column_models(results, inst, gallery_columns(results))):
            adv = pixel.results[name].adversary[index]
            if not np.isnan(adv).any():
                inst["results"][name]["pixel_png"] = png_data_uri(adv)
                difference = difference_map(adv, images[index])
                inst["results"][name]["pixel_difference_png"] = png_data_uri(difference)


def gallery_rows(results: dict[str, Any], generator) -> list[dict[str, Any]]:
    """Rows for the gallery template: original, reconstruction, and per column (see
    :func:`gallery_columns`) the model's adversary."""
    columns = gallery_columns(results)
    n = results.get("report", {}).get("gallery", 0)
    picks = select_gallery(results, n, results["search"].get("seed", 0))
    names = class_names(results)
    rows = []
    for index, reason in picks:
        inst = results["instances"][index]
        if inst.get("z0") is None:
            continue
        recon = candidates(generator, inst, np.zeros((0, generator.latent_dim), np.float32))[0]
        cells = []
        for name in _column_models(results, inst, columns):
            r = inst["results"][name]
            cell = {"model": name, "prediction": r["prediction"], "delta_z": r["delta_z"],
                    "censored": r["censored"], "changed": r["reconstruction_changed_label"],
                    "adversary_prediction": r["adversary_prediction"],
                    "semantics": _semantics(inst, r),
                    "prediction_name": label_name(names[name], r["prediction"]),
                    "adversary_name": label_name(names[name], r["adversary_prediction"])}
            if r.get("z_star") is not None:
                z_star = np.asarray(r["z_star"], dtype=np.float32)[None]
                adv = candidates(generator, inst, z_star)[1][0]
                cell["adversary"] = png_data_uri(adv)
                scaled = generator.decoding != "plain"
                cell["difference"] = png_data_uri(difference_map(adv, recon, scaled=scaled))
            if "pixel_eps" in r:
                cell["pixel"] = {"adversary": r.get("pixel_png"),
                                 "difference": r.get("pixel_difference_png"), "eps": r["pixel_eps"],
                                 "prediction": r.get("pixel_adversary_prediction"),
                                 "prediction_name": label_name(
                                     names[name], r.get("pixel_adversary_prediction")),
                                 "out_of_domain": r.get("pixel_out_of_domain")}
            cells.append(cell)
        rows.append({
            "file": inst["file"], "reason": reason,
            "original": inst.get("image_png"),
            "reconstruction": png_data_uri(recon), "cells": cells,
        })
    return rows


STRIP_FRAMES = 8  # decoded steps from z0 to z* in an interpolation strip
STRIP_IMAGES = 3  # gallery images that get strips


def attach_strips(results: dict[str, Any], generator, classifiers) -> None:
    """Interpolation strips for the first gallery images: per model of the gallery's columns,
    the labels of G(z0 + t (z* - z0)) at evenly spaced t, stored in results.json (the report
    decodes the frames again from z0 and z*; the labels need the models, so they are kept)."""
    n = results.get("report", {}).get("gallery", 0)
    gallery = select_gallery(results, n, results["search"].get("seed", 0))
    picks = [i for i, _ in gallery][:STRIP_IMAGES]
    columns = gallery_columns(results)
    by_name = {clf.name: clf for clf in classifiers}
    t = np.linspace(0.0, 1.0, STRIP_FRAMES)
    strips = []
    for index in picks:
        inst = results["instances"][index]
        for name in dict.fromkeys(_column_models(results, inst, columns)):
            clf, r = by_name[name], inst["results"][name]
            if r.get("z_star") is None or inst.get("z0") is None:
                continue
            z0, z1 = np.asarray(inst["z0"], np.float32), np.asarray(r["z_star"], np.float32)
            path = z0[None] + t[:, None].astype(np.float32) * (z1 - z0)[None]
            frames = candidates(generator, inst, path)[1]
            strips.append({"index": index, "model": clf.name, "t": [round(float(v), 4) for v in t],
                           "labels": [int(v) for v in clf.predict(frames)]})
    results.setdefault("report", {})["strips"] = strips


def strip_rows(results: dict[str, Any], generator) -> list[dict[str, Any]]:
    """Frames and labels of the stored interpolation strips, for the template."""
    rows = []
    for strip in results.get("report", {}).get("strips", []):
        inst = results["instances"][strip["index"]]
        r = inst["results"][strip["model"]]
        z0, z1 = np.asarray(inst["z0"], np.float32), np.asarray(r["z_star"], np.float32)
        t = np.asarray(strip["t"], np.float32)
        frames = candidates(generator, inst, z0[None] + t[:, None] * (z1 - z0)[None])[1]
        labels = strip["labels"]
        rows.append({
            "file": inst["file"], "model": strip["model"], "delta_z": r["delta_z"],
            "frames": [{"image": png_data_uri(f, 2), "label": lab, "t": float(tv),
                        "flipped": lab != r["prediction"]}
                       for f, lab, tv in zip(frames, labels, t)],
        })
    return rows


def _environment(autoescape: bool = True):
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(asset_dir("templates"))),
        autoescape=autoescape, undefined=jinja2.StrictUndefined, trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["fmt"] = _fmt
    env.filters["dz"] = _dz
    env.filters["rho"] = format_rho
    return env


def render_html(results: dict[str, Any], generator) -> str:
    """The report of ``results`` (a scan's or one read from results.json) as one HTML page."""
    from . import plots

    template = _environment().get_template("report.html.j2")
    css = (asset_dir("templates") / "report.css").read_text()
    svg = plots.dz_ecdf_svg(results)
    many = len(results["models"]) > ALL_MODELS_UP_TO
    text = results["generator"].get("modality") == "text"
    return template.render(
        r=results, css=css, rows=_rows(results, generator), columns=gallery_columns(results),
        text=text,
        pairs=text and results["data"].get("kind") == "premise-hypothesis pairs",
        models={m["name"]: m for m in results["models"]}, order=ranked(results), many=many,
        matrix=pair_matrix(results) if many else None, all_models_up_to=ALL_MODELS_UP_TO,
        overlap=overlap(results),
        ecdf=svg_data_uri(svg) if svg else None,
        flows={n: plots.class_flow(results, n) for n in ranked(results)},
        strips=_strips(results, generator), few_images=FEW_IMAGES, trust=trust(results),
        fit=fit_text(results),
        search_error=search_error_text(results, ranked(results)),
        consensus=consensus_text(results, ranked(results)),
        scatter=svg_data_uri(scatter) if (scatter := plots.dz_eps_scatter_svg(results)) else None,
        pixel_order=[n for g in (results.get("pixel") or {}).get("ranking", []) for n in g],
    )


def _rows(results: dict[str, Any], generator) -> list[dict[str, Any]]:
    """The gallery's rows: images, or texts (auditor/text/report.py)."""
    if results["generator"].get("modality") == "text":
        from .text.report import gallery_rows as text_rows

        return text_rows(results)
    return gallery_rows(results, generator)


def _strips(results: dict[str, Any], generator) -> list[dict[str, Any]]:
    if results["generator"].get("modality") == "text":
        from .text.report import strip_rows as text_strips

        return text_strips(results)
    return strip_rows(results, generator)


NOTEBOOK_GALLERY = 3  # gallery rows an Audit shows in a notebook


def render_notebook(results: dict[str, Any], generator) -> str:
    """An audit as an HTML fragment for Jupyter: the verdict, the summary, a few gallery rows."""
    template = _environment().get_template("notebook.html.j2")
    text = results["generator"].get("modality") == "text"
    rows = _rows(results, generator)[:NOTEBOOK_GALLERY] if generator is not None else []
    return template.render(
        r=results, rows=rows, columns=gallery_columns(results),
        models={m["name"]: m for m in results["models"]}, order=ranked(results),
        many=len(results["models"]) > ALL_MODELS_UP_TO, overlap=overlap(results),
        few_images=FEW_IMAGES, trust=trust(results), notebook=True, fit=fit_text(results),
        search_error=search_error_text(results, ranked(results)),
        consensus=consensus_text(results, ranked(results)), text=text,
        pairs=text and results["data"].get("kind") == "premise-hypothesis pairs",
    )


def write_pdf(path: Path, html: str) -> Path:
    """The HTML report paginated for print by WeasyPrint (the print rules are in report.css).

    Any failure of the renderer (a missing system library, a layout it cannot place) raises
    :class:`OutputError`; no temporary file and no older report.pdf is left behind.
    """
    from .errors import OutputError, first_line

    from .files import atomic_write

    try:
        try:
            weasyprint = import_weasyprint()
            document = weasyprint.HTML(string=html, base_url=None).render()
        except Exception as err:  # the renderer's own errors are many and undocumented
            raise OutputError(f"report.pdf could not be rendered ({type(err).__name__}: "
                              f"{first_line(err, 160)}); run `auditor doctor` to check the PDF "
                              "renderer") from err
        try:
            return atomic_write(path, document.write_pdf, binary=True)
        except OutputError:
            raise
        except Exception as err:  # the writer's own errors (font subsetting, ...)
            raise OutputError(f"report.pdf could not be written ({type(err).__name__}: "
                              f"{first_line(err, 160)}); run `auditor doctor` to check the PDF "
                              "renderer") from err
    except OutputError:
        try:
            path.unlink(missing_ok=True)  # never an older scan's PDF beside a new report
        except OSError:
            pass
        raise


def import_weasyprint():
    """WeasyPrint with its logs and its import-time warning quiet (it warns where the system's
    HarfBuzz-Subset library is missing, then subsets fonts with fontTools: the PDF is the same,
    a few kB larger). Raises OSError where Pango is missing."""
    import logging
    import warnings

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="HarfBuzz-Subset", category=DeprecationWarning)
        import weasyprint
    for name in ("weasyprint", "fontTools"):
        logging.getLogger(name).setLevel(logging.ERROR)
    return weasyprint


def render_card(results: dict[str, Any], generator, card_dir: Path, n_images: int = 4) -> str:
    """model-card.md: the verdict, the key figures and a small gallery whose PNGs are written
    to ``card_dir`` (referenced by relative path, so the card can be pasted with them)."""
    text = results["generator"].get("modality") == "text"
    rows = _rows(results, generator)[:n_images]
    if not text:
        card_dir.mkdir(parents=True, exist_ok=True)
    for k, row in enumerate(rows):
        for key in ("original", "reconstruction"):
            if row.get(key):
                _write_uri(card_dir / f"{k}-{key}.png", row[key])
                row[key] = f"{card_dir.name}/{k}-{key}.png"
        for j, cell in enumerate(row["cells"]):
            if cell.get("adversary"):
                _write_uri(card_dir / f"{k}-{j}-adversary.png", cell["adversary"])
                cell["adversary"] = f"{card_dir.name}/{k}-{j}-adversary.png"
    template = _environment(autoescape=False).get_template("model-card.md.j2")  # Markdown, not HTML
    return template.render(r=results, rows=rows, columns=gallery_columns(results), text=text,
                           pairs=text and results["data"].get("kind") == "premise-hypothesis pairs",
                           models={m["name"]: m for m in results["models"]},
                           overlap=overlap(results), trust=trust(results),
                           fit=fit_text(results),
                           search_error=search_error_text(results, ranked(results)),
                           consensus=consensus_text(results, ranked(results)))


def _write_uri(path: Path, uri: str) -> None:
    from .files import write_bytes

    write_bytes(path, base64.b64decode(uri.split(",", 1)[1]))


def write_outputs(results: dict[str, Any], generator, out: Path,
                  formats: tuple[str, ...]) -> list[Path]:
    """Write the report files asked for (html -> index.html, md -> model-card.md and its images
    in card/, pdf -> report.pdf, last); results.json is the caller's. Returns the paths; where
    the PDF fails, the others are written and :class:`OutputError` lists them."""
    from .errors import OutputError

    from .faults import fault_point

    written: list[Path] = []
    html = render_html(results, generator) if "html" in formats or "pdf" in formats else None
    fault_point("during-render")
    try:
        if "html" in formats:
            written.append(write_text(out / "index.html", html))
        if "md" in formats:
            card = render_card(results, generator, out / "card")
            written.append(write_text(out / "model-card.md", card))
        if "pdf" in formats:
            written.append(write_pdf(out / "report.pdf", html))
    except OutputError as err:
        raise OutputError(str(err), written) from err.__cause__
    return written


def _fmt(value: Any, digits: int = 2) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def check_generator(results: dict[str, Any], generator) -> None:
    """The report decodes stored latents: only the scan's own generator may do it."""
    from .errors import ResultsError

    from .generators import weights_id

    expected = results["generator"].get("weights_sha256")
    if expected and weights_id(generator.manifest) != expected:
        raise ResultsError(
            f"generator {generator.name!r} is not the one these results were scanned with (its "
            "weights differ); pass --generator with the scan's generator bundle"
        )


def _dz(value: float | None) -> str:
    """dz with two decimals, or three significant digits below 0.1 (never a bare 0.00)."""
    if value is None:
        return "–"
    return f"{value:.2f}" if value >= 0.1 else f"{value:.2g}"


def write_text(path: Path, text: str) -> Path:
    """Write atomically: a reader never sees half a report (see :mod:`auditor.files`)."""
    from .files import write_text as atomic_text

    return atomic_text(path, text)
