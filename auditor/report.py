"""The reports: a self-contained HTML page (CSS, images and chart inline, no network fetch),
the same paginated as a PDF, and a Markdown section for model cards.

Drawn from results.json alone and the generator (adversaries and interpolation frames are
decoded from the stored latents): the pipeline completes results.json before any renderer runs,
and the rows of each input domain come from the domain (auditor/domains/). Nothing here runs a
model or changes the results.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

from .assets import asset_dir
from .domains import of_results
from .formats import FORMATS, parse_formats  # noqa: F401  (their home: auditor/formats.py)
from .gallery import ALL_MODELS_UP_TO, gallery_columns, ranked
from .pictures import svg_data_uri
from .summary_sentences import (
    FEW_IMAGES, consensus_text, fit_text, format_rho, overlap, pair_matrix, search_error_text,
    trust,
)


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
    domain = of_results(results)
    return template.render(
        r=results, css=css, rows=domain.gallery_rows(results, generator),
        columns=gallery_columns(results), **domain.template_flags(results),
        models={m["name"]: m for m in results["models"]}, order=ranked(results), many=many,
        matrix=pair_matrix(results) if many else None, all_models_up_to=ALL_MODELS_UP_TO,
        overlap=overlap(results),
        ecdf=svg_data_uri(svg) if svg else None,
        flows={n: plots.class_flow(results, n) for n in ranked(results)},
        strips=domain.strip_rows(results, generator), few_images=FEW_IMAGES, trust=trust(results),
        fit=fit_text(results),
        search_error=search_error_text(results, ranked(results)),
        consensus=consensus_text(results, ranked(results)),
        scatter=svg_data_uri(scatter) if (scatter := plots.dz_eps_scatter_svg(results)) else None,
        pixel_order=[n for g in (results.get("pixel") or {}).get("ranking", []) for n in g],
    )


NOTEBOOK_GALLERY = 3  # gallery rows an Audit shows in a notebook


def render_notebook(results: dict[str, Any], generator) -> str:
    """An audit as an HTML fragment for Jupyter: the verdict, the summary, a few gallery rows."""
    template = _environment().get_template("notebook.html.j2")
    domain = of_results(results)
    rows = (domain.gallery_rows(results, generator)[:NOTEBOOK_GALLERY] if generator is not None
            else [])
    return template.render(
        r=results, rows=rows, columns=gallery_columns(results),
        models={m["name"]: m for m in results["models"]}, order=ranked(results),
        many=len(results["models"]) > ALL_MODELS_UP_TO, overlap=overlap(results),
        few_images=FEW_IMAGES, trust=trust(results), notebook=True, fit=fit_text(results),
        search_error=search_error_text(results, ranked(results)),
        consensus=consensus_text(results, ranked(results)), **domain.template_flags(results),
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
    domain = of_results(results)
    rows = domain.gallery_rows(results, generator)[:n_images]
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
    return template.render(r=results, rows=rows, columns=gallery_columns(results),
                           **domain.template_flags(results),
                           models={m["name"]: m for m in results["models"]},
                           overlap=overlap(results), trust=trust(results),
                           fit=fit_text(results),
                           search_error=search_error_text(results, ranked(results)),
                           consensus=consensus_text(results, ranked(results)))


def _write_uri(path: Path, uri: str) -> None:
    from .files import write_bytes

    path.parent.mkdir(parents=True, exist_ok=True)
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
