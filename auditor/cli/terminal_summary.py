"""The terminal summary of a scan: the Δz table, the natural-error and pixel-space tables, the
sign tests and the ranking, printed from an :class:`~auditor.audit.Audit` and its
:class:`~auditor.audit.ModelSummary` objects (the sentences the report shares come from
:mod:`auditor.summary_sentences`)."""

from __future__ import annotations

from typing import Any

from rich.table import Table

from ..audit import Audit
from ..audit_records import Semantics
from ..summary_sentences import (FEW_IMAGES, consensus_text, fit_text, overlap, search_error_text,
                            trust, underrated_text)
from .common import out_console

PAIRS_LISTED = 6  # models up to which every pairwise sign test is printed


def _fmt(v: float | None, digits: int = 2) -> str:
    return "–" if v is None else f"{v:.{digits}f}"


def _pct(v: float | None) -> str:
    return "–" if v is None else f"{100 * v:.0f}%"


def trust_line(res: dict[str, Any]) -> str:
    """How far to trust the scan's figures as accuracy: its generator's validation, one line."""
    return f"how far to trust: {trust(res)['text']}"


def print_summary(audit: Audit) -> None:
    """Everything a finished scan prints: the tables, the sentences, the ranking, the files."""
    res = audit.to_dict()  # the document the report's sentences are drawn from
    order = audit.by_rank
    several = len(audit.names) > 1
    ties = overlap(res) if several else None
    # group letters, where compact; else too wide for a terminal: the report lists the ties
    letters = several and ties["kind"] == "letters"
    if caveat := fit_text(res):
        out_console.print(f"inputs outside the generator's domain: {caveat}", style="yellow",
                          soft_wrap=True, markup=False)
    if proxy := trust(res).get("proxy"):
        out_console.print(f"read as accuracy: {proxy}", soft_wrap=True)
    _print_dz_table(audit, order, ties if letters else None)
    out_console.print(search_error_text(res, order), soft_wrap=True)
    _print_naturalness(audit, order)
    _print_consensus(res, order)
    _print_errors(audit, order)
    _print_pixel(audit)
    out_console.print(trust_line(res), soft_wrap=True)
    if several:
        _print_pairs(audit, letters)
    out_console.print("written: " + " · ".join(str(p) for p in audit.written))


def _print_dz_table(audit: Audit, order: list[str], ties: dict[str, Any] | None) -> None:
    """The main table: Δz per model, in ranking order (with ranks where there are several)."""
    several = len(audit.names) > 1
    table = Table(title="Natural-adversary distance Δz (larger = more robust)",
                  title_justify="left")
    unit = audit.unit.split()[-1]
    columns = ["model", unit, "mean Δz", "median Δz", "censored", "recon. agrees",
               "queries/img"]
    if several:
        columns += ["rank [95% CI]"] + (["group"] if ties else [])
    for col in columns:
        table.add_column(col, justify="left" if col in ("model", "group") else "right")
    models = audit.models
    for name in order:
        m = models[name]
        row = [m.name + (" (degenerate)" if m.degenerate else ""), str(m.n_images),
               _fmt(m.mean_delta_z), _fmt(m.median_delta_z), str(m.n_censored),
               f"{100 * m.reconstruction_agreement:.1f}%", _fmt(m.queries_per_image, 0)]
        if several:
            ci = f" [{m.rank_ci[0]}–{m.rank_ci[1]}]" if m.rank_ci else ""
            row += [f"{m.rank or '–'}" + ci] + ([ties["values"][name]] if ties else [])
        table.add_row(*row)
    out_console.print(table)


def _print_pairs(audit: Audit, letters: bool) -> None:
    """The sign tests (each pair, or how many are significant) and the ranking they give."""
    def pfmt(v):
        return "–" if v is None else f"{v:.2g}"

    alpha, pairs, unit = audit.alpha, audit.pairwise, audit.unit
    if len(audit.names) <= PAIRS_LISTED:
        for p in pairs:
            out_console.print(f"sign test {p.a} vs {p.b}: {p.a_larger} vs {p.b_larger} {unit} "
                              f"larger, {p.ties} ties, p = {pfmt(p.p_value)} (Holm-corrected "
                              f"{pfmt(p.p_holm)})")
    else:
        n_sig = sum(1 for p in pairs if p.p_holm is not None and p.p_holm < alpha)
        out_console.print(f"{len(pairs)} pairwise sign tests, {n_sig} significant at p < "
                          f"{alpha:g} (Holm); each pair's counts and p-values are in the report "
                          "and results.json")
    ranks = " > ".join(" = ".join(g) for g in audit.ranking)
    out_console.print(f"ranking (p < {alpha:g}, Holm): {ranks}")
    across = ("models that share a group letter are not significantly different either"
              if letters else "which models are not significantly different across groups: the "
              "report's summary and matrix")
    out_console.print(f"  '=': not significantly different; {across}; rank intervals: paired "
                      f"bootstrap over {unit}")
    if any(len(g) > 1 for g in audit.ranking) and audit.n_images < FEW_IMAGES:
        out_console.print(f"note: tied models may still differ: {audit.n_images} {unit} "
                          f"separate only large differences; scan {FEW_IMAGES:,} or more to "
                          "compare close versions")


