"""Calibrate and measure the domain fit check (issue 42; docs/domain-fit.md).

    python scripts/domain_fit.py calibrate          # domain_fit into generators/*/manifest.json
    python scripts/domain_fit.py measure [--n 300]  # false alarms, detection per set, auto picks

``calibrate`` fits each bundle's measure (auditor/generators/fit.py; auditor/text/fit.py for
snli) on held-out in-domain inputs that neither the bundle's generator was trained on nor
``measure`` evaluates on:

- cifar10: the even rows of the held-out photos of scripts/cifar10_splits.py ("validation");
- mnist: the 200 train-split digits that train-generator held out of the bundle's training
  (auditor.generators.vae_training.split_holdout(4000, 0.05, seed 0)); never the test split;
- fashion: the 150 images train-generator held out, plus the 300 "validation" images of
  scripts/fashion_splits.py;
- snli: the sentences of the held-out pairs (scripts/snli_splits.py) of every other premise.

``measure`` scans nothing: it runs each bundle's fit check (with the bundle forced) and
``--generator auto``'s choice on in-domain held-out inputs it was not calibrated on (CIFAR-10
held-out odd rows, MNIST test split, Fashion held-out "test" rows, the other half of the snli
held-out sentences) and on out-of-domain sets made here, seeded: uniform noise (32x32 and 64x64
colour, 28x28 grey), Gaussian noise, smooth random colour fields (bicubic upsampled random
grids), blurred noise, random colour blocks (4x4 or 8x8 grids, nearest upsampled), constant
colours, and each other domain's images. Images go through
PNG files and the scan's own conversion rule (auditor.data.image_set), as a scan's would.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))


def _cifar():
    from cifar10_splits import cifar10_splits

    _, _, x_hold, _, _ = cifar10_splits()
    return x_hold[0::2], x_hold[1::2]  # (validation: calibration, test: measure)


def _mnist():
    from mnist_splits import mnist_splits

    from auditor.generators.vae_training import split_holdout

    x_train, _, x_test, _ = mnist_splits()
    return x_train[split_holdout(len(x_train), 0.05, 0)[1]], x_test


def _fashion():
    from fashion_splits import fashion_splits

    from auditor.generators.vae_training import split_holdout

    x_train, _, x_hold, _ = fashion_splits()
    held = x_train[split_holdout(len(x_train), 0.05, 0)[1]]
    return np.concatenate([held, x_hold[:300]]), x_hold[300:]


def _snli():
    import csv

    rows = list(csv.DictReader((ROOT / ".work" / "snli" / "holdout.tsv").open(encoding="utf-8"),
                               delimiter="\t", quoting=csv.QUOTE_NONE))
    premises = sorted({r["premise"] for r in rows})
    side = {p: i % 2 for i, p in enumerate(premises)}
    calib = sorted({s for r in rows if side[r["premise"]] == 0 for s in (r["premise"],
                                                                          r["hypothesis"])})
    test = sorted({r["hypothesis"] for r in rows if side[r["premise"]] == 1})
    return calib, test


def calibrate(names: list[str]) -> None:
    import torch

    from auditor.data import image_set
    from auditor.generators import calibrate_generator, load_generator, read_manifest, resolve
    from auditor.generators.bundle import write_manifest

    torch.set_num_threads(1)
    sources = {"cifar10": (_cifar, "the 2,500 'validation' photos of the held-out 5,000 "
                           "(scripts/cifar10_splits.py), none used in training"),
               "mnist": (_mnist, "the 200 train-split digits train-generator held out of the "
                         "bundle's training"),
               "fashion": (_fashion, "the 150 images train-generator held out and the 300 "
                           "'validation' images of scripts/fashion_splits.py")}
    for name in names:
        bundle = resolve(name)
        manifest = read_manifest(bundle)
        if name == "snli":
            from auditor.text.fit import calibrate_text

            calib, _ = _snli()
            gen = load_generator(name, device="cpu")
            record = calibrate_text(gen, np.asarray(calib, dtype=object),
                                    f"{len(calib)} sentences of held-out SNLI pairs (every other "
                                    "premise of scripts/snli_splits.py's holdout)")
        else:
            load, data = sources[name]
            calib, _ = load()
            gen = load_generator(name, device="cpu")
            x = image_set(calib, gen.image_shape).images
            record = calibrate_generator(gen.encode, gen.decode, x, data)
        manifest["domain_fit"] = record
        write_manifest(bundle, manifest)
        print(f"{name}: threshold {record['threshold']} on {record['n_images']} inputs")


def out_of_domain_sets(n: int, seed: int = 0) -> dict[str, np.ndarray]:
    """The synthetic out-of-domain sets, uint8 (N, H, W, 3) or (N, H, W)."""
    from PIL import Image
    from scipy.ndimage import gaussian_filter

    rng = np.random.default_rng(seed)

    def smooth():
        grids = [rng.integers(0, 256, (g, g, 3), dtype=np.uint8) for g in rng.integers(2, 9, n)]
        return np.stack([np.asarray(Image.fromarray(a).resize((32, 32), Image.BICUBIC))
                         for a in grids])

    def blurred():
        a = np.stack([gaussian_filter(rng.random((32, 32, 3)), (s, s, 0))
                      for s in rng.uniform(1.5, 5, n)])
        lo, hi = a.min(axis=(1, 2, 3), keepdims=True), a.max(axis=(1, 2, 3), keepdims=True)
        return ((a - lo) / (hi - lo + 1e-9) * 255).astype(np.uint8)

    def blocks():
        grids = [rng.integers(0, 256, (g, g, 3), dtype=np.uint8) for g in rng.choice([4, 8], n)]
        return np.stack([np.asarray(Image.fromarray(a).resize((32, 32), Image.NEAREST))
                         for a in grids])

    return {
        "uniform noise 32x32": rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8),
        "uniform noise 64x64": rng.integers(0, 256, (n, 64, 64, 3), dtype=np.uint8),
        "grey uniform noise 28x28": rng.integers(0, 256, (n, 28, 28), dtype=np.uint8),
        "Gaussian noise": np.clip(rng.normal(128, 50, (n, 32, 32, 3)), 0, 255).astype(np.uint8),
        "smooth colour fields": smooth(),
        "blurred noise": blurred(),
        "random colour blocks": blocks(),
        "constant colours": np.broadcast_to(rng.integers(0, 256, (n, 1, 1, 3), dtype=np.uint8),
                                            (n, 32, 32, 3)).copy(),
    }


OWN = 1000  # in-domain held-out inputs measured per domain (where there are that many)


def _spread(x, n: int):
    """Up to ``n`` rows of ``x``, evenly spaced."""
    return x[np.unique(np.linspace(0, len(x) - 1, min(n, len(x))).astype(int))]


def _as_pngs(arrays: np.ndarray, folder: Path) -> Path:
    from PIL import Image

    folder.mkdir(parents=True)
    for i, a in enumerate(arrays):
        Image.fromarray(a).save(folder / f"{i:04d}.png")
    return folder


def measure(n: int, out: Path | None) -> dict:
    import torch

    from auditor.data import image_set
    from auditor.generators import choose_generator, generator_fit, load_generator

    torch.set_num_threads(1)
    # each domain's held-out images, up to OWN, spread over the classes (MNIST's are sorted)
    photos, digits, items = (_spread(x, OWN) for x in (_cifar()[1], _mnist()[1], _fashion()[1]))
    sets = {"CIFAR-10 photos": photos, "MNIST digits": digits, "Fashion items": items,
            **out_of_domain_sets(n)}
    own = {"cifar10": "CIFAR-10 photos", "mnist": "MNIST digits", "fashion": "Fashion items"}
    gens = {name: load_generator(name, device="cpu") for name in own}
    table: dict = {"flagged": {}, "verdict": {}, "auto": {}, "n": {}}
    with tempfile.TemporaryDirectory() as tmp:
        for label, arrays in sets.items():
            folder = _as_pngs(arrays, Path(tmp) / label.replace(" ", "_"))
            table["n"][label] = len(arrays)
            for name, gen in gens.items():
                fit, _ = generator_fit(gen, image_set(folder, gen.image_shape).images)
                table["flagged"].setdefault(name, {})[label] = round(fit["share_outside"], 4)
                table["verdict"].setdefault(name, {})[label] = fit["verdict"]
            converted: dict = {}  # as a scan's generator auto: by share, then conversions

            def images_for(shape, f=folder, seen=converted):
                seen[shape] = image_set(f, shape)
                return seen[shape].images

            best, cands = choose_generator(
                images_for, device="cpu",
                conversions=lambda shape, seen=converted: seen[shape].n_resized
                + seen[shape].n_converted)
            table["auto"][label] = (best.name if cands[0]["fits"]
                                    else f"none fits (least bad {best.name})")
            print(label, {k: v[label] for k, v in table["flagged"].items()}, table["auto"][label])
    _text_measure(table, n)
    _print_table(table, own)
    if out:
        out.write_text(json.dumps(table, indent=2) + "\n")
    return table


def _text_measure(table: dict, n: int) -> None:
    """The snli bundle's fit check on held-out SNLI sentences and out-of-domain sentences."""
    from auditor.generators import load_generator
    from auditor.text.fit import text_fit

    if not (ROOT / ".work" / "snli" / "holdout.tsv").is_file():
        print("snli: run scripts/snli_splits.py first; skipped")
        return
    gen = load_generator("snli", device="cpu")
    _, test = _snli()
    rng = np.random.default_rng(0)
    sets = {"held-out SNLI hypotheses": _spread(np.asarray(test, dtype=object), OWN),
            **text_sets(gen, rng, n)}
    for label, sentences in sets.items():
        fit, _ = text_fit(gen, np.asarray(sentences, dtype=object), sample=len(sentences))
        table["flagged"].setdefault("snli", {})[label] = round(fit["share_outside"], 4)
        table["verdict"].setdefault("snli", {})[label] = fit["verdict"]
        table["n"][label] = len(sentences)
        print(label, fit["share_outside"], fit["verdict"])


