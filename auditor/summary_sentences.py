"""The sentences and tie displays of a scan's summary, shared by the HTML report, the model
card, the notebook view and the terminal: how far to trust the figures, the search error, the
consensus estimate, which models are tied. Each takes the results.json document; none prints.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .domains import of_results
from .gallery import ranked

# below this, models of similar quality are rarely separated (docs/paper-reproduction.md)
FEW_IMAGES = 1000
# letters per model, letters in all: beyond either, ties are listed by rank
COMPACT_LETTERS = (4, 10)

FIGURE_NAMES = {
    "mean_dz": "mean Δz", "median_dz": "median Δz",
    "mean_error_distance": "mean distance to the nearest natural error",
    "median_error_distance": "median distance to the nearest natural error",
    "agreement_with_reference": "agreement with the reference classifier",
    "confidence": "max-softmax confidence", "majority_agreement": "majority-vote agreement",
    "nuclear_norm": "softmax nuclear norm",
    "consensus_accuracy": "consensus accuracy estimate (Dawid-Skene)",
    "dawid_skene": "Dawid-Skene over the validation zoo", "softmax_corr": "SoftmaxCorr",
    "cot": "COT",
}


def fit_text(results: dict[str, Any]) -> str | None:
    """Where most inputs lie outside the generator's domain (its fit check, issue 42): what the
    figures then mean, the sentence the report's verdict, the model card and the terminal
    summary open with; None otherwise."""
    fit = results.get("generator_fit") or {}
    if not fit.get("most_outside"):
        return None
    generator = results["generator"]
    unit = results["data"].get("kind", "images")
    advice = f"; scan with a generator trained on such {unit} (auditor train-generator)"
    auto = ("; --generator auto found no bundled generator that fits them, and this one is the "
            "least bad" if generator.get("none_fits") else "")
    return (f"{100 * fit['share_outside']:.0f}% of these {unit} lie outside generator "
            f"{generator['name']}'s domain{auto}: Δz, the agreement with its reference classifier, "
            "the natural errors and the ranking then describe how the generator and its "
            f"classifier treat {unit} they were not made for, not the models' robustness or "
            f"accuracy{advice}")


def format_rho(value: float | None) -> str:
    """A Spearman rho with two decimals, three where two would round up to 1.00; "–" for None."""
    if value is None:
        return "–"
    return f"{value:.3f}" if 0.995 <= value < 1 else f"{value:.2f}"


def consensus_text(res: dict[str, Any], order: list[str], note: bool = True) -> str | None:
    """One paragraph: each model's consensus accuracy estimate and what it assumes; then (``note``),
    where it rates models above the reference classifier's own accuracy, a sentence naming them."""
    if not res.get("consensus"):
        return None
    by_name = {m["name"]: m for m in res["models"]}
    est = {n: by_name[n].get("consensus_accuracy") for n in order}
    by_estimate = sorted(est.items(), key=lambda kv: -(kv[1] or 0))
    figures = ", ".join(f"{n} {100 * v:.0f}%" for n, v in by_estimate if v is not None)
    text = f"consensus accuracy estimate: {figures} ({res['consensus']['assumption']})"
    return text + (f". {under}" if note and (under := underrated_text(res)) else "")


def underrated_text(res: dict[str, Any]) -> str | None:
    """Which models' consensus estimates exceed R's recorded accuracy: R's figures under-rate
    them."""
    ref = res["generator"].get("reference_classifier") or {}
    r_acc = ref.get("accuracy")
    above = [m["name"] for m in res["models"]
             if r_acc is not None and m.get("consensus_accuracy") is not None
             and m["consensus_accuracy"] > r_acc and m["name"] in (ref.get("models") or [])]
    if not above:
        return None
    return (f"{', '.join(above)}: estimated above the reference classifier's own accuracy "
            f"({100 * r_acc:.1f}%), so R's figures (agreement, error distance) may under-rate "
            f"{'it' if len(above) == 1 else 'them'}; but where models share mistakes the "
            "consensus itself over-rates them")


