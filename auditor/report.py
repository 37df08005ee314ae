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

from .assets import asset_dir
from .gallery import ALL_MODELS_UP_TO, gallery_columns, ranked, select_gallery  # noqa: F401
from .illustrations import (SCALE, STRIP_FRAMES, STRIP_IMAGES, attach_originals,  # noqa: F401
                            attach_pixel, attach_strips, candidates, difference_map, gallery_rows,
                            image_from_uri, png_data_uri, strip_rows)


def consensus_text(res: dict[str, Any], order: list[str], note: bool = True) -> str | None:
    """One paragraph: each model's consensus accuracy estimate and what it assumes; then (``note``),
    where it rates models above the reference classifier's own accuracy, a sentence naming them."""
    if not res.get("consensus"):
        return None
    by_name = {m["name"]: m for m in res["models"]}
    est = {n: by_name[n].get("consensus_accuracy") for n in order}
    figures = ", ".join(f"{n} {100 * v:.0f}%" for n, v in sorted(est.items(), key=lambda kv: -(kv[1] or 0))
                        if v is not None)
    text = f"consensus accuracy estimate: {figures} ({res['consensus']['assumption']})"
    return text + (f". {under}" if note and (under := underrated_text(res)) else "")


def underrated_text(res: dict[str, Any]) -> str | None:
    """Which models' consensus estimates exceed R's recorded accuracy: R's figures under-rate them."""
    ref = res["generator"].get("reference_classifier") or {}
    r_acc = ref.get("accuracy")
    above = [m["name"] for m in res["models"] if r_acc is not None and m.get("consensus_accuracy") is not None
             and m["consensus_accuracy"] > r_acc and m["name"] in (ref.get("models") or [])]
    if not above:
        return None
    return (f"{', '.join(above)}: estimated above the reference classifier's own accuracy ({100 * r_acc:.1f}%), so "
            f"R's figures (agreement, error distance) under-rate {'it' if len(above) == 1 else 'them'}")


FIGURE_NAMES = {
    "mean_dz": "mean Δz", "median_dz": "median Δz",
    "mean_error_distance": "mean distance to the nearest natural error",
    "median_error_distance": "median distance to the nearest natural error",
    "agreement_with_reference": "agreement with the reference classifier",
    "confidence": "max-softmax confidence", "majority_agreement": "majority-vote agreement",
    "nuclear_norm": "softmax nuclear norm",
    "consensus_accuracy": "consensus accuracy estimate (Dawid-Skene)",
    "dawid_skene": "Dawid-Skene over the validation zoo", "softmax_corr": "SoftmaxCorr", "cot": "COT",
}


def trust(results: dict[str, Any]) -> dict[str, Any]:
    """What the generator's validation record says about reading the scan's figures as accuracy:
    {"validated": bool, "read_as_accuracy": figure or None, "rho": {figure: ρ}, "text": one paragraph}."""
    gen = results["generator"]
    v = gen.get("validation")
    if not v:
        return {"validated": False, "read_as_accuracy": None, "rho": {}, "text": (
            f"generator {gen['name']} has no validation record (as generators you train or import have none): Δz is a robustness "
            "figure, and whether any figure here ranks models by accuracy on this domain is unmeasured; "
            "measure it on a small labelled set before reading it as accuracy")}
    from .validation import chosen_figure

    rho = v.get("spearman_test", {})
    chosen = chosen_figure(v)
    parts = ", ".join(f"{FIGURE_NAMES.get(k, k)} {_rho(rho[k])}" for k in rho if k in FIGURE_NAMES and rho[k] is not None)
    n = v.get("n_images", {})
    text = (f"on generator {gen['name']}'s validation ({v.get('n_models')} models, {n.get('test', '?')} held-out "
            f"{'texts' if gen.get('modality') == 'text' else 'images'} "
            f"not used to choose), Spearman ρ with accuracy: {parts}. Read {FIGURE_NAMES.get(chosen, chosen)} as the "
            f"accuracy proxy (ρ {_rho(rho.get(chosen))})")
    if chosen not in ("mean_dz", "median_dz") and min(rho.get("mean_dz") or 0, rho.get("median_dz") or 0) < 0.7:
        text += "; Δz measures robustness, not accuracy, on this domain"
    return {"validated": True, "read_as_accuracy": chosen, "rho": rho, "text": text, "label": FIGURE_NAMES.get(chosen, chosen)}


