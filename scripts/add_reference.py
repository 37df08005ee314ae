"""Add a reference classifier R to an existing generator bundle (issue #19), trained on the bundle's
own training images with their labels and measured on the bundle's own hold-out (the same seeded
split train-generator used). A new bundle gets R from `auditor train-generator` directly when its
data has labels; this script is for bundles trained before that, such as the bundled `mnist`:

    python scripts/mnist_splits.py .work/mnist
    python scripts/add_reference.py generators/mnist .work/mnist/train.npz --labels .work/mnist/train_labels.npy
"""

import argparse
import json
import shlex
import sys
from pathlib import Path

import numpy as np

from auditor.data import load_images
from auditor.reference import save_reference, train_reference
from auditor.generators.vae_training import split_holdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("bundle", type=Path)
    parser.add_argument("data", type=Path, help="the bundle's training images (as given to train-generator)")
    parser.add_argument("--labels", type=Path, default=None, help=".npy of labels, where the data has none")
    parser.add_argument("--class-names", default=None)
    parser.add_argument("--steps", type=int, default=5000)
    args = parser.parse_args()
    manifest = json.loads((args.bundle / "manifest.json").read_text())
    images = load_images(args.data, tuple(manifest["image_shape"]))
    labels = np.load(args.labels) if args.labels else images.labels
    if labels is None or len(labels) != len(images.images):
        raise SystemExit("labels missing or of the wrong length")
    config = manifest["training"]["config"]
    train_idx, hold_idx = split_holdout(len(images.images), config["holdout"], config["seed"])
    names = [v.strip() for v in args.class_names.split(",")] if args.class_names else None
    net, record = train_reference(images.images, labels, train_idx, hold_idx, names, steps=args.steps, seed=config["seed"])
    record["command"] = "python " + " ".join(shlex.quote(a) for a in sys.argv)
    save_reference(args.bundle, net, record)
    print(f"reference classifier: accuracy {100 * record['accuracy']:.1f}% on {record['n_images']} held-out images")


if __name__ == "__main__":
    main()
