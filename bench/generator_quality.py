"""Quality of a generator bundle on the 1,000 test-split digits (DESIGN.md §3).

Measured with the project's reference LeNet (examples/models/lenet.onnx, trained on the
train split by examples/make_examples.py):

- label preservation: share of digits where the LeNet's label of G(I(x)) equals its label
  of x, raw and after the scan's default refinement of z0;
- reconstruction MSE (mean per pixel);
- Inception Score (with the LeNet's softmax) of real digits, of samples G(z0 + r u) around
  encoded test digits at r = 1, 2, 3 and at the median dz that a default scan finds for the
  LeNet on 100 test digits (10 per class), and of samples from the N(0, I) prior;
- grids (PNG) of reconstructions, neighbourhood samples and prior samples in docs/.

    python bench/generator_quality.py [--generator mnist] [--write-manifest]
    python bench/generator_quality.py --domain fashion --generator .work/gens/fashion-mlp

``--domain fashion`` measures a Fashion-MNIST generator on the 615 held-out images of
scripts/fashion_splits.py with the bundle's own reference classifier R in the LeNet's place (R is
trained on the train split only); the median dz is R's own on the first 100 held-out images.
Every run also times decoding (microseconds per image, batches of 4,096).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

from mnist_splits import balanced_test, mnist_splits  # noqa: E402

from auditor import stats  # noqa: E402
from auditor.generators import load_generator, resolve  # noqa: E402
from auditor.models import load_classifier  # noqa: E402
from auditor.search import SearchSettings, search  # noqa: E402


def softmax_lenet():
    import onnxruntime as ort

    ort.set_default_logger_severity(3)
    sess = ort.InferenceSession(str(ROOT / "examples/models/lenet.onnx"), providers=["CPUExecutionProvider"])

    def probs(x: np.ndarray) -> np.ndarray:
        logits = np.concatenate([sess.run(None, {"image": x[i : i + 2048]})[0] for i in range(0, len(x), 2048)])
        e = np.exp(logits - logits.max(1, keepdims=True))
        return e / e.sum(1, keepdims=True)

    return probs


def softmax_net(net):
    import torch

    def probs(x: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return torch.softmax(net(torch.from_numpy(np.ascontiguousarray(x))), 1).numpy()

    return probs


def inception_score(p: np.ndarray) -> float:
    marginal = p.mean(0, keepdims=True)
    kl = (p * (np.log(p + 1e-12) - np.log(marginal + 1e-12))).sum(1)
    return float(np.exp(kl.mean()))


def grid(images: np.ndarray, cols: int, path: Path) -> None:
    from PIL import Image

    n = len(images)
    rows = (n + cols - 1) // cols
    canvas = np.ones((rows * 30, cols * 30), dtype=np.float32)
    for k, img in enumerate(images):
        r, c = divmod(k, cols)
        canvas[r * 30 + 1 : r * 30 + 29, c * 30 + 1 : c * 30 + 29] = img[0]
    Image.fromarray((canvas * 255).astype(np.uint8)).resize((cols * 60, rows * 60), Image.Resampling.NEAREST).save(path)


def sphere(rng: np.random.Generator, n: int, d: int) -> np.ndarray:
    u = rng.standard_normal((n, d)).astype(np.float32)
    return u / np.linalg.norm(u, axis=1, keepdims=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--generator", default=None, help="default: the domain's bundled generator")
    parser.add_argument("--domain", choices=("mnist", "fashion"), default="mnist")
    parser.add_argument("--write-manifest", action="store_true", help="store the figures in the bundle's manifest")
    parser.add_argument("--docs", type=Path, default=ROOT / "docs" / "generator")
    args = parser.parse_args()
    args.generator = args.generator or args.domain
    if args.domain == "fashion" and args.docs == ROOT / "docs" / "generator":
        args.docs = ROOT / "docs" / "generator-fashion"

    gen = load_generator(args.generator, device="cpu")
    if args.domain == "fashion":
        from fashion_splits import fashion_splits

        if gen.reference is None:
            raise SystemExit("the fashion generator's quality is measured with its reference classifier: it has none")
        probs = softmax_net(gen.reference.net)
        _, _, x_test, y_test = fashion_splits()
        scanned = (x_test[:100] / 255.0).astype(np.float32)[:, None]
        judge = gen.reference
    else:
        probs = softmax_lenet()
        _, _, x_test, y_test = mnist_splits()
        scanned = balanced_test()[0]
        judge = load_classifier(ROOT / "examples/models/lenet.onnx", "lenet", gen.image_shape)
    x = (x_test / 255.0).astype(np.float32)[:, None]
    refine = SearchSettings().refine_steps
    z_raw = gen.encode(x)
    z_ref = gen.refine(x, z_raw, refine)
    label = probs(x).argmax(1)
    recon_raw, recon_ref = gen.decode(z_raw), gen.decode(z_ref)
    rng = np.random.default_rng(0)
    figures = {
        "label_preservation": {
            "raw": float((probs(recon_raw).argmax(1) == label).mean()),
            "refined": float((probs(recon_ref).argmax(1) == label).mean()),
            "refine_steps": refine,
        },
        "recon_mse": {"raw": float(((recon_raw - x) ** 2).mean()), "refined": float(((recon_ref - x) ** 2).mean())},
        "judge_test_accuracy": float((label == y_test).mean()),
        "judge": "the bundle's reference classifier" if args.domain == "fashion" else "examples/models/lenet.onnx",
        "inception_score": {"real": inception_score(probs(x)), "reconstructions": inception_score(probs(recon_ref))},
        "latent_norm_mean": float(np.linalg.norm(z_ref, axis=1).mean()),
    }
    args.docs.mkdir(parents=True, exist_ok=True)
    for r in (1.0, 2.0, 3.0):
        near = gen.decode(z_ref + r * sphere(rng, len(z_ref), gen.latent_dim))
        figures["inception_score"][f"neighbourhood_r{r:g}"] = inception_score(probs(near))
        grid(near[::25][:40], 10, args.docs / f"neighbourhood_r{r:g}.png")
    res = search(gen, [judge], scanned, SearchSettings()).results[judge.name]
    median_dz = float(stats.summary(res.delta_z, res.censored)["median_delta_z"])
    near = gen.decode(z_ref + median_dz * sphere(rng, len(z_ref), gen.latent_dim))
    figures["judge_median_delta_z"] = median_dz
    figures["inception_score"]["neighbourhood_at_median_dz"] = inception_score(probs(near))
    prior = gen.decode(rng.standard_normal((1000, gen.latent_dim)).astype(np.float32))
    p_prior = probs(prior)
    figures["inception_score"]["prior"] = inception_score(p_prior)
    figures["prior_class_histogram"] = np.bincount(p_prior.argmax(1), minlength=10).tolist()
    grid(np.concatenate([x[::50][:10], recon_ref[::50][:10], x[25::50][:10], recon_ref[25::50][:10]]), 10, args.docs / "reconstructions.png")
    grid(prior[:40], 10, args.docs / "prior_samples.png")
    real = figures["inception_score"]["real"]
    hist = figures["prior_class_histogram"]
    import time

    z = rng.standard_normal((4096, gen.latent_dim)).astype(np.float32)
    gen.decode(z[:64])
    started = time.perf_counter()
    for _ in range(3):
        gen.decode(z)
    figures["decode_us_per_image"] = round((time.perf_counter() - started) / 3 / len(z) * 1e6, 1)
    raw_bar, refined_bar, is_bar = (0.90, 0.93, 0.85) if args.domain == "fashion" else (0.95, 0.97, 0.9)  # #13 / #3
    figures["bars"] = {
        f"label_preservation_raw >= {raw_bar}": figures["label_preservation"]["raw"] >= raw_bar,
        f"label_preservation_refined >= {refined_bar}": figures["label_preservation"]["refined"] >= refined_bar,
        f"IS at median dz >= {is_bar} x real": figures["inception_score"]["neighbourhood_at_median_dz"] >= is_bar * real,
        "prior IS / real (stretch >= 0.8)": round(figures["inception_score"]["prior"] / real, 3),
        "no prior class under half its share": min(hist) >= 0.5 * sum(hist) / len(hist),
    }
    print(json.dumps(figures, indent=2))
    if args.write_manifest:
        path = resolve(args.generator) / "manifest.json"
        manifest = json.loads(path.read_text())
        manifest["quality"] = figures | {"measured_with": "python bench/generator_quality.py --write-manifest"}
        path.write_text(json.dumps(manifest, indent=2) + "\n")


if __name__ == "__main__":
    main()
