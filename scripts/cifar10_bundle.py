"""Assemble the bundled ``cifar10`` generator (issue #33) from the project's own trainings:

    python scripts/cifar10_splits.py                                   # .work/cifar10/{train,holdout}.npz
    auditor train-generator .work/cifar10/train.npz --out .work/gens/cifar10 --name cifar10 --size 32 \\
        --channels 3 --latent-dim 64 --family conv --hidden 32,64,128 --beta 0.5 --steps 9000 --threads 1 \\
        --seed 0 --labels none
    python scripts/cifar10_reference.py --epochs 30 --threads 1        # .work/cifar10/reference/
    python scripts/cifar10_bundle.py                                   # generators/cifar10/
    python bench/cifar10_zoo.py && python bench/validate_zoo.py --domain cifar10 --write-manifest

Copies the VAE's weights and manifest, sets the decoding rule to ``detail-preserving``, attaches
the reference classifier R (its weights and record, with its checksum) and measures on the
held-out photos how often R keeps its label on the plain reconstructions G(I(x)) (why the rule).
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from auditor.generators import MANIFEST, WEIGHTS, load_generator, sha256  # noqa: E402
from auditor.reference import REFERENCE_FILE  # noqa: E402

CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def main() -> None:
    work = ROOT / ".work"
    trained, reference = work / "gens" / "cifar10", work / "cifar10" / "reference"
    out = ROOT / "generators" / "cifar10"
    out.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(trained / WEIGHTS, out / WEIGHTS)
    shutil.copyfile(reference / REFERENCE_FILE, out / REFERENCE_FILE)
    manifest = json.loads((trained / MANIFEST).read_text())
    record = json.loads((reference / "record.json").read_text())
    manifest["description"] = ("convolutional VAE on the 45,000-photo train split of CIFAR-10 (JPEG, quality 75), "
                               "detail-preserving decoding, ResNet-9 reference classifier")
    manifest["decoding"] = "detail-preserving"
    # R's agreement with each model is the figure the validation reads as accuracy and needs no
    # search; the error-distance search would about double a photo scan, so auto skips it here.
    manifest["error_distance_default"] = "skip"
    manifest["training"]["data"] = ".work/cifar10/train.npz (python scripts/cifar10_splits.py)"
    manifest["training"]["note"] = ("trained into .work/gens/cifar10 and assembled by scripts/cifar10_bundle.py; "
                                    "the reference classifier by scripts/cifar10_reference.py")
    manifest["class_names"] = CLASSES
    manifest["reference_classifier"] = record
    manifest["files"] = {WEIGHTS: sha256(out / WEIGHTS), REFERENCE_FILE: sha256(out / REFERENCE_FILE)}
    manifest.pop("validation", None)
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    gen = load_generator(str(out), device="cpu")
    with np.load(work / "cifar10" / "holdout.npz") as npz:
        x = (npz["images"][:1000].transpose(0, 3, 1, 2) / 255.0).astype(np.float32)
        y = npz["labels"][:1000].astype(np.int64)
    r_x = gen.reference.predict(x)
    raw = gen.decode(gen.encode(x))
    plain = gen.decode(gen.refine(x, gen.encode(x), 50))
    r_plain = gen.reference.predict(plain)
    manifest["quality"] = {
        "n_images": len(x),
        "label_preservation": {"raw": round(float((gen.reference.predict(raw) == r_x).mean()), 4),
                               "refined": round(float((r_plain == r_x).mean()), 4), "refine_steps": 50,
                               "decoding": "plain"},
        "reference_accuracy_on_photos": round(float((r_x == y).mean()), 4),
        "reference_accuracy_on_plain_reconstructions": round(float((r_plain == y).mean()), 4),
        "recon_mse_plain": round(float(((plain - x) ** 2).mean()), 5),
        "note": "on the first 1,000 held-out photos; with the detail-preserving rule the reconstruction is the photo "
                "itself (label preservation 1 by construction); the plain figures say why that rule ships",
    }
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    print(json.dumps(manifest["quality"], indent=2))


if __name__ == "__main__":
    main()
