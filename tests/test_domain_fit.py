"""The domain fit check (issue 42): the calibrated measure on synthetic features, the bundles'
verdicts on their own examples and on noise, generator auto when nothing fits, and text."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from auditor.cli import app
from auditor.errors import GeneratorError
from auditor.generators.fit import calibrate, score
from conftest import _linear_onnx

ROOT = Path(__file__).resolve().parents[1]
runner = CliRunner()
FAST = ["--samples", "4", "--max-steps", "5", "--refine-steps", "0", "--gallery", "2",
        "--error-distance", "off"]


def correlated(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    mix = np.array([[1.0, 0.0, 0.0], [0.8, 0.6, 0.0], [0.0, 0.3, 2.0]])
    return rng.normal(size=(n, 3)) @ mix.T + np.array([1.0, -2.0, 5.0])


def test_the_threshold_flags_about_the_stated_share_of_unseen_in_domain_inputs():
    names = ["a", "b", "c"]
    record = calibrate(names, correlated(2000, 0), "synthetic", false_alarm=0.02)
    flagged = score(record, names, correlated(5000, 1)) > 1
    assert 0.005 < flagged.mean() < 0.05
    assert record["false_alarm"] == 0.02 and record["n_images"] == 2000
    # off the correlation, not off any one feature's range: flagged
    odd = np.array([[1.0 + 2, -2.0 - 2, 5.0]])
    assert score(record, names, odd)[0] > 1


def test_a_near_constant_feature_keeps_a_usable_scale():
    features = np.column_stack([correlated(300, 0)[:, 0], np.full(300, 0.714)])
    record = calibrate(["a", "extent"], features, "synthetic")
    near, far = np.array([[1.0, 0.72]]), np.array([[1.0, 1.0]])
    assert score(record, ["a", "extent"], near)[0] < 1 < score(record, ["a", "extent"], far)[0]


def test_too_few_inputs_calibrate_nothing_and_other_features_are_refused():
    assert calibrate(["a", "b", "c"], correlated(10, 0), "synthetic") is None
    record = calibrate(["a", "b", "c"], correlated(100, 0), "synthetic")
    with pytest.raises(GeneratorError, match="re-calibrate"):
        score(record, ["a", "b", "d"], correlated(5, 1))


def _pngs(folder: Path, arrays) -> Path:
    folder.mkdir()
    for i, a in enumerate(arrays):
        Image.fromarray(a).save(folder / f"{i}.png")
    return folder


def noise(n: int = 12, side: int = 32) -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (n, side, side, 3), dtype=np.uint8)


def constant_colours(n: int = 12) -> np.ndarray:
    colours = np.random.default_rng(1).integers(0, 256, (n, 1, 1, 3), dtype=np.uint8)
    return np.broadcast_to(colours, (n, 32, 32, 3)).copy()


def colour_blocks(n: int = 12) -> np.ndarray:
    grids = np.random.default_rng(2).integers(0, 256, (n, 4, 4, 3), dtype=np.uint8)
    return np.stack([np.asarray(Image.fromarray(g).resize((32, 32), Image.NEAREST)) for g in grids])


@pytest.mark.parametrize("name,own", [("cifar10", "examples/cifar10/photos"),
                                      ("mnist", "examples/digits"),
                                      ("fashion", "examples/fashion/images")])
def test_each_bundle_keeps_its_own_examples_and_flags_noise_and_flat_colours(name, own, tmp_path):
    from auditor.data import image_set
    from auditor.generators import generator_fit, load_generator

    gen = load_generator(name, device="cpu")
    assert gen.manifest["domain_fit"]["features"]
    fit, per_image = generator_fit(gen, image_set(ROOT / own, gen.image_shape).images)
    assert fit["verdict"] == "good" and per_image["in_domain"].mean() >= 0.95
    for label, arrays in (("noise", noise()), ("constant", constant_colours()),
                          ("blocks", colour_blocks())):
        folder = _pngs(tmp_path / f"{name}-{label}", arrays)
        fit, per_image = generator_fit(gen, image_set(folder, gen.image_shape).images)
        assert fit["verdict"] == "poor" and fit["most_outside"], (label, fit)
        assert not per_image["in_domain"].any()


def test_each_grey_bundle_flags_the_other_grey_domain():
    from auditor.data import image_set
    from auditor.generators import generator_fit, load_generator

    for name, other in (("mnist", "examples/fashion/images"), ("fashion", "examples/digits")):
        gen = load_generator(name, device="cpu")
        fit, _ = generator_fit(gen, image_set(ROOT / other, gen.image_shape).images)
        assert fit["share_outside"] >= 0.9, (name, fit)


def test_auto_says_no_bundle_fits_noise_and_the_report_opens_with_it(tmp_path):
    data = _pngs(tmp_path / "noise", noise(8))
    model = _linear_onnx(tmp_path / "m.onnx", ["N", 3, 32, 32], features=3 * 32 * 32)
    out = tmp_path / "o"
    result = runner.invoke(app, ["scan", str(model), str(data), "--out", str(out), "--format",
                                 "json,html,md", *FAST])
    assert result.exit_code == 0, result.output
    assert "no bundled generator fits these images; the least bad is" in result.output
    assert "fits these images best" not in result.output
    res = json.loads((out / "results.json").read_text())
    assert res["generator"]["none_fits"] is True
    assert not any(c["fits"] for c in res["generator"]["candidates"])
    assert res["generator_fit"]["verdict"] == "poor"
    assert [inst["in_domain"] for inst in res["instances"]] == [False] * 8
    assert "Inputs outside the generator's domain" in (out / "index.html").read_text()
    card = (out / "model-card.md").read_text()
    assert "**Inputs outside the generator's domain:**" in card and "least bad" in card


def test_snli_flags_random_strings_and_keeps_its_own_pairs():
    from auditor.generators import load_generator
    from auditor.text.data import load_text
    from auditor.text.fit import text_fit

    gen = load_generator("snli", device="cpu")
    pairs = load_text(ROOT / "examples" / "text" / "pairs.tsv", None)
    fit, per_input = text_fit(gen, pairs.items)
    assert fit["verdict"] == "good" and per_input["in_domain"].mean() >= 0.95
    rng = np.random.default_rng(0)
    letters = list("abcdefghijklmnopqrstuvwxyz0123456789")
    junk = [" ".join("".join(rng.choice(letters, 5)) for _ in range(8)) for _ in range(20)]
    words = gen.vocabulary.words[4:]
    shuffled = [" ".join(rng.choice(words, 9)) for _ in range(20)]
    for texts in (junk, shuffled):
        fit, per_input = text_fit(gen, np.asarray(texts, dtype=object))
        assert fit["verdict"] == "poor" and per_input["in_domain"].mean() <= 0.1, fit


def test_a_text_scan_of_junk_says_so_per_pair_and_in_the_card(tmp_path):
    rng = np.random.default_rng(3)
    letters = list("abcdefghijklmnopqrstuvwxyz")
    junk = [" ".join("".join(rng.choice(letters, 6)) for _ in range(7)) for _ in range(6)]
    data = tmp_path / "junk.tsv"
    data.write_text("premise\thypothesis\n" + "".join(f"{s}\t{s[::-1]}\n" for s in junk))
    out = tmp_path / "o"
    model = ROOT / "examples" / "text" / "models" / "logreg.onnx"
    result = runner.invoke(app, ["scan", str(model), str(data), "--out", str(out), "--format",
                                 "json,md", "--samples", "4", "--max-steps", "3"])
    assert result.exit_code == 0, result.output
    assert "most of the texts lie outside generator snli's domain" in result.output
    res = json.loads((out / "results.json").read_text())
    assert res["generator_fit"]["most_outside"] and not any(i["in_domain"] for i in res["instances"])
    card = (out / "model-card.md").read_text()
    # text trains its own generator too (issue 41): the card says so, as for images
    assert "**Inputs outside the generator's domain:**" in card and "auditor train-generator" in card
