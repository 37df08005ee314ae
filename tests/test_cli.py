"""End-to-end: the real CLI on ONNX, TorchScript and scikit-learn-exported models."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from auditor.cli import app

runner = CliRunner()
FAST = ["--samples", "30", "--step", "0.2", "--refine-steps", "5"]


def scan(*args: str):
    return runner.invoke(app, ["scan", *map(str, args)])


@pytest.fixture
def three_models(onnx_factory, torchscript_model, sklearn_model):
    return [onnx_factory("linear.onnx"), torchscript_model, sklearn_model]


def test_scan_three_formats_writes_results_and_report(three_models, digits_dir, tiny_bundle, tmp_path):
    out = tmp_path / "report"
    result = scan(*three_models, digits_dir, "--generator", tiny_bundle, "--out", out, *FAST)
    assert result.exit_code == 0, result.output
    res = json.loads((out / "results.json").read_text())
    assert [m["name"] for m in res["models"]] == ["linear", "mlp", "rf"]
    assert res["generator"] == res["generator"] | {"name": "tiny", "latent_dim": 4}
    # --search auto: margin; the forest's scores are flat between jumps: its walk is stretched
    assert res["search"]["algorithm"] == "margin" and res["search"]["seed"] == 0
    assert res["search"]["stretched"] == ["rf"]
    for m in res["models"]:
        assert m["n_images"] == 8 and isinstance(m["queries"], int) and m["queries"] >= 16
        assert 0.0 <= m["reconstruction_agreement"] <= 1.0
        assert isinstance(m["n_censored"], int)
        assert m["mean_delta_z"] is None or m["mean_delta_z"] > 0
    assert len(res["instances"]) == 8
    for inst in res["instances"]:
        for name in ("linear", "mlp", "rf"):
            r = inst["results"][name]
            assert set(r) >= {"prediction", "adversary_prediction", "delta_z", "censored", "reconstruction_changed_label"}
            if r["delta_z"] is not None:
                assert r["adversary_prediction"] != r["prediction"] and not r["censored"]
    html = (out / "index.html").read_text()
    assert "img_00.png" in html and "Pairwise sign tests" in html
    assert "Natural-adversary distance" in result.output


def test_same_seed_gives_identical_delta_z(three_models, digits_dir, tiny_bundle, tmp_path):
    runs = []
    for k in range(2):
        out = tmp_path / f"run{k}"
        assert scan(*three_models, digits_dir, "--generator", tiny_bundle, "--out", out, "--seed", "7", *FAST).exit_code == 0
        res = json.loads((out / "results.json").read_text())
        runs.append([{m: (r["delta_z"], r["adversary_prediction"]) for m, r in i["results"].items()} for i in res["instances"]])
    assert runs[0] == runs[1]


def test_iterative_search_and_limit(onnx_factory, digits_dir, tiny_bundle, tmp_path):
    out = tmp_path / "it"
    result = scan(onnx_factory(), digits_dir, "--generator", tiny_bundle, "--out", out, "--search", "iterative", "--limit", "3", *FAST)
    assert result.exit_code == 0, result.output
    res = json.loads((out / "results.json").read_text())
    assert res["search"]["algorithm"] == "iterative" and len(res["instances"]) == 3


@pytest.mark.parametrize(
    "args, message",
    [(["missing.onnx", "DATA"], "does not exist"),
     (["MODEL", "nowhere/"], "does not exist"),
     (["MODEL", "DATA", "--search", "magic"], "unknown search algorithm"),
     (["MODEL", "DATA", "--limit", "0"], "--limit must be positive"),
     (["MODEL", "DATA", "--max-radius", "-1"], "--max-radius"),
     (["MODEL", "DATA", "--generator", "nope"], "generator 'nope' not found"),
     (["DATA"], "expected one or more model files"),
     (["MODEL", "DATA", "--normalize", "a,b"], "--normalize expects")],
)
def test_bad_input_is_one_line_and_exit_2(onnx_factory, digits_dir, tiny_bundle, tmp_path, args, message):
    model = onnx_factory()
    args = [str(model) if a == "MODEL" else str(digits_dir) if a == "DATA" else a for a in args]
    if "--generator" not in args:
        args += ["--generator", str(tiny_bundle)]
    result = runner.invoke(app, ["scan", *args, "--out", str(tmp_path / "o")])
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output
    assert result.output.strip().startswith("error:") and len(result.output.strip().splitlines()) <= 3


def test_skipped_files_are_listed(onnx_factory, digits_dir, tiny_bundle, tmp_path):
    (digits_dir / "broken.png").write_text("not a png")
    result = scan(onnx_factory(), digits_dir, "--generator", tiny_bundle, "--out", tmp_path / "o", *FAST)
    assert result.exit_code == 0
    assert "skipped 1 unreadable" in result.output and "broken.png" in result.output
    res = json.loads((tmp_path / "o" / "results.json").read_text())
    assert res["data"]["skipped"][0]["file"] == "broken.png"


def test_train_generator_trains_and_resumes(digits_dir, tmp_path):
    out = tmp_path / "gen"
    common = ["train-generator", str(digits_dir), "--out", str(out), "--family", "mlp", "--latent-dim", "4", "--hidden", "32", "--batch-size", "8"]
    first = runner.invoke(app, [*common, "--steps", "20"])
    assert first.exit_code == 0, first.output
    resumed = runner.invoke(app, [*common, "--steps", "20", "--resume"])
    assert resumed.exit_code == 0, resumed.output
    other = runner.invoke(app, [*common, "--steps", "30", "--resume"])
    assert other.exit_code == 2 and "other settings" in other.output
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["training"]["config"]["steps"] == 20 and manifest["reference"]["recon_mse_mean"] >= 0
    model = tmp_path / "m.onnx"
    from conftest import _linear_onnx

    _linear_onnx(model, ["N", 1, 28, 28])
    result = scan(model, digits_dir, "--generator", out, "--out", tmp_path / "o", *FAST)
    assert result.exit_code == 0, result.output


@pytest.mark.slow
def test_the_readme_example_scan_with_the_bundled_generator(tmp_path):
    """The real console script on the bundled examples: the most accurate model (LeNet)
    needs the larger mean dz than the 5-tree forest."""
    root = Path(__file__).resolve().parents[1]
    exe = Path(sys.executable).with_name("auditor")
    out = tmp_path / "example"
    proc = subprocess.run(
        [str(exe), "scan", "examples/models/lenet.onnx", "examples/models/rf5.onnx", "examples/digits",
         "--out", str(out), "--limit", "30"],
        cwd=root, capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    res = json.loads((out / "results.json").read_text())
    mean = {m["name"]: m["mean_delta_z"] for m in res["models"]}
    assert mean["lenet"] > mean["rf5"]
    assert np.isfinite(mean["lenet"])


def test_tied_models_on_few_images_get_a_hint(onnx_factory, digits_dir, tiny_bundle, tmp_path):
    model = onnx_factory("a.onnx")
    twin = onnx_factory("b.onnx")  # the same weights: never separable
    result = scan(model, twin, digits_dir, "--generator", tiny_bundle, "--out", tmp_path / "o", *FAST, "--format", "json")
    assert result.exit_code == 0, result.output
    assert "a = b" in result.output
    assert "scan 1,000 or more to compare close versions" in " ".join(result.output.split())