def trust(results: dict[str, Any]) -> dict[str, Any]:
    """What the generator's validation record says about reading the scan's figures as accuracy:
    {"validated": bool, "read_as_accuracy": figure or None, "rho": {figure: ρ}, "text": one
    paragraph}."""
    gen = results["generator"]
    v = gen.get("validation")
    if not v:
        return {"validated": False, "read_as_accuracy": None, "rho": {}, "proxy": None, "text": (
            f"generator {gen['name']} has no validation record (as generators you train or import "
            "have none): Δz is a robustness figure, and whether any figure here ranks models by "
            "accuracy on this domain is unmeasured; measure it on a small labelled set before "
            "reading it as accuracy")}
    from .accuracy_figures import chosen_figure

    rho = v.get("spearman_test", {})
    chosen = chosen_figure(v)
    parts = ", ".join(f"{FIGURE_NAMES.get(k, k)} {format_rho(rho[k])}" for k in rho
                      if k in FIGURE_NAMES and rho[k] is not None)
    n = v.get("n_images", {})
    text = (f"on generator {gen['name']}'s validation ({v.get('n_models')} models, "
            f"{n.get('test', '?')} held-out "
            f"{of_results(results).unit} "
            f"not used to choose), Spearman ρ with accuracy: {parts}. Read "
            f"{FIGURE_NAMES.get(chosen, chosen)} as the accuracy proxy "
            f"(ρ {format_rho(rho.get(chosen))})")
    weak_dz = min(rho.get("mean_dz") or 0, rho.get("median_dz") or 0) < 0.7
    if chosen not in ("mean_dz", "median_dz") and weak_dz:
        text += "; Δz measures robustness, not accuracy, on this domain"
    return {"validated": True, "read_as_accuracy": chosen, "rho": rho, "text": text,
            "label": FIGURE_NAMES.get(chosen, chosen),
            "proxy": accuracy_proxy(results, chosen, rho.get(chosen), weak_dz=weak_dz)}


def proxy_value(model: dict[str, Any], figure: str) -> float | None:
    """A model's value of a validated figure, from its results.json entry (the field
    RESULTS_FIELDS names; of an object, its "mean" or "median")."""
    from .accuracy_figures import RESULTS_FIELDS

    value = model.get(RESULTS_FIELDS.get(figure, figure))
    return value.get(figure.split("_")[0]) if isinstance(value, dict) else value


def accuracy_proxy(results: dict[str, Any], figure: str, rho: float | None,
                   weak_dz: bool = False) -> str | None:
    """What leads a scan's summary, after "read as accuracy: ", where the generator's validation
    reads a figure other than Δz as accuracy: that figure per model, best first (``weak_dz``: and
    a warning that Δz did not track accuracy there). None where Δz is the figure or no model has
    the figure."""
    if figure in ("mean_dz", "median_dz"):
        return None
    values = [(m["name"], proxy_value(m, figure)) for m in results["models"]]
    values = sorted(((n, v) for n, v in values if v is not None), key=lambda nv: -nv[1])
    if not values:
        return None
    share = figure in ("agreement_with_reference", "consensus_accuracy")
    listed = ", ".join(f"{n} {100 * v:.0f}%" if share else f"{n} {v:.2f}" for n, v in values)
    gen = results["generator"]["name"]
    return (f"{FIGURE_NAMES.get(figure, figure)}, {listed} (higher is better; "
            f"on generator {gen}'s validation it ranked models by accuracy with Spearman ρ "
            f"{format_rho(rho)}" + ("; Δz ranks robustness, not accuracy)" if weak_dz else ")"))


