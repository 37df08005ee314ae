"""`auditor generators`: the table of bundled generators (and given bundle folders), read from
their manifests."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from ..errors import AuditorError
from .common import fail, out_console

COLUMNS = ("name", "family", "domain (C×H×W)", "latent", "trained on", "reconstruction MSE",
           "label preservation", "reference classifier", "validated: read as accuracy")


def generators(
    extra: Annotated[Optional[list[Path]], typer.Argument(
        help="Bundle folders to list beside the bundled ones.")] = None,
) -> None:
    """List the bundled generators (and given bundle folders): domain, latent size, quality."""
    from rich.table import Table

    from ..generators import bundled_names, read_manifest, resolve

    try:
        bundles = [resolve(n) for n in bundled_names()] + [resolve(str(p)) for p in extra or []]
        table = Table(title="Generators", title_justify="left")
        for col in COLUMNS:
            table.add_column(col)
        for bundle in bundles:
            m = read_manifest(bundle)
            table.add_row(
                m["name"] if bundle.parent.name == "generators" else str(bundle),
                m["family"].removeprefix("vae-"),
                *(_text_columns(m) if "image_shape" not in m else _image_columns(m)),
                _reference(m.get("reference_classifier")), _validated(m.get("validation")),
            )
    except AuditorError as err:
        fail(err)
    out_console.print(table)


def _image_columns(m: dict[str, Any]) -> tuple[str, ...]:
    """An image bundle's row: its domain, latent size, data and reconstruction quality."""
    pres = m.get("quality", {}).get("label_preservation")
    if pres is None:
        preservation = "–"
    elif m.get("decoding", "plain") == "plain":
        preservation = f"{100 * pres['raw']:.1f}% raw, {100 * pres['refined']:.1f}% refined"
    else:
        preservation = (f"100% ({m['decoding']} decoding; plain decode "
                        f"{100 * pres['refined']:.1f}%)")
    return ("×".join(map(str, m["image_shape"])), str(m["latent_dim"]),
            f"{m.get('training', {}).get('n_images', '?')} images",
            f"{m.get('reference', {}).get('recon_mse_mean', float('nan')):.4f}", preservation)


def _text_columns(m: dict[str, Any]) -> tuple[str, ...]:
    """A text bundle's row: its domain, latent size, data and reconstruction quality."""
    q = m.get("quality", {})
    exact, tokens = q.get("exact_match"), q.get("token_accuracy")
    return (f"text ({m.get('texts', 'sentences, pairs')})", str(m["latent_dim"]),
            f"{m.get('training', {}).get('counts', {}).get('train_sentences', '?')} sentences",
            "–" if exact is None else
            f"{100 * exact:.0f}% exact, {100 * (tokens or 0):.0f}% of words",
            f"100% ({m.get('decoding', 'edit-preserving')} decoding)")


def _reference(ref: dict[str, Any] | None) -> str:
    """The reference classifier column: its classes and accuracy, where it was measured."""
    if not ref:
        return "none"
    if "accuracy" not in ref:
        return "yes"
    return (f"{len(ref['class_names'])} classes, accuracy {100 * ref['accuracy']:.1f}% on "
            f"{ref['n_images']}")


def _validated(record: dict[str, Any] | None) -> str:
    """The validation column: the figure to read as accuracy and its ρ, where validated."""
    if not record:
        return "not validated"
    from ..summary_sentences import FIGURE_NAMES, format_rho
    from ..accuracy_figures import chosen_figure

    chosen = chosen_figure(record)
    rho = (record.get("spearman_test") or {}).get(chosen)
    if rho is None:
        return "?"
    return (f"{FIGURE_NAMES.get(chosen, chosen)} (ρ {format_rho(rho)}, "
            f"{record.get('n_models')} models)")