def text_sets(gen, rng, n: int) -> dict[str, list[str]]:
    """Out-of-domain sentences: code, another language, random vocabulary words, random
    character strings."""
    code = ["def f ( x ) : return x + 1", "for i in range ( 10 ) : print ( i )",
            "import numpy as np", "x = np . zeros ( ( 3 , 4 ) )", "if x is none : raise error",
            "return { k : v for k , v in items }", "while true : break", "class a ( b ) : pass",
            "int main ( void ) { return 0 ; }", "printf ( \" % d \" , n ) ;",
            "select * from users where id = 1 ;", "git commit -m \" fix \"",
            "std :: vector < int > v ;", "lambda x : x * 2", "self . assertequal ( a , b )"]
    french = ["le chat dort sur le canapé .", "un homme marche dans la rue avec son chien .",
              "les enfants jouent au ballon dans le parc .", "une femme lit un livre au soleil .",
              "deux hommes boivent du café à la terrasse .", "il pleut depuis ce matin .",
              "nous allons à la plage demain .", "la voiture rouge est garée devant la maison .",
              "ein mann fährt mit dem fahrrad zur arbeit .", "die kinder spielen im garten .",
              "el perro corre por la playa .", "una mujer cocina en la cocina .",
              "los niños juegan al fútbol en el parque .", "der hund schläft auf dem sofa .",
              "un grupo de personas espera el autobús ."]
    words = gen.vocabulary.words[4:]
    letters = list("abcdefghijklmnopqrstuvwxyz0123456789")
    pick = lambda pool: [pool[i % len(pool)] for i in rng.permutation(max(n, len(pool)))[:n]]
    return {
        "code": pick(code), "French, German, Spanish": pick(french),
        "random vocabulary words": [" ".join(rng.choice(words, rng.integers(5, 14)))
                                    for _ in range(n)],
        "random character strings": [" ".join("".join(rng.choice(letters, rng.integers(2, 8)))
                                               for _ in range(rng.integers(4, 12)))
                                      for _ in range(n)],
    }


def _print_table(table: dict, own: dict[str, str]) -> None:
    for name, row in table["flagged"].items():
        print(f"\n{name}: share flagged (verdict)")
        for label, share in row.items():
            mark = " (own domain: false alarms)" if own.get(name) == label else ""
            print(f"  {label:28s} {share:6.3f} {table['verdict'][name][label]}{mark}")
    print("\n--generator auto:", json.dumps(table["auto"], indent=1))


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("command", choices=["calibrate", "measure"])
    ap.add_argument("--bundles", default="cifar10,mnist,fashion,snli")
    ap.add_argument("--n", type=int, default=300, help="inputs per set (measure)")
    ap.add_argument("--out", type=Path, help="measure: write the table as JSON here")
    a = ap.parse_args()
    if a.command == "calibrate":
        calibrate(a.bundles.split(","))
    else:
        measure(a.n, a.out)
