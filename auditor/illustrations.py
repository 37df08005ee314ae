"""The report's pictures, drawn from results.json and the generator: inline PNGs, the candidate
images of stored latents (by the scan's decoding rule), difference maps, the gallery's rows and
the interpolation strips (whose labels a scan attaches to results.json while it has the models)."""

from __future__ import annotations

import base64
import io
from typing import Any

import numpy as np

from .gallery import _column_models, _semantics, gallery_columns, select_gallery

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


def image_from_uri(uri: str, scale: int = SCALE) -> np.ndarray:
    """The inverse of :func:`png_data_uri`: (C, H, W) float32 in [0, 1] (exact for 8-bit images)."""
    from PIL import Image

    img = np.asarray(Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1]))))[::scale, ::scale]
    chw = img[None] if img.ndim == 2 else img[..., :3].transpose(2, 0, 1)
    return (chw.astype(np.float32) / 255.0).copy()


def candidates(generator, inst: dict[str, Any], z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(reconstruction, candidate images of latents ``z``) of one instance, by the generator's
    decoding rule (the detail-preserving rule needs the original, stored as the instance's PNG)."""
    z0 = np.asarray(inst["z0"], dtype=np.float32)[None]
    base = generator.decode(z0)
    if generator.decoding == "plain":
        return base[0], generator.decode(z)
    x = image_from_uri(inst["image_png"])[None]
    return x[0], generator.render(z, np.repeat(x, len(z), 0), np.repeat(base, len(z), 0))


def difference_map(adversary: np.ndarray, reference: np.ndarray, scaled: bool = False) -> np.ndarray:
    """Blue where the adversary added ink, red where it removed it, white where equal.

    (C, H, W) in [0, 1] -> (H, W, 3) uint8; colour images use the channel mean. ``scaled``: the
    largest change shows at full colour (a photo's natural change is often a few percent).
    """
    d = (adversary - reference).mean(axis=0)
    if scaled and np.abs(d).max() > 0:
        d = d / np.abs(d).max()
    pos, neg = np.clip(d, 0, 1), np.clip(-d, 0, 1)
    rgb = np.stack([1 - pos, 1 - pos - neg, 1 - neg], axis=-1)
    return (np.clip(rgb, 0, 1) * 255).round().astype(np.uint8)


def attach_originals(results: dict[str, Any], images: np.ndarray, n: int) -> None:
    """Store the gallery's original images in results.json (PNG data URIs), so that the
    report can be drawn again from the file alone. ``images`` is (N, C, H, W)."""
    results["report"] = {"gallery": n}
    for index, _ in select_gallery(results, n, results["search"].get("seed", 0)):
        results["instances"][index]["image_png"] = png_data_uri(images[index])


def attach_pixel(results: dict[str, Any], pixel, images: np.ndarray) -> None:
    """Store the gallery images' pixel adversaries (and their differences to the original) in
    results.json, beside the natural ones, for the models the gallery shows."""
    for index, _ in select_gallery(results, results.get("report", {}).get("gallery", 0), results["search"].get("seed", 0)):
        inst = results["instances"][index]
        for name in set(_column_models(results, inst, gallery_columns(results))):
            adv = pixel.results[name].adversary[index]
            if not np.isnan(adv).any():
                inst["results"][name]["pixel_png"] = png_data_uri(adv)
                inst["results"][name]["pixel_difference_png"] = png_data_uri(difference_map(adv, images[index]))


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
                    "adversary_prediction": r["adversary_prediction"], "semantics": _semantics(inst, r),
                    "prediction_name": _name(names[name], r["prediction"]),
                    "adversary_name": _name(names[name], r["adversary_prediction"])}
            if r.get("z_star") is not None:
                adv = candidates(generator, inst, np.asarray(r["z_star"], dtype=np.float32)[None])[1][0]
                cell["adversary"] = png_data_uri(adv)
                cell["difference"] = png_data_uri(difference_map(adv, recon, scaled=generator.decoding != "plain"))
            if "pixel_eps" in r:
                cell["pixel"] = {"adversary": r.get("pixel_png"), "difference": r.get("pixel_difference_png"),
                                 "eps": r["pixel_eps"], "prediction": r.get("pixel_adversary_prediction"),
                                 "prediction_name": _name(names[name], r.get("pixel_adversary_prediction")),
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
    picks = [i for i, _ in select_gallery(results, n, results["search"].get("seed", 0))][:STRIP_IMAGES]
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
            frames = candidates(generator, inst, z0[None] + t[:, None].astype(np.float32) * (z1 - z0)[None])[1]
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
                        "flipped": lab != r["prediction"]} for f, lab, tv in zip(frames, labels, t)],
        })
    return rows


def class_names(results: dict[str, Any]) -> dict[str, list[str] | None]:
    """Per model the names of its classes: its own (read from the model), else those of the
    generator's reference classifier where R's figures apply to it (same classes); else None."""
    ref = results["generator"].get("reference_classifier") or {}
    judged = set(ref.get("models") or [])
    return {m["name"]: m.get("class_names") or (ref.get("class_names") if m["name"] in judged else None)
            for m in results["models"]}


def _name(names: list[str] | None, label: int | None) -> str:
    """A label as the report shows it: its class name where known (with the index), else the
    index."""
    if label is None:
        return "–"
    if names and 0 <= label < len(names) and str(names[label]) != str(label):
        return f"{names[label]} ({label})"
    return str(label)
