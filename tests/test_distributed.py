"""A scan on a local Ray cluster: results identical to one process, resume, a killed worker."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from auditor.cli import app

pytest.importorskip("ray")

ROOT = Path(__file__).resolve().parents[1]
ARGS = ["scan", str(ROOT / "examples/models/lenet.onnx"), str(ROOT / "examples/models/mlp.pt"),
        str(ROOT / "examples/digits"), "--limit", "16", "--batch", "2", "--format", "json",
        "--samples", "30", "--step", "0.2", "--refine-steps", "5"]


def comparable(folder: Path) -> dict:
    res = json.loads((folder / "results.json").read_text())
    return {k: res[k] for k in ("instances", "models", "pairwise", "ranking", "complete")} | {
        "search": {k: v for k, v in res["search"].items() if not k.startswith("seconds")} | {"decodes": None}}


@pytest.fixture(scope="module")
def single(tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("single")
    result = CliRunner().invoke(app, [*ARGS, "--out", str(out)])
    assert result.exit_code == 0, result.output
    return comparable(out)


@pytest.mark.slow
def test_two_workers_give_the_single_process_results_even_when_one_is_killed(single, tmp_path):
    marker = tmp_path / "killed"
    result = CliRunner().invoke(app, [*ARGS, "--out", str(tmp_path / "ray"), "--workers", "2"],
                                env={"AUDITOR_FAULT_WORKER": str(marker)})
    assert result.exit_code == 0, result.output
    assert marker.exists()  # a worker process was SIGKILLed mid-scan and its unit retried
    assert single["search"]["algorithm"] == "margin"  # auto's choice: both models' scores smooth
    assert comparable(tmp_path / "ray") == single


@pytest.mark.slow
def test_an_interrupted_distributed_scan_resumes_to_the_same_results(single, tmp_path):
    out = tmp_path / "ray"
    stopped = CliRunner().invoke(app, [*ARGS, "--out", str(out), "--workers", "2"],
                                 env={"AUDITOR_FAULT": "between-batches:INT"})
    assert stopped.exit_code == 130 and "--resume" in stopped.output, stopped.output
    partial = json.loads((out / "results.json").read_text())
    assert partial["complete"] is False and 0 < partial["progress"]["done"] < 16
    resumed = CliRunner().invoke(app, [*ARGS, "--out", str(out), "--workers", "2", "--resume"])
    assert resumed.exit_code == 0, resumed.output
    assert comparable(out) == single


def test_without_ray_the_option_says_what_to_install(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    result = CliRunner().invoke(app, [*ARGS, "--out", str(tmp_path / "o"), "--workers", "2"])
    assert result.exit_code == 2 and "pip install 'auditor[ray]'" in result.output


def test_in_memory_models_cannot_travel(tmp_path):
    import numpy as np

    import auditor

    with pytest.raises(auditor.OptionError, match="in memory"):
        auditor.scan({"f": lambda x: np.zeros(len(x), dtype=np.int64)}, ROOT / "examples/digits", workers=2)
    with pytest.raises(auditor.OptionError, match="--workers must be 1 or more"):
        auditor.scan(ROOT / "examples/models/lenet.onnx", ROOT / "examples/digits", workers=0)


@pytest.mark.slow
def test_a_model_failing_in_a_worker_stops_the_scan_with_one_line_and_saves_what_finished(tmp_path):
    """A unit that fails for a model reason (here the model raises on a bright image, the last
    one) is not retried: the scan stops with the model's one-line error, exit 2 (bad input), and
    the images searched before it are in results.json for --resume."""
    import shutil

    import numpy as np
    import torch
    from PIL import Image

    class Picky(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            torch.manual_seed(0)
            self.fc = torch.nn.Linear(784, 10)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            flat = x.reshape(x.shape[0], 784)
            if bool((flat.mean(dim=1) > 0.9).any()):
                raise RuntimeError("picky: bright image")
            return self.fc(flat)

    model = tmp_path / "picky.pt"
    torch.jit.script(Picky().eval()).save(str(model))
    images = tmp_path / "images"
    images.mkdir()
    for src in sorted((ROOT / "examples/digits").glob("*.png"))[:7]:
        shutil.copy(src, images / src.name)
    Image.fromarray(np.full((28, 28), 255, dtype=np.uint8)).save(images / "zz_white.png")  # sorted last
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["scan", str(model), str(images), "--out", str(out), "--workers", "2",
                                      "--generator", "mnist", "--batch", "2", "--format", "json", "--samples", "30",
                                      "--step", "0.2", "--refine-steps", "5", "--error-distance", "off"])
    assert result.exit_code == 2, result.output
    assert "picky.pt: inference failed" in result.output and "picky: bright image" in result.output
    assert "Traceback" not in result.output and "internal error" not in result.output
    partial = json.loads((out / "results.json").read_text())
    # units of 2 images: the three before the bright image's are waited for and kept, whatever finished first
    assert partial["complete"] is False and partial["progress"]["done"] == 6
