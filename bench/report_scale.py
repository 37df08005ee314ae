"""Scan zoos of 3, 10 and 30 MNIST classifiers and render their reports, to look at how the
report reads as the number of models grows (issue #12). Run by hand (needs the dev extra):

    python bench/report_scale.py                      # 3, 10 and 30 models into .work/report-scale/
    python bench/report_scale.py --sizes 30 --shots docs/screenshots

The zoo: the three example models, then scikit-learn classifiers of several families and sizes
(logistic regression, MLPs, decision trees, random forests) trained on the project's train split
and exported with skl2onnx. ``--shots DIR`` also writes PNGs of the HTML (headless Chromium) and of
the PDF's pages (pdftoppm) where those programs exist.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

from mnist_splits import mnist_splits  # noqa: E402


def zoo(folder: Path) -> list[Path]:
    """The example models, then 27 scikit-learn models (made once, kept in ``folder``)."""
    from skl2onnx import to_onnx
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.neural_network import MLPClassifier
    from sklearn.tree import DecisionTreeClassifier

    folder.mkdir(parents=True, exist_ok=True)
    specs = (
        [(f"mlp_h{h}", lambda h=h: MLPClassifier((h,), max_iter=30, random_state=0)) for h in (2, 4, 8, 16, 32, 64, 128, 256)]
        + [(f"logreg_c{c:g}", lambda c=c: LogisticRegression(C=c, max_iter=200)) for c in (0.0001, 0.001, 0.01, 1.0)]
        + [(f"tree_d{d}", lambda d=d: DecisionTreeClassifier(max_depth=d, random_state=0)) for d in (2, 4, 6, 8, 12)]
        + [(f"rf{t}_d{d}", lambda t=t, d=d: RandomForestClassifier(t, max_depth=d, random_state=0))
           for t, d in ((2, 6), (5, 6), (10, 8), (20, 8), (5, 12), (10, 12), (20, 12), (40, 12), (60, 12), (80, 16))]
    )
    paths = [ROOT / "examples/models" / n for n in ("lenet.onnx", "mlp.pt", "rf5.onnx")]
    x_train, y_train, _, _ = mnist_splits()
    x = (x_train.reshape(len(x_train), -1) / 255.0).astype(np.float32)
    for name, make in specs:
        path = folder / f"{name}.onnx"
        if not path.exists():
            model = make().fit(x, y_train)
            onx = to_onnx(model, x[:1], target_opset={"": 17, "ai.onnx.ml": 3}, options={"zipmap": False})
            path.write_bytes(onx.SerializeToString())
        paths.append(path)
    return paths


def shots(out: Path, dest: Path, tag: str) -> None:
    """report-TAG-laptop.png (the page's top, 1280 px wide) and report-TAG-pdf.png (every PDF page
    side by side, 5 a row)."""
    import tempfile

    from PIL import Image

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium:
        subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                        f"--screenshot={dest / f'report-{tag}-laptop.png'}", "--window-size=1280,2400",
                        (out / "index.html").as_uri()], check=True, capture_output=True)
    if shutil.which("pdftoppm") and (out / "report.pdf").exists():
        with tempfile.TemporaryDirectory() as tmp:
            subprocess.run(["pdftoppm", "-png", "-r", "50", str(out / "report.pdf"), f"{tmp}/p"], check=True)
            pages = [Image.open(p) for p in sorted(Path(tmp).glob("p-*.png"))]
            w, h = pages[0].size
            cols = min(5, len(pages))
            sheet = Image.new("RGB", (w * cols, h * -(-len(pages) // cols)), "white")
            for k, page in enumerate(pages):
                sheet.paste(page, ((k % cols) * w, (k // cols) * h))
            sheet.save(dest / f"report-{tag}-pdf.png", optimize=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="3,10,30")
    parser.add_argument("--out", type=Path, default=ROOT / ".work/report-scale")
    parser.add_argument("--images", type=Path, default=ROOT / "examples/digits")
    parser.add_argument("--shots", type=Path, default=None, help="folder for screenshots")
    args = parser.parse_args()
    models = zoo(args.out / "zoo")
    auditor = Path(sys.executable).with_name("auditor")
    for size in (int(s) for s in args.sizes.split(",")):
        out = args.out / f"models-{size}"
        start = time.perf_counter()
        run = subprocess.run([str(auditor), "scan", *map(str, models[:size]), str(args.images), "--out", str(out),
                              "--seed", "0", "--force"], capture_output=True, text=True)
        print(f"{size} models: exit {run.returncode} in {time.perf_counter() - start:.0f} s; "
              f"report.pdf {(out / 'report.pdf').stat().st_size / 1e6 if (out / 'report.pdf').exists() else 0:.1f} MB")
        if run.returncode:
            print(run.stdout[-3000:], run.stderr[-3000:])
        if args.shots:
            args.shots.mkdir(parents=True, exist_ok=True)
            shots(out, args.shots, f"{size}models")


if __name__ == "__main__":
    main()
