"""import-generator: a bundle from an ONNX decoder and encoder, checked and usable everywhere."""

from __future__ import annotations

import json
import pickle
import warnings

import numpy as np
import pytest
from typer.testing import CliRunner

from auditor.cli import app
from auditor.generators import load_generator

runner = CliRunner()


def export(module, example, path, name_in, name_out):
    import torch

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the legacy exporter's deprecation notice
        torch.onnx.export(module, example, str(path), input_names=[name_in], output_names=[name_out],
                          dynamic_axes={name_in: {0: "N"}, name_out: {0: "N"}}, dynamo=False)
    return path


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """The bundled mnist VAE as ONNX: G (N, 16) -> (N, 1, 28, 28), E (N, 1, 28, 28) -> (N, 32)."""
    import torch
    from torch import nn

    gen = load_generator("mnist", device="cpu")
    folder = tmp_path_factory.mktemp("onnx")
    g = export(nn.Sequential(gen.decoder, nn.Unflatten(1, (1, 28, 28))).eval(), torch.zeros(2, 16),
               folder / "G.onnx", "z", "x")
    e = export(nn.Sequential(nn.Flatten(), gen.encoder).eval(), torch.zeros(2, 1, 28, 28), folder / "E.onnx", "x", "z")
    return folder, g, e


def test_an_imported_mnist_vae_gives_the_native_bundles_dz(exported, tmp_path):
    from conftest import _linear_onnx

    folder, g, e = exported
    bundle = tmp_path / "imported"
    result = runner.invoke(app, ["import-generator", "--decoder", str(g), "--encoder", str(e), "--images",
                                 "examples/digits", "--out", str(bundle)])
    assert result.exit_code == 0, result.output
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert manifest["family"] == "onnx" and manifest["latent_dim"] == 16 and manifest["image_shape"] == [1, 28, 28]
    assert manifest["encoder_output"] == "mean, log-variance" and set(manifest["files"]) == {"decoder.onnx", "encoder.onnx"}
    listed = runner.invoke(app, ["generators", str(bundle)], env={"COLUMNS": "250"})
    assert listed.exit_code == 0 and "onnx" in listed.output

    model = _linear_onnx(tmp_path / "m.onnx", ["N", 1, 28, 28])
    # --search local: its walk keeps its path through the ~1e-6 differences between the ONNX and
    # the torch decoder; the boundary search (the default) probes and bisects right at the
    # boundary, where such a difference flips a label and moves the path (2 of these 8 dz differ)
    common = ["examples/digits", "--limit", "8", "--refine-steps", "0", "--format", "json,html",
              "--search", "local"]
    native = runner.invoke(app, ["scan", str(model), *common, "--generator", "mnist", "--out", str(tmp_path / "a")])
    imported = runner.invoke(app, ["scan", str(model), *common, "--generator", str(bundle), "--out", str(tmp_path / "b")])
    assert native.exit_code == 0 and imported.exit_code == 0, imported.output
    dz = [np.array([i["results"]["m"]["delta_z"] or np.nan for i in json.loads((tmp_path / d / "results.json").read_text())["instances"]])
          for d in ("a", "b")]
    np.testing.assert_allclose(dz[0], dz[1], atol=1e-3)
    redrawn = runner.invoke(app, ["report", str(tmp_path / "b" / "results.json"), "--format", "html"])
    assert redrawn.exit_code == 0, redrawn.output
    with_refinement = runner.invoke(app, ["scan", str(model), "examples/digits", "--limit", "2", "--generator", str(bundle),
                                          "--format", "json", "--out", str(tmp_path / "c")])
    assert with_refinement.exit_code == 0 and "without gradients" in with_refinement.output


def test_bad_imports_are_one_line_errors(exported, tmp_path):
    import torch
    from torch import nn

    folder, g, e = exported
    gen = load_generator("mnist", device="cpu")
    flat = export(gen.decoder, torch.zeros(2, 16), tmp_path / "flat.onnx", "z", "x")  # (N, 784): no image shape
    raw = export(nn.Sequential(gen.decoder[:-1], nn.Unflatten(1, (1, 28, 28))).eval(), torch.zeros(2, 16),
                 tmp_path / "logits.onnx", "z", "x")  # no sigmoid: pixels outside [0, 1]
    pickled = tmp_path / "G.onnx.pkl"
    pickled.write_bytes(pickle.dumps({"weights": [1, 2, 3]}))
    wrong_e = export(nn.Sequential(nn.Flatten(), nn.Linear(784, 5)).eval(), torch.zeros(2, 1, 28, 28),
                     tmp_path / "E5.onnx", "x", "z")
    cases = [(flat, e, "(N, C, H, W)"), (raw, e, "[0, 1]"), (pickled, e, "not a loadable ONNX model"),
             (g, wrong_e, "(N, 16) or (N, 32)"), (g, tmp_path / "missing.onnx", "does not exist")]
    for decoder, encoder, words in cases:
        result = runner.invoke(app, ["import-generator", "--decoder", str(decoder), "--encoder", str(encoder),
                                     "--images", "examples/digits", "--out", str(tmp_path / "x")])
        assert result.exit_code == 2, (words, result.output)
        assert words in result.output and "Traceback" not in result.output


def test_an_imported_bundle_can_bring_its_reference_classifier(exported, tmp_path):
    import torch
    from PIL import Image

    from conftest import _linear_onnx

    folder, g, e = exported
    gen = load_generator("mnist", device="cpu")
    r = export(gen.reference.net.eval(), torch.zeros(2, 1, 28, 28), tmp_path / "R.onnx", "x", "scores")
    files = sorted((p for p in __import__("pathlib").Path("examples/digits").glob("*.png")))[:30]
    images = np.stack([np.asarray(Image.open(p)) for p in files])
    np.savez(tmp_path / "labelled.npz", images=images, labels=np.array([int(p.name.split("_")[0]) for p in files]))
    bundle = tmp_path / "with-r"
    result = runner.invoke(app, ["import-generator", "--decoder", str(g), "--encoder", str(e), "--images",
                                 str(tmp_path / "labelled.npz"), "--out", str(bundle), "--reference", str(r)])
    assert result.exit_code == 0, result.output
    record = json.loads((bundle / "manifest.json").read_text())["reference_classifier"]
    assert record["architecture"] == "onnx" and record["accuracy"] >= 0.9 and record["n_images"] == 30
    model = _linear_onnx(tmp_path / "m.onnx", ["N", 1, 28, 28], classes=10)
    scan = runner.invoke(app, ["scan", str(model), "examples/digits", "--limit", "6", "--generator", str(bundle),
                               "--format", "json", "--samples", "4", "--out", str(tmp_path / "s")])
    assert scan.exit_code == 0, scan.output
    res = json.loads((tmp_path / "s" / "results.json").read_text())
    assert res["models"][0]["error_distance"] is not None
    wrong = runner.invoke(app, ["import-generator", "--decoder", str(g), "--encoder", str(e), "--images",
                                "examples/digits", "--out", str(tmp_path / "x"), "--reference", str(g)])
    assert wrong.exit_code == 2 and "Traceback" not in wrong.output
