"""Issue 41's check of `train-generator` for text, on pairs it never saw: scan a zoo with a bundle
trained by `auditor train-generator`, check every stored adversary against its model, and measure
the Spearman rho with accuracy of the figure the bundle's own `validate-generator` chose (and of
every other product figure, for comparison).

    OMP_NUM_THREADS=1 python bench/own_text.py BUNDLE ZOO_DIR PAIRS.tsv --rows 1000:1200 [--out DIR]

PAIRS.tsv must carry a label column; only the rows given (never those validate-generator used)
are scanned, with a default scan (``--no-scan``: judge OUT's finished scan again). The chosen
figure is read from the bundle's manifest after the scan, so a validation may run beside it. An
adversary whose model gives two classes exactly the same top score (tree ensembles' vote shares)
has no one label: ONNX Runtime breaks such ties differently in a batch than alone, so those are
counted apart (``adversaries_tied``) from the ones labelled otherwise. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def figure_value(entry: dict, figure: str, fields: dict) -> float | None:
    """One model's value of a product figure in a results.json ``models`` entry."""
    field = entry.get(fields[figure])
    if isinstance(field, dict):
        field = field.get("median" if figure.startswith("median") else "mean")
    return None if field is None else float(field)


def tied(session, x: np.ndarray) -> bool:
    """Whether the model's two highest scores for the one text ``x`` are equal (no one label)."""
    outputs = session.run(None, {session.get_inputs()[0].name: x})
    if len(outputs) < 2:
        return False
    scores = outputs[1][0]
    top = sorted(scores.values() if isinstance(scores, dict) else np.ravel(scores))[-2:]
    return len(top) == 2 and abs(top[1] - top[0]) < 1e-6


def check_adversaries(session, names: list[str], instances: list[dict],
                      model: str) -> tuple[int, int, int]:
    """(adversaries checked, those whose text the model labels otherwise than recorded, those of
    them at an exact tie of the model's top scores)."""
    checked = wrong = ties = 0
    for inst in instances:
        r = inst["results"][model]
        if r.get("adversary") is not None:
            x = np.array([[inst["text"][0], r["adversary"]]], dtype=object)
            got = names.index(str(session.run(None, {session.get_inputs()[0].name: x})[0][0]))
            checked += 1
            if got != r["adversary_prediction"] or got == r["prediction"]:
                wrong += 1
                ties += tied(session, x)
    return checked, wrong, ties


def main() -> None:
    import time

    import onnxruntime as ort

    import auditor
    from auditor.text.data import load_labelled
    from auditor.accuracy_figures import FIGURES, RESULTS_FIELDS, chosen_figure, rank_corr

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("bundle")
    ap.add_argument("zoo")
    ap.add_argument("pairs")
    ap.add_argument("--rows", default="1000:1200")
    ap.add_argument("--out", default=str(ROOT / ".work" / "own-text-scan"))
    ap.add_argument("--no-scan", action="store_true", help="judge OUT's finished scan again")
    a = ap.parse_args()
    start, stop = (int(v) for v in a.rows.split(":"))
    lines = Path(a.pairs).read_text(encoding="utf-8").splitlines()
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    data = out / "pairs.tsv"
    data.write_text("\n".join([lines[0]] + lines[1 + start: 1 + stop]) + "\n", encoding="utf-8")
    models = sorted(Path(a.zoo).glob("*.onnx"))
    t0 = time.perf_counter()
    if not a.no_scan:
        auditor.scan([str(m) for m in models], str(data), generator=a.bundle, out=out / "scan",
                     formats="json", force=True, progress=False)
    minutes = (time.perf_counter() - t0) / 60
    res = json.loads((out / "scan" / "results.json").read_text())
    manifest = json.loads((Path(a.bundle) / "manifest.json").read_text())
    texts, raw = load_labelled(data)
    names = manifest["class_names"]
    y = np.array([names.index(v) for v in raw])
    accuracy, values, checked, wrong, ties = {}, {f: {} for f in FIGURES}, 0, 0, 0
    for m, entry in zip(models, res["models"]):
        session = ort.InferenceSession(str(m), providers=["CPUExecutionProvider"])

        def run(x, session=session):
            return session.run(None, {session.get_inputs()[0].name: x})[0]

        labels = np.array([names.index(str(v)) for v in run(texts.items)])
        accuracy[m.stem] = float((labels == y).mean())
        for figure in FIGURES:
            values[figure][m.stem] = figure_value(entry, figure, RESULTS_FIELDS)
        c, w, t = check_adversaries(session, names, res["instances"], m.stem)
        checked, wrong, ties = checked + c, wrong + w, ties + t
    keys = sorted(accuracy)
    rho = {f: round(rank_corr([v[k] for k in keys], [accuracy[k] for k in keys]), 3)
           for f, v in values.items() if all(v[k] is not None for k in keys)}
    figure = chosen_figure(manifest.get("validation") or {})
    print(json.dumps({"figure": figure, "rho": rho.get(figure), "rho_every_figure": rho,
                      "n_pairs": len(y), "rows": a.rows, "n_models": len(keys),
                      "scan_minutes": None if a.no_scan else round(minutes, 1),
                      "adversaries_checked": checked, "adversaries_wrong": wrong,
                      "adversaries_tied": ties, "accuracy": accuracy,
                      "value": {k: values[figure][k] for k in keys} if figure else None},
                     indent=1))


if __name__ == "__main__":
    main()