def search_error_text(results: dict[str, Any], order: list[str] | None = None) -> str:
    """One line on how far above the best known adversary the search stops, per model."""
    record = results.get("search_error")
    n = results["data"]["n_images"]
    if not record:
        return (f"search error: not estimated on {n} images (by default from 200 images; --search-error 10 "
                "estimates it on 10 images, about 3,000 more queries per image and model); on the example models "
                "the default search stops 10-40% above the best adversary known (docs/benchmarks.md)")
    by_name = {m["name"]: m.get("search_error") or {} for m in results["models"]}
    parts = []
    for name in order or list(by_name):
        e = by_name.get(name) or {}
        if e.get("gap") is None:
            parts.append(f"{name} –")
            continue
        ci = e.get("gap_ci")
        parts.append(f"{name} {100 * e['gap']:+.0f}%" + (f" [{100 * ci[0]:+.0f}%, {100 * ci[1]:+.0f}%]" if ci else ""))
    budget = f", within {100 * record['budget']:.0f}% of the scan's queries" if record.get("budget") else ""
    return (f"search error (Δz above the best adversary a long search finds, on {record['images']} of the images"
            f"{budget}): "
            + ", ".join(parts) + "; a difference between two models smaller than theirs may be the search's")


def _rho(value: float | None) -> str:
    """A Spearman rho with two decimals, three where two would round up to 1.00."""
    if value is None:
        return "–"
    return f"{value:.3f}" if 0.995 <= value < 1 else f"{value:.2f}"


def pair_matrix(results: dict[str, Any]) -> dict[str, Any]:
    """The pairwise sign tests as a matrix in ranking order, for many models: per cell
    "+" (row significantly more robust than column), "-" (less), "" (not significant)."""
    order = ranked(results)
    alpha = results.get("alpha", 0.05)
    index = {n: i for i, n in enumerate(order)}
    cells = [[None] * len(order) for _ in order]
    for p in results.get("pairwise", []):
        i, j = index[p["a"]], index[p["b"]]
        sig = p["p_holm"] is not None and p["p_holm"] < alpha
        for (r, c, mine, theirs) in ((i, j, p["a_larger"], p["b_larger"]), (j, i, p["b_larger"], p["a_larger"])):
            cells[r][c] = {"sign": ("+" if mine > theirs else "-") if sig else "",
                           "title": f"{order[r]} vs {order[c]}: larger Δz on {mine} vs {theirs} images, "
                                    f"p = {_p(p['p_holm'])} (Holm)"}
    return {"order": order, "cells": cells}


COMPACT_LETTERS = (4, 10)  # letters per model, letters in all: beyond either, ties are listed by rank


def overlap(results: dict[str, Any]) -> dict[str, Any]:
    """How to show which models are not significantly different: the compact letter display
    where it stays compact, else per model the ranking positions (#) it is tied with."""
    order = ranked(results)
    letters = {m["name"]: m.get("letters") or "" for m in results["models"]}
    distinct = set("".join(letters.values()))
    if all(letters.values()) and max(map(len, letters.values())) <= COMPACT_LETTERS[0] and len(distinct) <= COMPACT_LETTERS[1]:
        return {"kind": "letters", "values": letters}
    alpha = results.get("alpha", 0.05)
    tied: dict[str, list[int]] = {n: [] for n in order}
    position = {n: i + 1 for i, n in enumerate(order)}
    for p in results.get("pairwise", []):
        if p["p_holm"] is None or p["p_holm"] >= alpha:
            tied[p["a"]].append(position[p["b"]])
            tied[p["b"]].append(position[p["a"]])
    return {"kind": "ties", "values": {n: _ranges(sorted(v)) for n, v in tied.items()}}


