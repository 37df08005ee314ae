"""The image domain's parts of results.json and of the report: the gallery's originals, the
strips' labels and the pixel adversaries stored in results.json by the pipeline (they need the
images and the models), and the gallery and strip rows the report draws from results.json (the
adversaries and interpolation frames decoded again from the stored latents)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..gallery import (base_cell, class_names, column_models, gallery_columns, gallery_instances,
                       label_name, select_gallery, strip_picks, strip_times)
from ..pictures import difference_map, image_from_uri, png_data_uri

STRIP_IMAGES = 3  # gallery images that get strips


def candidates(generator, inst: dict[str, Any], z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(reconstruction, candidate images of latents ``z``) of one instance, by the generator's
    decoding rule (the detail-preserving rule needs the original, stored as the instance's PNG)."""
    z0 = np.asarray(inst["z0"], dtype=np.float32)[None]
    base = generator.decode(z0)
    if generator.decoding == "plain":
        return base[0], generator.decode(z)
    x = image_from_uri(inst["image_png"])[None]
    return x[0], generator.render(z, np.repeat(x, len(z), 0), np.repeat(base, len(z), 0))


def _path(inst: dict[str, Any], r: dict[str, Any], t: np.ndarray) -> np.ndarray:
    z0, z1 = np.asarray(inst["z0"], np.float32), np.asarray(r["z_star"], np.float32)
    return z0[None] + t[:, None] * (z1 - z0)[None]


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
        for name in set(column_models(results, inst, gallery_columns(results))):
            adv = pixel.results[name].adversary[index]
            if not np.isnan(adv).any():
                inst["results"][name]["pixel_png"] = png_data_uri(adv)
                difference = difference_map(adv, images[index])
                inst["results"][name]["pixel_difference_png"] = png_data_uri(difference)


def attach_strips(results: dict[str, Any], generator, classifiers) -> None:
    """Interpolation strips for the first gallery images: per model of the gallery's columns,
    the labels of G(z0 + t (z* - z0)) at evenly spaced t, stored in results.json (the report
    decodes the frames again from z0 and z*; the labels need the models, so they are kept)."""
    by_name = {clf.name: clf for clf in classifiers}
    t = strip_times()
    strips = []
    for index, name in strip_picks(results, STRIP_IMAGES):
        inst = results["instances"][index]
        frames = candidates(generator, inst, _path(inst, inst["results"][name], t))[1]
        strips.append({"index": index, "model": name, "t": [round(float(v), 4) for v in t],
                       "labels": [int(v) for v in by_name[name].predict(frames)]})
    results.setdefault("report", {})["strips"] = strips


def _cell(generator, inst: dict[str, Any], name: str, names, recon) -> dict[str, Any]:
    r = inst["results"][name]
    cell = base_cell(inst, name) | {
        "prediction": r["prediction"], "adversary_prediction": r["adversary_prediction"],
        "prediction_name": label_name(names, r["prediction"]),
        "adversary_name": label_name(names, r["adversary_prediction"])}
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
                         "prediction_name": label_name(names,
                                                       r.get("pixel_adversary_prediction")),
                         "out_of_domain": r.get("pixel_out_of_domain")}
    return cell


def gallery_rows(results: dict[str, Any], generator) -> list[dict[str, Any]]:
    """Rows for the gallery template: original, reconstruction, and per column (see
    :func:`~auditor.gallery.gallery_columns`) the model's adversary."""
    columns, names, rows = gallery_columns(results), class_names(results), []
    for inst, reason in gallery_instances(results):
        if inst.get("z0") is None:
            continue
        recon = candidates(generator, inst, np.zeros((0, generator.latent_dim), np.float32))[0]
        cells = [_cell(generator, inst, name, names[name], recon)
                 for name in column_models(results, inst, columns)]
        rows.append({"file": inst["file"], "reason": reason, "original": inst.get("image_png"),
                     "reconstruction": png_data_uri(recon), "cells": cells})
    return rows


def strip_rows(results: dict[str, Any], generator) -> list[dict[str, Any]]:
    """Frames and labels of the stored interpolation strips, for the template."""
    rows = []
    for strip in results.get("report", {}).get("strips", []):
        inst = results["instances"][strip["index"]]
        r = inst["results"][strip["model"]]
        t = np.asarray(strip["t"], np.float32)
        frames = candidates(generator, inst, _path(inst, r, t))[1]
        labels = strip["labels"]
        rows.append({
            "file": inst["file"], "model": strip["model"], "delta_z": r["delta_z"],
            "frames": [{"image": png_data_uri(f, 2), "label": lab, "t": float(tv),
                        "flipped": lab != r["prediction"]}
                       for f, lab, tv in zip(frames, labels, t)],
        })
    return rows
