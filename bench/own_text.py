"""Issue 41's check of `train-generator` for text, on pairs it never saw: scan a zoo with a bundle
trained by `auditor train-generator`, check every stored adversary against its model, and measure
the Spearman rho with accuracy of the figure the bundle's own `validate-generator` chose.

    OMP_NUM_THREADS=1 python bench/own_text.py BUNDLE ZOO_DIR PAIRS.tsv --rows 1000:1200 [--out DIR]

PAIRS.tsv must carry a label column; only the rows given (never those validate-generator used)
are scanned. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    import onnxruntime as ort
    from scipy.stats import spearmanr

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("bundle")
    ap.add_argument("zoo")
    ap.add_argument("pairs")
    ap.add_argument("--rows", default="1000:1200")
    ap.add_argument("--out", default=str(ROOT / ".work" / "own-text-scan"))
    a = ap.parse_args()
    start, stop = (int(v) for v in a.rows.split(":"))
    lines = Path(a.pairs).read_text(encoding="utf-8").splitlines()
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    data = out / "pairs.tsv"
    data.write_text("\n".join([lines[0]] + lines[1 + start: 1 + stop]) + "\n", encoding="utf-8")
    import auditor
    from auditor.text.data import load_labelled
    from auditor.accuracy_figures import RESULTS_FIELDS, chosen_figure

    manifest = json.loads((Path(a.bundle) / "manifest.json").read_text())
    figure = chosen_figure(manifest["validation"])
    models = sorted(Path(a.zoo).glob("*.onnx"))
    auditor.scan([str(m) for m in models], str(data), generator=a.bundle, out=out / "scan",
                 formats="json", force=True)
    res = json.loads((out / "scan" / "results.json").read_text())
    texts, raw = load_labelled(data)
    names = manifest["class_names"]
    y = np.array([names.index(v) for v in raw])
    accuracy, value, checked, wrong = {}, {}, 0, 0
    for m, entry in zip(models, res["models"]):
        session = ort.InferenceSession(str(m), providers=["CPUExecutionProvider"])
        def run(x, session=session):
            return session.run(None, {session.get_inputs()[0].name: x})[0]

        labels = np.array([names.index(str(v)) for v in run(texts.items)])
        accuracy[m.stem] = float((labels == y).mean())
        field = entry[RESULTS_FIELDS[figure]]
        if isinstance(field, dict):
            field = field["median" if figure.startswith("median") else "mean"]
        value[m.stem] = field
        for inst in res["instances"]:
            r = inst["results"][m.stem]
            if r.get("adversary") is not None:
                got = names.index(str(run(np.array([[inst["text"][0], r["adversary"]]],
                                                   dtype=object))[0]))
                checked += 1
                wrong += got != r["adversary_prediction"] or got == r["prediction"]
    keys = sorted(accuracy)
    rho = spearmanr([value[k] for k in keys], [accuracy[k] for k in keys]).statistic
    print(json.dumps({"figure": figure, "rho": round(float(rho), 3), "n_pairs": len(y),
                      "n_models": len(keys), "adversaries_checked": checked,
                      "adversaries_wrong": int(wrong), "accuracy": accuracy, "value": value},
                     indent=1))


if __name__ == "__main__":
    main()
