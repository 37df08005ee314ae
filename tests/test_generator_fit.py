"""Generator fit: images outside the generator's domain are flagged, in-domain ones are not;
and train-generator makes a usable generator for a second, RGB domain."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from auditor.cli import app
from conftest import _linear_onnx

ROOT = Path(__file__).resolve().parents[1]
runner = CliRunner()
FAST = ["--samples", "20", "--step", "0.3", "--refine-steps", "0", "--gallery", "2"]


def photo_crops(folder: Path, n: int = 8, side: int = 300) -> Path:
    """Colour photo crops (scenes, not patches of sky) from scikit-learn's sample images."""
    from sklearn.datasets import load_sample_images

    folder.mkdir()
    rng = np.random.default_rng(0)
    photos = load_sample_images().images
    for k in range(n):
        p = photos[k % len(photos)]
        r, c = rng.integers(0, p.shape[0] - side), rng.integers(0, p.shape[1] - side)
        Image.fromarray(p[r : r + side, c : c + side]).save(folder / f"photo_{k}.jpg")
    return folder


def test_colour_photos_get_the_generator_fit_warning(tmp_path):
    model = _linear_onnx(tmp_path / "m.onnx", ["N", 1, 28, 28])
    photos = photo_crops(tmp_path / "photos")
    result = runner.invoke(app, ["scan", str(model), str(photos), "--generator", "mnist", "--out", str(tmp_path / "o"), *FAST])
    assert result.exit_code == 0, result.output
    assert "of the images lie outside generator" in result.output and "train-generator" in result.output
    res = json.loads((tmp_path / "o" / "results.json").read_text())
    assert res["generator_fit"]["verdict"] == "poor" and res["generator_fit"]["most_outside"]
    assert all(inst["in_domain"] is False for inst in res["instances"])
    assert "Inputs outside the generator's domain" in (tmp_path / "o" / "index.html").read_text()


def test_auto_picks_the_photo_bundle_for_photos(tmp_path):
    from auditor.data import image_set
    from auditor.generators import choose_generator

    photos = photo_crops(tmp_path / "photos")
    gen, candidates = choose_generator(lambda shape: image_set(photos, shape, None).images, device="cpu")
    assert gen.name == "cifar10" and candidates[0]["share_outside"] <= 0.05
    assert candidates[0]["fits"] and not any(c["fits"] for c in candidates[1:])
    assert {c["name"] for c in candidates} == {"cifar10", "mnist", "fashion"}


def test_test_digits_fit_the_bundled_generator(tmp_path):
    model = _linear_onnx(tmp_path / "m.onnx", ["N", 1, 28, 28])
    result = runner.invoke(app, ["scan", str(model), str(ROOT / "examples" / "digits"), "--out", str(tmp_path / "o"), *FAST])
    assert result.exit_code == 0, result.output
    assert "lie outside" not in result.output
    res = json.loads((tmp_path / "o" / "results.json").read_text())
    assert res["generator_fit"]["verdict"] == "good"
    assert all(inst["recon_mse"] is not None for inst in res["instances"])
    assert all(inst["in_domain"] is True and inst["fit_score"] <= 1 for inst in res["instances"])


def test_train_generator_on_rgb_shapes_then_scan_with_it(shapes_dir, tmp_path):
    gen = tmp_path / "shapes-gen"
    result = runner.invoke(app, ["train-generator", str(shapes_dir), "--out", str(gen), "--size", "32", "--channels", "3",
                                 "--latent-dim", "8", "--hidden", "64", "--steps", "150", "--batch-size", "16"])
    assert result.exit_code == 0, result.output
    manifest = json.loads((gen / "manifest.json").read_text())
    assert manifest["image_shape"] == [3, 32, 32] and manifest["latent_dim"] == 8
    assert manifest["training"]["command"].startswith("auditor train-generator")
    model = _linear_onnx(tmp_path / "rgb.onnx", ["N", 3, 32, 32], features=3 * 32 * 32)
    result = runner.invoke(app, ["scan", str(model), str(shapes_dir), "--generator", str(gen), "--out", str(tmp_path / "o"), *FAST])
    assert result.exit_code == 0, result.output
    res = json.loads((tmp_path / "o" / "results.json").read_text())
    assert res["generator"]["image_shape"] == [3, 32, 32] and len(res["instances"]) == 48
    # its own fit check, calibrated on its training images (the 2-image hold-out is too few)
    assert manifest["domain_fit"]["n_images"] == 48 and "training images" in manifest["domain_fit"]["data"]
    assert res["generator_fit"]["measure"] == manifest["domain_fit"]["measure"]
    assert res["generator_fit"]["verdict"] == "good"
    listing = runner.invoke(app, ["generators", str(gen)], env={"COLUMNS": "250"})
    assert listing.exit_code == 0 and "3×32×32" in listing.output


@pytest.mark.parametrize("folder,expected", [("examples/digits", "mnist"), ("examples/fashion/images", "fashion")])
def test_generator_auto_picks_the_bundled_generator_that_fits(folder, expected, tmp_path):
    model = _linear_onnx(tmp_path / "m.onnx", ["N", 1, 28, 28], classes=10)
    result = runner.invoke(app, ["scan", str(model), str(ROOT / folder), "--limit", "12", "--refine-steps", "0",
                                 "--samples", "4", "--max-steps", "5", "--format", "json", "--error-distance", "off",
                                 "--out", str(tmp_path / "o")])
    assert result.exit_code == 0, result.output
    assert f"generator auto: {expected} fits these images best" in result.output
    res = json.loads((tmp_path / "o" / "results.json").read_text())
    assert res["generator"]["name"] == expected and res["generator"]["chosen_by"] == "auto"
    assert [c["name"] for c in res["generator"]["candidates"]][0] == expected
    assert res["generator_fit"]["verdict"] == "good"