def _ranges(values: list[int]) -> str:
    """[1, 2, 3, 5] -> "#1–3, 5"; [] -> "none"."""
    if not values:
        return "none"
    spans, start = [], values[0]
    for prev, cur in zip(values, values[1:] + [None]):
        if cur != prev + 1:
            spans.append(f"{start}" if start == prev else f"{start}–{prev}")
            start = cur
    return "#" + ", ".join(spans)


def _p(value: float | None) -> str:
    return "–" if value is None else f"{value:.2g}"


FEW_IMAGES = 1000  # below this, models of similar quality are rarely separated (docs/paper-reproduction.md)
def _environment(autoescape: bool = True):
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(asset_dir("templates"))),
        autoescape=autoescape, undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
    )
    env.filters["fmt"] = _fmt
    env.filters["dz"] = _dz
    env.filters["rho"] = _rho
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
        r=results, css=css, rows=_rows(results, generator), columns=gallery_columns(results), text=text,
        pairs=text and results["data"].get("kind") == "premise-hypothesis pairs",
        models={m["name"]: m for m in results["models"]}, order=ranked(results), many=many,
        matrix=pair_matrix(results) if many else None, all_models_up_to=ALL_MODELS_UP_TO, overlap=overlap(results),
        ecdf=svg_data_uri(svg) if svg else None,
        flows={n: plots.class_flow(results, n) for n in ranked(results)},
        strips=_strips(results, generator), few_images=FEW_IMAGES, trust=trust(results),
        search_error=search_error_text(results, ranked(results)), consensus=consensus_text(results, ranked(results)),
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
        r=results, rows=rows, columns=gallery_columns(results), models={m["name"]: m for m in results["models"]},
        order=ranked(results), many=len(results["models"]) > ALL_MODELS_UP_TO, overlap=overlap(results),
        few_images=FEW_IMAGES, trust=trust(results), notebook=True, search_error=search_error_text(results, ranked(results)),
        consensus=consensus_text(results, ranked(results)), text=text,
        pairs=text and results["data"].get("kind") == "premise-hypothesis pairs",
    )


def svg_data_uri(svg: str) -> str:
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode()


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
            raise OutputError(f"report.pdf could not be rendered ({type(err).__name__}: {first_line(err, 160)}); "
                              "run `auditor doctor` to check the PDF renderer") from err
        try:
            return atomic_write(path, document.write_pdf, binary=True)
        except OutputError:
            raise
        except Exception as err:  # the writer's own errors (font subsetting, ...)
            raise OutputError(f"report.pdf could not be written ({type(err).__name__}: {first_line(err, 160)}); "
                              "run `auditor doctor` to check the PDF renderer") from err
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
                           models={m["name"]: m for m in results["models"]}, overlap=overlap(results), trust=trust(results),
                           search_error=search_error_text(results, ranked(results)),
                           consensus=consensus_text(results, ranked(results)))


def _write_uri(path: Path, uri: str) -> None:
    from .files import write_bytes

    write_bytes(path, base64.b64decode(uri.split(",", 1)[1]))


FORMATS = ("html", "pdf", "md", "json")


def parse_formats(text: str) -> tuple[str, ...]:
    from .errors import OptionError

    wanted = tuple(dict.fromkeys(f.strip().lower() for f in text.split(",") if f.strip()))
    unknown = [f for f in wanted if f not in FORMATS]
    if unknown or not wanted:
        raise OptionError(f"--format takes a comma-separated list of {', '.join(FORMATS)}; got {text!r}")
    return wanted


def write_outputs(results: dict[str, Any], generator, out: Path, formats: tuple[str, ...]) -> list[Path]:
    """Write the report files asked for (html -> index.html, md -> model-card.md and its images
    in card/, pdf -> report.pdf, last); results.json is the caller's. Returns the paths; where
    the PDF fails, the others are written and :class:`OutputError` lists them."""
    from .errors import OutputError

    from .files import fault_point

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
            f"generator {generator.name!r} is not the one these results were scanned with (its weights "
            "differ); pass --generator with the scan's generator bundle"
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
