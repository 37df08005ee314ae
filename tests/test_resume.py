"""Nothing lost: an interrupted scan leaves valid partial results, and --resume finishes
them identically to an uninterrupted run."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from auditor.cli import app
from conftest import sigint_default

ROOT = Path(__file__).resolve().parents[1]
EXE = str(Path(sys.executable).with_name("auditor"))
ARGS = ["scan", "examples/models/lenet.onnx", "examples/models/mlp.pt", "examples/digits",
        "--limit", "40", "--batch", "4", "--seed", "3", "--error-distance", "off"]  # errors: test_reference


def comparable(res: dict) -> dict:
    """results.json without what legitimately differs between runs (timings, date)."""
    search = {k: v for k, v in res["search"].items() if not k.startswith("seconds")}
    models = [{k: v for k, v in m.items()} for m in res["models"]]
    return {"search": search, "models": models, "instances": res["instances"], "pairwise": res["pairwise"],
            "ranking": res["ranking"], "complete": res["complete"]}


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupted_then_resumed_equals_uninterrupted(tmp_path, sig):
    out = tmp_path / "interrupted"
    proc = subprocess.Popen([EXE, *ARGS, "--out", str(out)], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, preexec_fn=sigint_default)
    results = out / "results.json"
    deadline = time.monotonic() + 120
    while not results.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "--resume" in err and "Traceback" not in err
    partial = json.loads(results.read_text())
    assert partial["complete"] is False and 4 <= partial["progress"]["done"] < 40
    assert len(partial["instances"]) == partial["progress"]["done"]

    resumed = subprocess.run([EXE, *ARGS, "--out", str(out), "--resume"], cwd=ROOT, capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    assert f"resuming: {partial['progress']['done']} of 40" in resumed.stderr
    straight = subprocess.run([EXE, *ARGS, "--out", str(tmp_path / "straight")], cwd=ROOT, capture_output=True, text=True)
    assert straight.returncode == 0, straight.stderr
    a = comparable(json.loads(results.read_text()))
    b = comparable(json.loads((tmp_path / "straight" / "results.json").read_text()))
    assert b["search"]["algorithm"] == "margin"  # auto's choice here: both models' scores smooth
    assert a == b


def test_results_of_another_scan_need_force(onnx_factory, digits_dir, tiny_bundle, tmp_path):
    runner = CliRunner()
    common = ["--generator", str(tiny_bundle), "--out", str(tmp_path / "o"), "--samples", "20", "--refine-steps", "0"]
    model = str(onnx_factory())
    assert runner.invoke(app, ["scan", model, str(digits_dir), *common]).exit_code == 0
    assert runner.invoke(app, ["scan", model, str(digits_dir), *common]).exit_code == 0  # the same scan again
    other = runner.invoke(app, ["scan", model, str(digits_dir), *common, "--seed", "1"])
    assert other.exit_code == 2 and "different scan" in other.output and "--force" in other.output
    assert runner.invoke(app, ["scan", model, str(digits_dir), *common, "--seed", "1", "--force"]).exit_code == 0
    wrong = runner.invoke(app, ["scan", model, str(digits_dir), *common, "--resume"])
    assert wrong.exit_code == 2 and "different scan" in wrong.output
