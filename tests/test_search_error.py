"""The search-error estimate: how far above the best adversary a long search finds the scan's
search stops, per model, shown and stored; deterministic, and the same after --resume."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from auditor.cli import app
from auditor.scanning import auto_error_images

ROOT = Path(__file__).resolve().parents[1]
ARGS = ["scan", str(ROOT / "examples/models/lenet.onnx"), str(ROOT / "examples/models/rf5.onnx"),
        str(ROOT / "examples/digits"), "--limit", "12", "--batch", "4", "--format", "json,md",
        "--error-distance", "off", "--refine-steps", "5", "--search-error", "4"]


@pytest.mark.slow
def test_estimated_shown_stored_and_identical_after_resume(tmp_path):
    first = CliRunner().invoke(app, [*ARGS, "--out", str(tmp_path / "a")], env={"COLUMNS": "250"})
    assert first.exit_code == 0, first.output
    assert "search error (Δz above the best adversary a long search finds, on 4 of the images): lenet +" in first.output
    res = json.loads((tmp_path / "a" / "results.json").read_text())
    assert res["search_error"]["images"] == 4 and len(res["search_error"]["indices"]) == 4
    for m in res["models"]:
        e = m["search_error"]
        assert e["gap"] >= 0 and e["n"] >= 1 and e["long_queries_per_image"] > 1000  # never below the best known
    assert "Search error" in (tmp_path / "a" / "model-card.md").read_text()
    stopped = CliRunner().invoke(app, [*ARGS, "--out", str(tmp_path / "b")], env={"AUDITOR_FAULT": "between-batches:INT"})
    assert stopped.exit_code == 130
    resumed = CliRunner().invoke(app, [*ARGS, "--out", str(tmp_path / "b"), "--resume"])
    assert resumed.exit_code == 0, resumed.output
    again = json.loads((tmp_path / "b" / "results.json").read_text())
    assert [m["search_error"] for m in again["models"]] == [m["search_error"] for m in res["models"]]
    assert again["search_error"]["indices"] == res["search_error"]["indices"]


def test_auto_estimates_only_where_it_costs_little():
    assert auto_error_images(60) == 0 and auto_error_images(199) == 0
    assert auto_error_images(200) == 8 and auto_error_images(1000) == 20 and auto_error_images(10_000) == 20


def test_not_estimated_says_how(tmp_path):
    result = CliRunner().invoke(app, [*ARGS[:-2], "--search-error", "auto", "--limit", "4", "--out", str(tmp_path / "o")],
                                env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    assert "search error: not estimated on 4 images" in result.output and "--search-error 10" in result.output
    bad = CliRunner().invoke(app, [*ARGS[:-2], "--search-error", "many", "--out", str(tmp_path / "x")])
    assert bad.exit_code == 2 and "--search-error takes auto, off or a number" in bad.output
