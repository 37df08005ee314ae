"""Comparing models without labels: degenerate models and the release gate."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from auditor import stats
from auditor.cli import app

ROOT = Path(__file__).resolve().parents[1]
EXE = str(Path(sys.executable).with_name("auditor"))


@pytest.fixture
def constant_model(tmp_path) -> Path:
    import torch

    class Constant(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.zeros(x.shape[0], 10) + torch.arange(10.0)  # always class 9

    path = tmp_path / "constant.pt"
    torch.jit.script(Constant()).save(str(path))
    return path


def test_constant_model_is_flagged_degenerate_and_ranked_last(constant_model, onnx_factory, digits_dir, tiny_bundle, tmp_path):
    out = tmp_path / "o"
    result = CliRunner().invoke(app, ["scan", str(constant_model), str(onnx_factory()), str(digits_dir), "--generator",
                                      str(tiny_bundle), "--out", str(out), "--samples", "20", "--refine-steps", "0"])
    assert result.exit_code == 0, result.output
    assert "constant is degenerate" in result.output
    res = json.loads((out / "results.json").read_text())
    models = {m["name"]: m for m in res["models"]}
    assert models["constant"]["degenerate"] and models["constant"]["classes_used"] == 1
    assert models["constant"]["n_censored"] == 8  # never flipped: it would look "most robust"
    assert res["ranking"][0] == ["linear"] and res["ranking"][-1] == ["constant"]


def test_diversity_thresholds():
    assert stats.diversity(np.zeros(5, int))["degenerate"]
    assert stats.diversity(np.r_[np.zeros(19, int), 1])["degenerate"]  # 95% one class of 20
    assert not stats.diversity(np.r_[np.zeros(18, int), 1, 2])["degenerate"]
    assert stats.diversity(np.arange(4))["entropy_bits"] == pytest.approx(2.0)


def test_friedman_needs_three_models_and_detects_a_difference():
    rng = np.random.default_rng(0)
    base = rng.gamma(4, 0.25, 50)
    assert stats.friedman({"a": base, "b": base}) is None
    result = stats.friedman({"a": base, "b": base + 0.5, "c": base + 1.0})
    assert result["p_value"] < 1e-6 and result["n_images"] == 50


@pytest.mark.slow
def test_fail_if_worse_on_the_example_models(tmp_path):
    common = ["examples/digits", "--limit", "30", "--baseline", "lenet", "--fail-if-worse", "--error-distance", "off"]
    weaker = subprocess.run([EXE, "scan", "examples/models/lenet.onnx", "examples/models/rf5.onnx", *common,
                             "--out", str(tmp_path / "a")], cwd=ROOT, capture_output=True, text=True)
    assert weaker.returncode == 1, weaker.stdout + weaker.stderr
    assert "gate FAILED" in weaker.stdout and "rf5 is less robust than lenet" in weaker.stdout
    # auto read both models' scores, each kind its own way (rf5's walk for twice the steps), and
    # says so in the log, results.json and the report's set-up
    why = "auto: each model is walked its own way (rf5: flat between jumps; lenet: smooth)"
    assert why in " ".join((weaker.stdout + weaker.stderr).split())
    first = json.loads((tmp_path / "a" / "results.json").read_text())
    assert first["search"]["algorithm"] == "margin" and first["search"]["chosen"].startswith(why)
    assert why in (tmp_path / "a" / "index.html").read_text()
    copy = tmp_path / "lenet_v2.onnx"
    shutil.copy(ROOT / "examples/models/lenet.onnx", copy)
    equal = subprocess.run([EXE, "scan", "examples/models/lenet.onnx", str(copy), *common, "--out", str(tmp_path / "b")],
                           cwd=ROOT, capture_output=True, text=True)
    assert equal.returncode == 0, equal.stdout + equal.stderr
    assert "gate passed" in equal.stdout
    res = json.loads((tmp_path / "b" / "results.json").read_text())
    assert res["gate"]["failed"] is False and res["gate"]["checks"][0]["ties"] > 0
    assert res["search"]["algorithm"] == "margin"  # two networks: their scores steer the walk


def test_gate_options_are_checked(onnx_factory, digits_dir, tmp_path):
    runner = CliRunner()
    model = str(onnx_factory())
    r = runner.invoke(app, ["scan", model, str(digits_dir), "--fail-if-worse"])
    assert r.exit_code == 2 and "needs --baseline" in r.output
    r = runner.invoke(app, ["scan", model, model, str(digits_dir), "--baseline", "nope"])
    assert r.exit_code == 2 and "must name one of" in r.output
