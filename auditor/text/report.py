"""The report's text views: gallery rows (premise, hypothesis, and per model the adversary with
its changed words marked) and interpolation strips as sentences, read from results.json alone."""

from __future__ import annotations

from typing import Any


def label_name(results: dict[str, Any], model: str, k: int | None) -> str:
    """A label id as the model's class name where it has one (SNLI's names for pair models)."""
    if k is None or k < 0:
        return "–"
    names = (next((m.get("class_names") for m in results["models"] if m["name"] == model), None)
             or [])
    return str(names[k]) if k < len(names) else str(k)


def _split(inst: dict[str, Any]) -> tuple[str | None, str]:
    text = inst["text"]
    return (text[0], text[1]) if isinstance(text, list) else (None, text)


def gallery_rows(results: dict[str, Any]) -> list[dict[str, Any]]:
    from ..gallery import _column_models, _semantics, gallery_columns, select_gallery
    from .edits import changed_words

    columns = gallery_columns(results)
    n = results.get("report", {}).get("gallery", 0)
    rows = []
    for index, reason in select_gallery(results, n, results["search"].get("seed", 0)):
        inst = results["instances"][index]
        if "text" not in inst:
            continue
        premise, sentence = _split(inst)
        cells = []
        for name in _column_models(results, inst, columns):
            r = inst["results"][name]
            cell = {"model": name, "prediction": label_name(results, name, r["prediction"]),
                    "adversary_prediction": label_name(results, name, r["adversary_prediction"]),
                    "delta_z": r["delta_z"], "censored": r["censored"],
                    "changed": r["reconstruction_changed_label"],
                    "semantics": _semantics(inst, r)}
            if r.get("adversary") is not None:
                cell["words"] = changed_words(sentence, r["adversary"])
                cell["adversary_text"] = r["adversary"]
            cells.append(cell)
        rows.append({"file": inst["file"], "reason": reason, "premise": premise,
                     "sentence": sentence, "cells": cells})
    return rows


def strip_rows(results: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for strip in results.get("report", {}).get("strips", []):
        if "sentences" not in strip:
            continue
        inst = results["instances"][strip["index"]]
        r = inst["results"][strip["model"]]
        premise, _ = _split(inst)
        frames, last = [], None
        for sentence, label, t in zip(strip["sentences"], strip["labels"], strip["t"]):
            if sentence == last:  # greedy decodes repeat along the segment: show each sentence once
                continue
            last = sentence
            frames.append({"sentence": sentence,
                           "label": label_name(results, strip["model"], label), "t": t,
                           "flipped": label != r["prediction"]})
        rows.append({"file": inst["file"], "model": strip["model"], "delta_z": r["delta_z"],
                     "premise": premise, "frames": frames})
    return rows
