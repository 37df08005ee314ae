"""Charts of the report, drawn with matplotlib as SVG text to inline in the HTML and PDF.

Only what results.json holds is drawn, so `auditor report` redraws the same charts.
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np

COLORS = ["#2457c5", "#d1495b", "#00798c", "#edae49", "#66a182", "#8d5a97", "#30323d", "#e07a5f"]


def model_dz(results: dict[str, Any]) -> dict[str, tuple[np.ndarray, int]]:
    """Per model: the observed dz values and the number of censored images."""
    out = {}
    for m in results["models"]:
        values, censored = [], 0
        for inst in results["instances"]:
            r = inst["results"][m["name"]]
            if r["delta_z"] is not None:
                values.append(r["delta_z"])
            elif r["censored"]:
                censored += 1
        out[m["name"]] = (np.sort(np.asarray(values, dtype=float)), censored)
    return out


def dz_ecdf_svg(results: dict[str, Any]) -> str | None:
    """Overlaid empirical CDFs of dz, one line per model, as an SVG document (None when no
    model has a dz). Censored images keep the curve below 1: they lie beyond the cap."""
    data = model_dz(results)
    if not any(len(v) for v, _ in data.values()):
        return None
    import matplotlib

    matplotlib.use("Agg", force=True)
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.4, 3.2))
    ax = fig.add_subplot()
    highlight = _highlighted(results, list(data))
    grey_labelled = False
    for name, (values, censored) in data.items():
        if not len(values):
            continue
        n = len(values) + censored
        y = np.arange(1, len(values) + 1) / n
        x, y = np.concatenate([[0.0], values]), np.concatenate([[0.0], y])
        if name in highlight:
            colour = COLORS[highlight.index(name) % len(COLORS)]
            ax.step(x, y, where="post", color=colour, linewidth=1.8, label=name, zorder=3)
        else:
            label = None if grey_labelled else f"the other {len(data) - len(highlight)} models"
            ax.step(x, y, where="post", color="#9aa3af", linewidth=0.8, alpha=0.7, label=label,
                    zorder=2)
            grey_labelled = True
    ax.set_xlabel("Δz (latent distance to the nearest adversary found)")
    ax.set_ylabel("share of images flipped")
    ax.set_ylim(0, 1.02)
    ax.set_xlim(left=0)
    ax.grid(True, alpha=0.3)
    ax.legend(loc="lower right", frameon=False)
    return _svg(fig, ax)


def _svg(fig, ax) -> str:
    """The figure as SVG text to inline, the top and right spines off."""
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    fig.tight_layout()
    buf = io.StringIO()
    fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None})
    svg = buf.getvalue()
    return svg[svg.index("<svg"):]  # drop the XML prolog and doctype: the SVG is inlined in HTML


HIGHLIGHT_UP_TO = 8  # models drawn in colour; beyond, only the ones that matter are


def _highlighted(results: dict[str, Any], names: list[str]) -> list[str]:
    """Every model up to HIGHLIGHT_UP_TO; else the baseline and the first and last two ranked."""
    if len(names) <= HIGHLIGHT_UP_TO:
        return names
    order = [n for group in results.get("ranking") or [] for n in group] or names
    baseline = (results.get("gate") or {}).get("baseline")
    return list(dict.fromkeys([b for b in [baseline] if b] + order[:2] + order[-2:]))


def class_flow(results: dict[str, Any], name: str) -> dict[str, Any]:
    """How often model ``name``'s prediction a was flipped to b by its nearest adversary:
    {"classes": [...], "counts": [[...]], "max": int} over the classes that occur."""
    pairs = []
    for inst in results["instances"]:
        r = inst["results"][name]
        if r["adversary_prediction"] is not None:
            pairs.append((r["prediction"], r["adversary_prediction"]))
    classes = sorted({c for pair in pairs for c in pair})
    index = {c: i for i, c in enumerate(classes)}
    counts = np.zeros((len(classes), len(classes)), dtype=int)
    for a, b in pairs:
        counts[index[a], index[b]] += 1
    return {"classes": classes, "counts": counts.tolist(), "max": int(counts.max()) if pairs else 0}


def dz_eps_scatter_svg(results: dict[str, Any]) -> str | None:
    """Per image and model, Δz (natural view) against ε (pixel view), one colour per highlighted
    model, log-scaled ε; censored points on the axes' caps. None without pixel results."""
    pixel = results.get("pixel")
    if not pixel:
        return None
    import matplotlib

    matplotlib.use("Agg", force=True)
    from matplotlib.figure import Figure

    names = [m["name"] for m in results["models"]]
    highlight = _highlighted(results, names)
    cap_dz, cap_eps = float(results["search"]["max_radius"]), float(pixel["max_eps"])
    fig = Figure(figsize=(6.4, 3.4))
    ax = fig.add_subplot()
    drawn = False
    for name in names:
        points = []
        for inst in results["instances"]:
            r = inst["results"][name]
            if "pixel_eps" not in r or r["reconstruction_changed_label"]:
                continue
            dz = cap_dz if r["censored"] else r["delta_z"]
            eps = cap_eps if r["pixel_eps"] is None else r["pixel_eps"]
            if dz is not None:
                points.append((dz, max(eps, 1e-4)))
        if not points:
            continue
        x, y = np.asarray(points).T
        drawn = True
        if name in highlight:
            ax.scatter(x, y, s=10, color=COLORS[highlight.index(name) % len(COLORS)], label=name,
                       alpha=0.8, zorder=3)
        else:
            ax.scatter(x, y, s=6, color="#9aa3af", alpha=0.5, zorder=2)
    if not drawn:
        return None
    ax.set_yscale("log")
    from matplotlib.ticker import LogFormatter

    # 0.4, 1, 10 rather than 4×10⁻¹, 10⁰, 10¹; matplotlib still picks which ticks to label
    class Plain(LogFormatter):
        def _num_to_string(self, x, vmin, vmax):
            return f"{x:g}"

    ax.yaxis.set_major_formatter(Plain(labelOnlyBase=False))
    ax.yaxis.set_minor_formatter(Plain(labelOnlyBase=False, minor_thresholds=(2, 0.5)))
    ax.set_xlabel("Δz (natural: latent distance)")
    ax.set_ylabel(f"ε (pixels: {pixel['norm'].upper()} distance)")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="best", frameon=False, fontsize=8)
    return _svg(fig, ax)