def _print_naturalness(audit: Audit, order: list[str]) -> None:
    """How many natural adversaries lie outside the scanned images' domain, every scan."""
    models = audit.models
    shares = [(n, models[n].natural_out_of_domain) for n in order]
    shares = [(n, v) for n, v in shares if v is not None]
    if shares:
        out_console.print("natural adversaries out of domain (k-NN to the clean images): "
                          + ", ".join(f"{n} {100 * v:.0f}%" for n, v in shares), soft_wrap=True)


def _print_consensus(res: dict[str, Any], order: list[str]) -> None:
    """The label-free consensus estimate of each model's accuracy (three or more models)."""
    if estimate := consensus_text(res, order, note=False):
        out_console.print(estimate, soft_wrap=True)
    if under := underrated_text(res):
        out_console.print(f"note: {under}", soft_wrap=True)


def _print_errors(audit: Audit, order: list[str]) -> None:
    """The natural-error figures, where the generator's reference classifier R was used."""
    ref = audit.reference_classifier
    if ref is None:
        return
    accuracy = "?" if ref.accuracy is None else f"{100 * ref.accuracy:.1f}%"
    table = Table(title=f"Natural errors: judged by {audit.generator_name}'s reference classifier "
                        f"(accuracy {accuracy}; larger distance = fewer natural errors)",
                  title_justify="left")
    for col in ("model", "agrees with R", "error dist. mean", "median", "censored",
                "adversaries: kept class", "changed class", "f ≠ R on x"):
        table.add_column(col, justify="left" if col == "model" else "right")
    models = audit.models
    for name in order:
        m = models[name]
        e, sem = m.error_distance, m.semantics
        agrees = _pct(m.agreement_with_reference)
        if e is None and sem is None:
            table.add_row(name, agrees, "not applicable", "", "", "", "", "")
            continue
        sem = sem or Semantics(None, None, None)
        distance = (["skipped", "", ""] if e is None else
                    [_fmt(e["mean"]), _fmt(e["median"]), str(e["n_censored"])])
        table.add_row(name, agrees, *distance, _pct(sem.kept_class), _pct(sem.changed_class),
                      _pct(sem.disagrees_with_reference))
    out_console.print(table)
    groups = audit.error_ranking
    if len(groups) > 1 or sum(map(len, groups)) > 1:
        ranks = " > ".join(" = ".join(g) for g in groups)
        out_console.print(f"ranking by natural-error distance (p < {audit.alpha:g}, Holm): {ranks}")


def _print_pixel(audit: Audit) -> None:
    """The pixel-space view, where the scan ran a pixel attack."""
    px = audit.pixel
    if px is None:
        return
    paper = f" ({px.paper})" if px.paper else ""
    table = Table(title=f"Pixel-space robustness ε ({px.norm.upper()}, {px.title}{paper}, "
                        f"{px.box} box, {px.queries_budget:,} {px.budget_unit}; larger = more "
                        "robust)",
                  title_justify="left")
    columns = ["model", "median ε", "[95% CI]", "censored", *(f"stable {v:g}" for v in px.levels),
               "ρ(Δz, ε)"]
    for col in columns:
        table.add_column(col, justify="left" if col == "model" else "right")
    second = Table(title="Adversaries: out of domain (k-NN to the clean images, no labels), "
                         "repaired by G(I(·))", title_justify="left")
    for col in ("model", "natural: out of domain", "pixel: out of domain", "repaired: pixel",
                "natural (control)"):
        second.add_column(col, justify="left" if col == "model" else "right")
    models = audit.models
    for name in [n for g in px.ranking for n in g]:
        p = models[name].pixel
        ci = p.median_eps_ci
        table.add_row(name, "–" if p.median_eps is None else f"{p.median_eps:.3f}",
                      f"[{ci[0]:.3f}, {ci[1]:.3f}]" if ci else "", str(p.n_censored),
                      *(_pct(p.stable[f"{v:g}"]) for v in px.levels), _fmt(p.spearman_dz_images))
        second.add_row(name, _pct(p.natural_out_of_domain), _pct(p.pixel_out_of_domain),
                       _pct(p.pixel_repaired), _pct(p.natural_repaired))
    out_console.print(table)
    if any(m.pixel is not None and m.pixel.has_naturalness for m in models.values()):
        out_console.print(second)
    if len(audit.names) > 1:
        out_console.print(f"ranking by ε (p < {audit.alpha:g}, Holm): "
                          + " > ".join(" = ".join(g) for g in px.ranking))
    if px.spearman_dz_models is not None:
        out_console.print("the two views over models: Spearman ρ(mean Δz, mean ε) = "
                          f"{px.spearman_dz_models:.2f}")