def search_error_text(results: dict[str, Any], order: list[str] | None = None) -> str:
    """One line on how far above the best known adversary the search stops, per model; where it
    ran on fewer than ERROR_IMAGES_MAX inputs, how wide its intervals are."""
    from .search.estimate import BUDGET, ERROR_IMAGES_MAX, long_cost, min_inputs

    record = results.get("search_error")
    n = results["data"]["n_images"]
    unit = results["data"].get("kind", "images")  # or sentences, premise-hypothesis pairs
    modality = results["generator"].get("modality", "image")
    if not record:
        return (f"search error: not estimated on {n} {unit} (by default from "
                f"{min_inputs(modality)} {unit}, within {100 * BUDGET:.0f}% of the scan's "
                f"queries; --search-error 10 estimates it on 10 {unit}, up to "
                f"{long_cost(modality):.0f} times the scan's queries per {unit[:-1]} and "
                "model); how far the default search stops above the best adversary known on "
                "the example inputs: docs/benchmarks.md, \"The default search\"")
    by_name = {m["name"]: m.get("search_error") or {} for m in results["models"]}
    parts, halves = [], []
    for name in order or list(by_name):
        e = by_name.get(name) or {}
        if e.get("gap") is None:
            parts.append(f"{name} –")
            continue
        ci = e.get("gap_ci")
        if ci:
            halves.append((ci[1] - ci[0]) / 2)
        parts.append(f"{name} {100 * e['gap']:+.0f}%"
                     + (f" [{100 * ci[0]:+.0f}%, {100 * ci[1]:+.0f}%]" if ci else ""))
    budget = (f", within {100 * record['budget']:.0f}% of the scan's queries"
              if record.get("budget") else "")
    width = ""
    if record["images"] < ERROR_IMAGES_MAX:
        half = 100 * float(np.mean(halves)) if halves else None
        spread = ("are too few for an interval" if half is None else
                  f"give intervals ±{half:.0f} point{'s' if round(half) != 1 else ''} wide on "
                  "average" + (": read the figures as rough" if half > 3 else ""))
        width = (f"; {record['images']} {unit} {spread}"
                 + (f" (--search-error {ERROR_IMAGES_MAX} runs it on {ERROR_IMAGES_MAX})"
                    if record.get("budget") else ""))
    return (f"search error (Δz above the best adversary a long search finds, on "
            f"{record['images']} of the {unit}{budget}): " + ", ".join(parts) + width
            + "; a difference between two models smaller than theirs may be the search's")


def pair_matrix(results: dict[str, Any]) -> dict[str, Any]:
    """The pairwise sign tests as a matrix in ranking order, for many models: per cell
    "+" (row significantly more robust than column), "-" (less), "" (not significant)."""
    order = ranked(results)
    alpha = results.get("alpha", 0.05)
    index = {n: i for i, n in enumerate(order)}
    cells: list[list[Any]] = [[None] * len(order) for _ in order]
    for p in results.get("pairwise", []):
        i, j = index[p["a"]], index[p["b"]]
        sig = p["p_holm"] is not None and p["p_holm"] < alpha
        for (r, c, mine, theirs) in ((i, j, p["a_larger"], p["b_larger"]),
                                     (j, i, p["b_larger"], p["a_larger"])):
            cells[r][c] = {"sign": ("+" if mine > theirs else "-") if sig else "",
                           "title": f"{order[r]} vs {order[c]}: larger Δz on {mine} vs {theirs} "
                                    f"images, p = {_p(p['p_holm'])} (Holm)"}
    return {"order": order, "cells": cells}


def overlap(results: dict[str, Any]) -> dict[str, Any]:
    """How to show which models are not significantly different: the compact letter display
    where it stays compact, else per model the ranking positions (#) it is tied with."""
    order = ranked(results)
    letters = {m["name"]: m.get("letters") or "" for m in results["models"]}
    distinct = set("".join(letters.values()))
    if (all(letters.values()) and max(map(len, letters.values())) <= COMPACT_LETTERS[0]
            and len(distinct) <= COMPACT_LETTERS[1]):
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
