"""The HTML report: one self-contained file (CSS and images inline, no network fetch).

Drawn from results.json and the generator (adversaries are decoded from the stored
latents), plus the original images where the scan still has them in memory.
"""

from __future__ import annotations

import base64
import io
from pathlib import Path
from typing import Any

import numpy as np

from .assets import asset_dir

SCALE = 3  # pixels per image pixel in the gallery


def png_data_uri(image: np.ndarray, scale: int = SCALE) -> str:
    """(C, H, W) in [0, 1] grayscale/RGB, or (H, W, 3) uint8 RGB -> data: URI of a PNG."""
    from PIL import Image

    if image.dtype != np.uint8:
        chw = np.clip(image, 0, 1)
        array = (chw[0] * 255).round().astype(np.uint8) if chw.shape[0] == 1 else (
            chw.transpose(1, 2, 0) * 255
        ).round().astype(np.uint8)
    else:
        array = image
    img = Image.fromarray(array)
    img = img.resize((img.width * scale, img.height * scale), Image.Resampling.NEAREST)
    buf = io.BytesIO()
    img.save(buf, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def difference_map(adversary: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Blue where the adversary added ink, red where it removed it, white where equal.

    (C, H, W) in [0, 1] -> (H, W, 3) uint8; colour images use the channel mean.
    """
    d = (adversary - reference).mean(axis=0)
    pos, neg = np.clip(d, 0, 1), np.clip(-d, 0, 1)
    rgb = np.stack([1 - pos, 1 - pos - neg, 1 - neg], axis=-1)
    return (np.clip(rgb, 0, 1) * 255).round().astype(np.uint8)


def select_gallery(results: dict[str, Any], n: int, seed: int = 0) -> list[tuple[int, str]]:
    """(instance index, reason) for the gallery: the most fragile and most robust images
    (by the smallest dz across models) and a seeded random sample, n in all."""
    instances = results["instances"]
    if n <= 0 or not instances:
        return []
    names = [m["name"] for m in results["models"]]
    score = np.full(len(instances), np.nan)
    for i, inst in enumerate(instances):
        values = [inst["results"][m]["delta_z"] for m in names]
        observed = [v for v in values if v is not None]
        censored = any(inst["results"][m]["censored"] for m in names)
        if observed:
            score[i] = min(observed)
        elif censored:
            score[i] = np.inf
    ranked = [int(i) for i in np.argsort(np.where(np.isnan(score), np.inf, score), kind="stable") if not np.isnan(score[i])]
    k = max(1, n // 3)
    chosen: list[tuple[int, str]] = [(i, "most fragile") for i in ranked[:k]]
    taken = {i for i, _ in chosen}
    for i in reversed(ranked):
        if len(chosen) >= min(n, 2 * k) or len(chosen) >= len(ranked):
            break
        if i not in taken:
            chosen.append((i, "most robust"))
            taken.add(i)
    rest = [i for i in range(len(instances)) if i not in taken]
    rng = np.random.default_rng(seed)
    for i in rng.permutation(rest)[: max(0, n - len(chosen))]:
        chosen.append((int(i), "random"))
    return chosen


def attach_originals(results: dict[str, Any], images: np.ndarray, n: int) -> None:
    """Store the gallery's original images in results.json (PNG data URIs), so that the
    report can be drawn again from the file alone. ``images`` is (N, C, H, W)."""
    results["report"] = {"gallery": n}
    for index, _ in select_gallery(results, n, results["search"].get("seed", 0)):
        results["instances"][index]["image_png"] = png_data_uri(images[index])


def gallery_rows(results: dict[str, Any], generator) -> list[dict[str, Any]]:
    """Rows for the gallery template: original, reconstruction, and per model the adversary."""
    names = [m["name"] for m in results["models"]]
    n = results.get("report", {}).get("gallery", 0)
    picks = select_gallery(results, n, results["search"].get("seed", 0))
    rows = []
    for index, reason in picks:
        inst = results["instances"][index]
        if inst.get("z0") is None:
            continue
        z0 = np.asarray(inst["z0"], dtype=np.float32)
        recon = generator.decode(z0[None])[0]
        cells = []
        for name in names:
            r = inst["results"][name]
            cell = {"model": name, "prediction": r["prediction"], "delta_z": r["delta_z"],
                    "censored": r["censored"], "changed": r["reconstruction_changed_label"],
                    "adversary_prediction": r["adversary_prediction"]}
            if r.get("z_star") is not None:
                adv = generator.decode(np.asarray(r["z_star"], dtype=np.float32)[None])[0]
                cell["adversary"] = png_data_uri(adv)
                cell["difference"] = png_data_uri(difference_map(adv, recon))
            cells.append(cell)
        rows.append({
            "file": inst["file"], "reason": reason,
            "original": inst.get("image_png"),
            "reconstruction": png_data_uri(recon), "cells": cells,
        })
    return rows


def render_html(results: dict[str, Any], generator) -> str:
    """The report of ``results`` (a scan's or one read from results.json) as one HTML page."""
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(asset_dir("templates"))),
        autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
    )
    env.filters["fmt"] = _fmt
    env.filters["dz"] = _dz
    template = env.get_template("report.html.j2")
    css = (asset_dir("templates") / "report.css").read_text()
    return template.render(
        r=results, css=css, rows=gallery_rows(results, generator),
        models={m["name"]: m for m in results["models"]},
    )


def _fmt(value: Any, digits: int = 2) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def check_generator(results: dict[str, Any], generator) -> None:
    """The report decodes stored latents: only the scan's own generator may do it."""
    from .errors import ResultsError

    expected = results["generator"].get("weights_sha256")
    if expected and generator.manifest["files"].get("weights.npz") != expected:
        raise ResultsError(
            f"generator {generator.name!r} is not the one these results were scanned with (its weights "
            "differ); pass --generator with the scan's generator bundle"
        )


def _dz(value: float | None) -> str:
    """dz with two decimals, or three significant digits below 0.1 (never a bare 0.00)."""
    if value is None:
        return "–"
    return f"{value:.2f}" if value >= 0.1 else f"{value:.2g}"


def write_html(path: Path, html: str) -> Path:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(html, encoding="utf-8")
    tmp.replace(path)
    return path
