"""The report's text views: gallery rows (premise, hypothesis, and per model the adversary with
its changed words marked) and interpolation strips as sentences, read from results.json alone."""

from __future__ import annotations

from typing import Any

from ..gallery import (base_cell, class_names, column_models, gallery_columns, gallery_instances,
                       label_name)


def _split(inst: dict[str, Any]) -> tuple[str | None, str]:
    text = inst["text"]
    return (text[0], text[1]) if isinstance(text, list) else (None, text)


def gallery_rows(results: dict[str, Any]) -> list[dict[str, Any]]:
    from .edits import changed_words

    columns, names, rows = gallery_columns(results), class_names(results), []
    for inst, reason in gallery_instances(results):
        if "text" not in inst:
            continue
        premise, sentence = _split(inst)
        cells = []
        for name in column_models(results, inst, columns):
            r = inst["results"][name]
            cell = base_cell(inst, name) | {
                "prediction": label_name(names[name], r["prediction"], index=False),
                "adversary_prediction": label_name(names[name], r["adversary_prediction"],
                                                   index=False)}
            if r.get("adversary") is not None:
                cell["words"] = changed_words(sentence, r["adversary"])
                cell["adversary_text"] = r["adversary"]
            cells.append(cell)
        rows.append({"file": inst["file"], "reason": reason, "premise": premise,
                     "sentence": sentence, "cells": cells})
    return rows


def strip_rows(results: dict[str, Any]) -> list[dict[str, Any]]:
    names = class_names(results)
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
                           "label": label_name(names[strip["model"]], label, index=False),
                           "t": t, "flipped": label != r["prediction"]})
        rows.append({"file": inst["file"], "model": strip["model"], "delta_z": r["delta_z"],
                     "premise": premise, "frames": frames})
    return rows
