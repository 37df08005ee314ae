"""A reference classifier inside a bundle: trained where labels are given, checksummed, refused when damaged."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from typer.testing import CliRunner

from auditor.cli import app
from auditor.errors import GeneratorError
from auditor.generators import load_generator
from auditor.generators.vae_training import TrainConfig, train_vae
from conftest import blob_images

# two classes a CNN tells apart at once: horizontal bars (even rows) and vertical bars (odd rows)
IMAGES = (blob_images(64, seed=4) / 255.0).astype(np.float32)[:, None]
LABELS = np.arange(64) % 2


@pytest.fixture(scope="module")
def labelled_bundle(tmp_path_factory):
    out = tmp_path_factory.mktemp("ref") / "bundle"
    config = TrainConfig(latent_dim=3, hidden=[16], steps=20, batch_size=16, threads=1, holdout=0.25,
                         reference_steps=150)
    return train_vae(IMAGES, out, config, {"name": "labelled"}, labels=LABELS, class_names=["wide", "tall"])


def test_labels_give_a_bundle_a_reference_classifier(labelled_bundle):
    manifest = json.loads((labelled_bundle / "manifest.json").read_text())
    record = manifest["reference_classifier"]
    assert record["class_names"] == ["wide", "tall"] and record["n_images"] == 16
    assert record["accuracy"] >= 0.9 and set(record["per_class_accuracy"]) == {"wide", "tall"}
    assert set(manifest["files"]) == {"weights.npz", "reference.npz"}
    gen = load_generator(str(labelled_bundle))
    assert (gen.reference.predict(IMAGES) == LABELS).mean() >= 0.9


def test_a_bundle_without_labels_has_no_reference(tiny_bundle):
    assert load_generator(str(tiny_bundle)).reference is None


def test_a_damaged_reference_is_refused_in_one_line(labelled_bundle, tmp_path):
    bad = shutil.copytree(labelled_bundle, tmp_path / "bad")
    (bad / "reference.npz").write_bytes(b"tampered")
    with pytest.raises(GeneratorError, match="checksum does not match"):
        load_generator(str(bad))
    result = CliRunner().invoke(app, ["scan", "whatever.onnx", str(tmp_path), "--generator", str(bad)])
    assert result.exit_code == 2 and "Traceback" not in result.output


def test_a_reference_that_does_not_fit_the_images_is_refused(labelled_bundle, tmp_path):
    bad = shutil.copytree(labelled_bundle, tmp_path / "bad")
    manifest = json.loads((bad / "manifest.json").read_text())
    manifest["reference_classifier"]["class_names"] = ["a", "b", "c"]  # 3 classes: the weights have 2
    (bad / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(GeneratorError, match="does not fit"):
        load_generator(str(bad))


def test_generators_lists_the_reference(labelled_bundle):
    result = CliRunner().invoke(app, ["generators", str(labelled_bundle)], env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    assert "2 classes" in result.output


def test_a_scan_with_a_reference_reports_natural_errors(labelled_bundle, onnx_factory, tmp_path):
    from conftest import png_folder

    images = png_folder(tmp_path / "imgs", blob_images(10, seed=9), "img")
    two, three = onnx_factory("two.onnx", classes=2, seed=1), onnx_factory("three.onnx", classes=3, seed=2)
    out = tmp_path / "r"
    args = ["scan", str(two), str(three), str(images), "--generator", str(labelled_bundle), "--out", str(out),
            "--samples", "8", "--refine-steps", "0", "--format", "json,html,md"]
    result = CliRunner().invoke(app, args, env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    assert "left out for model three: it gives 3 class scores, the reference classifier knows 2" in result.output
    assert "Natural errors" in result.output
    res = json.loads((out / "results.json").read_text())
    models = {m["name"]: m for m in res["models"]}
    assert models["three"]["error_distance"] is None
    err, sem = models["two"]["error_distance"], models["two"]["semantics"]
    assert err["n_zero"] + err["n_censored"] <= 10 and err["queries"] > 0
    assert sem["n_kept_class"] + sem["n_changed_class"] + sem["n_disagrees"] == sem["n_images"]
    assert res["generator"]["reference_classifier"]["models"] == ["two"]
    for inst in res["instances"]:
        r = inst["results"]["two"]
        if r["prediction"] != inst["reference_prediction"]:
            assert r["error_distance"] == 0.0  # already disagrees with R: an error at distance 0
        assert "error_distance" not in inst["results"]["three"]
    off = CliRunner().invoke(app, [*args, "--error-distance", "off", "--out", str(tmp_path / "off")])
    assert off.exit_code == 0, off.output
    assert "error_pairwise" not in json.loads((tmp_path / "off" / "results.json").read_text())


def test_a_bundle_may_skip_the_error_search_but_keeps_agreement_and_semantics(labelled_bundle, onnx_factory, tmp_path):
    """A bundle whose manifest says ``error_distance_default: skip`` (cifar10: the search would about
    double a photo scan) gives R's agreement and the semantics check without the error search;
    ``--error-distance on`` searches it; a cut scan resumes to the same results."""
    from auditor import faults
    from conftest import png_folder

    skip = shutil.copytree(labelled_bundle, tmp_path / "skip")
    manifest = json.loads((skip / "manifest.json").read_text())
    (skip / "manifest.json").write_text(json.dumps(manifest | {"error_distance_default": "skip"}))
    images = png_folder(tmp_path / "imgs", blob_images(8, seed=9), "img")
    model = onnx_factory("two.onnx", classes=2, seed=1)
    args = ["scan", str(model), str(images), "--generator", str(skip), "--samples", "8", "--refine-steps", "0",
            "--batch", "2", "--format", "json,html,md"]

    def run(out, *extra, env=None):
        faults._hits.clear()
        return CliRunner().invoke(app, [*args, "--out", str(out), *extra], env={"COLUMNS": "250", **(env or {})})

    result = run(tmp_path / "skipped")
    assert result.exit_code == 0, result.output
    assert "not searched by default" in result.output and "skipped" in result.output
    res = json.loads((tmp_path / "skipped" / "results.json").read_text())
    two = res["models"][0]
    assert two["error_distance"] is None and two["agreement_with_reference"] is not None
    sem = two["semantics"]
    assert sem["n_kept_class"] + sem["n_changed_class"] + sem["n_disagrees"] == sem["n_images"] == 8
    assert res["generator"]["reference_classifier"]["models"] == ["two"]
    assert res["generator"]["reference_classifier"]["error_distance_models"] == []
    assert all("error_distance" not in inst["results"]["two"] for inst in res["instances"])
    assert "not searched" in (tmp_path / "skipped" / "index.html").read_text()
    assert "not searched" in (tmp_path / "skipped" / "model-card.md").read_text()
    on = run(tmp_path / "on", "--error-distance", "on")
    assert on.exit_code == 0, on.output
    res_on = json.loads((tmp_path / "on" / "results.json").read_text())
    assert res_on["models"][0]["error_distance"]["queries"] > 0
    assert res_on["models"][0]["agreement_with_reference"] == two["agreement_with_reference"]
    assert res_on["search"]["decodes"] > res["search"]["decodes"]
    assert run(tmp_path / "cut", env={"AUDITOR_FAULT": "between-batches:INT"}).exit_code == 130
    assert run(tmp_path / "cut", "--resume").exit_code == 0
    cut = json.loads((tmp_path / "cut" / "results.json").read_text())
    assert cut["instances"] == res["instances"] and cut["models"] == res["models"]


def test_error_distance_on_needs_a_reference(tiny_bundle, onnx_factory, digits_dir, tmp_path):
    result = CliRunner().invoke(app, ["scan", str(onnx_factory()), str(digits_dir), "--generator", str(tiny_bundle),
                                      "--error-distance", "on", "--out", str(tmp_path / "r")])
    assert result.exit_code == 2 and "ships no reference classifier" in result.output


def test_an_interrupted_scan_with_error_distances_resumes_to_the_same_results(labelled_bundle, onnx_factory, tmp_path):
    from auditor import faults
    from conftest import png_folder

    images = png_folder(tmp_path / "imgs", blob_images(8, seed=9), "img")
    model = onnx_factory("two.onnx", classes=2, seed=1)
    args = ["scan", str(model), str(images), "--generator", str(labelled_bundle), "--samples", "8", "--refine-steps", "0",
            "--batch", "2", "--format", "json"]

    def run(out, *extra, env=None):
        faults._hits.clear()
        return CliRunner().invoke(app, [*args, "--out", str(out), *extra], env=env)

    assert run(tmp_path / "straight").exit_code == 0
    assert run(tmp_path / "cut", env={"AUDITOR_FAULT": "between-batches:INT"}).exit_code == 130
    assert run(tmp_path / "cut", "--resume").exit_code == 0

    def comparable(path):
        res = json.loads((path / "results.json").read_text())
        return res["instances"], [{k: v for k, v in m.items()} for m in res["models"]], res["error_pairwise"]

    assert comparable(tmp_path / "cut") == comparable(tmp_path / "straight")


def test_labels_from_class_folders(tmp_path):
    from PIL import Image

    for cls, kind in (("wide", 0), ("tall", 1)):
        (tmp_path / "data" / cls).mkdir(parents=True)
        for k in range(12):
            Image.fromarray(blob_images(24, seed=4)[2 * k + kind]).save(tmp_path / "data" / cls / f"{k}.png")
    out = tmp_path / "g"
    args = ["train-generator", str(tmp_path / "data"), "--out", str(out), "--family", "mlp", "--hidden", "16",
            "--latent-dim", "3", "--steps", "10", "--batch-size", "8", "--reference-steps", "50"]
    result = CliRunner().invoke(app, [*args, "--labels", "folders"])
    assert result.exit_code == 0, result.output
    record = json.loads((out / "manifest.json").read_text())["reference_classifier"]
    assert record["class_names"] == ["tall", "wide"]  # sorted folder names
    loose = tmp_path / "data" / "loose.png"
    Image.fromarray(blob_images(1)[0]).save(loose)
    refused = CliRunner().invoke(app, [*args, "--labels", "folders", "--out", str(tmp_path / "h")])
    assert refused.exit_code == 2 and "loose.png" in refused.output and "sub-folder" in refused.output


def test_class_names_of_an_npz_name_the_reference_classes(tmp_path):
    data = tmp_path / "photos.npz"
    np.savez(data, images=blob_images(24, seed=4), labels=np.arange(24) % 2, class_names=np.array(["wide", "tall"]))
    out = tmp_path / "g"
    result = CliRunner().invoke(app, ["train-generator", str(data), "--out", str(out), "--family", "mlp", "--hidden",
                                      "16", "--latent-dim", "3", "--steps", "10", "--batch-size", "8",
                                      "--reference-steps", "20"])
    assert result.exit_code == 0, result.output
    record = json.loads((out / "manifest.json").read_text())["reference_classifier"]
    assert record["class_names"] == ["wide", "tall"]


def test_validate_generator_records_which_figure_to_read_as_accuracy(labelled_bundle, onnx_factory, tmp_path):
    bundle = shutil.copytree(labelled_bundle, tmp_path / "bundle")
    labelled = tmp_path / "labelled.npz"
    np.savez(labelled, images=blob_images(40, seed=11), labels=np.arange(40) % 2)
    models = [str(onnx_factory(f"m{k}.onnx", classes=2, seed=k)) for k in range(3)]
    args = ["validate-generator", str(bundle), *models, "--labelled", str(labelled)]
    result = CliRunner().invoke(app, args, env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "read as accuracy" in result.output and "coarse" in result.output
    record = json.loads((bundle / "manifest.json").read_text())["validation"]
    assert record["n_models"] == 3 and record["n_images"] == {"validation": 20, "test": 20}
    assert record["figure"] in record["spearman_validation"]
    assert {"mean_dz", "agreement_with_reference", "majority_agreement", "consensus_accuracy", "dawid_skene"} <= set(
        record["spearman_test"])
    scan = CliRunner().invoke(app, ["scan", *models, str(labelled), "--generator", str(bundle), "--samples", "4",
                                    "--refine-steps", "0", "--format", "json", "--out", str(tmp_path / "s")])
    assert scan.exit_code == 0 and "on generator labelled's validation (3 models" in scan.output.replace("\n", " ")
    scanned = json.loads((tmp_path / "s" / "results.json").read_text())
    assert all(record["read_as_accuracy"] in m for m in scanned["models"])  # names a field of every model entry
    few = CliRunner().invoke(app, ["validate-generator", str(bundle), *models[:2], "--labelled", str(labelled)])
    assert few.exit_code == 2 and "three or more" in few.output
    bundled = CliRunner().invoke(app, ["validate-generator", "mnist", *models, "--labelled", str(labelled)])
    assert bundled.exit_code == 2 and "bundled generator" in bundled.output


def test_the_gate_can_compare_error_distances(labelled_bundle, onnx_factory, tmp_path):
    from conftest import png_folder

    images = png_folder(tmp_path / "imgs", blob_images(10, seed=9), "img")
    a, b, c = (onnx_factory(f"{n}.onnx", classes=k, seed=s) for n, k, s in (("a", 2, 1), ("b", 2, 2), ("c", 3, 3)))
    common = [str(images), "--generator", str(labelled_bundle), "--samples", "8", "--refine-steps", "0",
              "--format", "json", "--baseline", "a", "--fail-if-worse", "--gate-on", "error-distance"]
    result = CliRunner().invoke(app, ["scan", str(a), str(b), *common, "--out", str(tmp_path / "r")])
    assert result.exit_code in (0, 1), result.output
    gate = json.loads((tmp_path / "r" / "results.json").read_text())["gate"]
    assert gate["on"] == "distance to the nearest natural error" and gate["checks"][0]["candidate"] == "b"
    refused = CliRunner().invoke(app, ["scan", str(a), str(c), *common, "--out", str(tmp_path / "s")])
    assert refused.exit_code == 2 and "apply to every model" in refused.output
