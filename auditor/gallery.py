"""Which inputs and models a report's gallery shows: the selection of instances (most fragile,
most robust, a seeded sample), the model columns, the ranking order and the semantics mark of
each adversary. Shared by the image and the text views; it renders nothing."""

from __future__ import annotations

from typing import Any

import numpy as np


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
    ranked = [int(i) for i in np.argsort(np.where(np.isnan(score), np.inf, score), kind="stable")
              if not np.isnan(score[i])]
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


def gallery_instances(results: dict[str, Any]):
    """(instance, reason it is shown) of the report's gallery, in order (results.json's choice)."""
    n = results.get("report", {}).get("gallery", 0)
    for index, reason in select_gallery(results, n, results["search"].get("seed", 0)):
        yield results["instances"][index], reason


ALL_MODELS_UP_TO = 6  # the gallery, strips and pairwise table show every model up to this many


def ranked(results: dict[str, Any]) -> list[str]:
    """Model names in ranking order (most robust first)."""
    order = [n for group in results.get("ranking") or [] for n in group]
    return order + [m["name"] for m in results["models"] if m["name"] not in order]


def gallery_columns(results: dict[str, Any]) -> list[dict[str, Any]]:
    """The gallery's model columns: every model up to ALL_MODELS_UP_TO, else the models that
    matter: the baseline, the model ranked first, the one ranked last (degenerate models
    aside), and per image the model with the smallest Δz on it ({"model": None})."""
    names = [m["name"] for m in results["models"]]
    if len(names) <= ALL_MODELS_UP_TO:
        return [{"label": n, "model": n} for n in names]
    degenerate = {m["name"] for m in results["models"] if m.get("degenerate")}
    order = [n for n in ranked(results) if n not in degenerate] or ranked(results)
    baseline = (results.get("gate") or {}).get("baseline")
    columns = [{"label": "baseline", "model": baseline}] if baseline else []
    for label, name in (("ranked first", order[0]), ("ranked last", order[-1])):
        if name not in [c["model"] for c in columns]:
            columns.append({"label": label, "model": name})
    columns.append({"label": "most fragile on this image", "model": None})
    return columns


def column_models(results: dict[str, Any], inst: dict[str, Any],
                   columns: list[dict[str, Any]]) -> list[str]:
    """The model of each gallery column for one image (the per-image column resolved)."""
    out = []
    for col in columns:
        name = col["model"]
        if name is None:
            observed = [(r["delta_z"], n) for n, r in inst["results"].items()
                        if r["delta_z"] is not None]
            name = min(observed)[1] if observed else ranked(results)[-1]
        out.append(name)
    return out


def semantics(inst: dict[str, Any], r: dict[str, Any]) -> str | None:
    """The semantics check of one natural adversary: "kept" its class by the reference
    classifier (a natural error), "changed" class, or "disagrees" (f != R on x already)."""
    ref = inst.get("reference_prediction")
    if ref is None:
        return None
    if r["prediction"] != ref:
        return "disagrees"
    adv = r.get("reference_adversary_prediction")
    return None if adv is None else "kept" if adv == ref else "changed"


def base_cell(inst: dict[str, Any], name: str) -> dict[str, Any]:
    """What every gallery cell shows of model ``name``'s result on one input, in every domain."""
    r = inst["results"][name]
    return {"model": name, "delta_z": r["delta_z"], "censored": r["censored"],
            "changed": r["reconstruction_changed_label"], "semantics": semantics(inst, r)}


def class_names(results: dict[str, Any]) -> dict[str, list[str] | None]:
    """Per model the names of its classes: its own (read from the model), else those of the
    generator's reference classifier where R's figures apply to it (same classes); else None."""
    ref = results["generator"].get("reference_classifier") or {}
    judged = set(ref.get("models") or [])
    return {m["name"]: m.get("class_names")
            or (ref.get("class_names") if m["name"] in judged else None)
            for m in results["models"]}


def label_name(names: list[str] | None, label: int | None, index: bool = True) -> str:
    """A label as the report shows it: its class name where known (``index``: with the index),
    else the index; "–" for none."""
    if label is None or label < 0:
        return "–"
    if names and label < len(names) and str(names[label]) != str(label):
        return f"{names[label]} ({label})" if index else str(names[label])
    return str(label)


STRIP_FRAMES = 8  # decoded steps from z0 to z* in an interpolation strip


def strip_picks(results: dict[str, Any], inputs: int) -> list[tuple[int, str]]:
    """(instance index, model) of the interpolation strips: per gallery column's model, the
    first ``inputs`` gallery inputs whose adversary the search stored."""
    n = results.get("report", {}).get("gallery", 0)
    picks = [i for i, _ in select_gallery(results, n, results["search"].get("seed", 0))][:inputs]
    columns = gallery_columns(results)
    out = []
    for index in picks:
        inst = results["instances"][index]
        for name in dict.fromkeys(column_models(results, inst, columns)):
            if inst["results"][name].get("z_star") is not None and inst.get("z0") is not None:
                out.append((index, name))
    return out


def strip_times() -> np.ndarray:
    """The strips' evenly spaced t in [0, 1] (float32, as the latents)."""
    return np.linspace(0.0, 1.0, STRIP_FRAMES).astype(np.float32)
