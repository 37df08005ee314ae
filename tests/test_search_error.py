"""The search-error estimate: how far above the best adversary a long search finds the scan's
search stops, per model, shown and stored; deterministic, and the same after --resume."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from auditor.cli import app
from auditor.search.estimate import auto_error_images, min_inputs
from auditor.search.local import ANCHORS

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
        assert e["gap"] >= 0 and e["n"] >= 1  # never below the best known
        assert e["long_queries_per_image"] > m["queries_per_image"]  # the long search: longer
    # per model the long search that gets closest for its kind: lenet's scores are smooth
    assert res["search_error"]["long_search"] == (
        "--search margin --samples 16 --max-steps 200 (lenet, rf5); "
        "--search local --samples 32 --max-steps 200 --step 0.002 (rf5)")
    assert "; 4 images give intervals ±" in first.output  # fewer than 20: how wide, in words
    assert "Search error" in (tmp_path / "a" / "model-card.md").read_text()
    stopped = CliRunner().invoke(app, [*ARGS, "--out", str(tmp_path / "b")], env={"AUDITOR_FAULT": "between-batches:INT"})
    assert stopped.exit_code == 130
    resumed = CliRunner().invoke(app, [*ARGS, "--out", str(tmp_path / "b"), "--resume"])
    assert resumed.exit_code == 0, resumed.output
    again = json.loads((tmp_path / "b" / "results.json").read_text())
    assert [m["search_error"] for m in again["models"]] == [m["search_error"] for m in res["models"]]
    assert again["search_error"]["indices"] == res["search_error"]["indices"]


def test_auto_estimates_only_where_it_costs_little():
    """By default on 20 inputs, from as many as fit 4 long searches within 15% of the scan's
    queries: a long search costs up to 6x the scan's queries per image, 15x per text."""
    assert min_inputs("image") == 160 and min_inputs("text") == 400
    assert auto_error_images(159) == 0 and auto_error_images(160) == 20
    assert auto_error_images(10_000) == 20
    assert auto_error_images(399, "text") == 0 and auto_error_images(400, "text") == 20


def test_not_estimated_says_how(tmp_path):
    result = CliRunner().invoke(app, [*ARGS[:-2], "--search-error", "auto", "--limit", "4", "--out", str(tmp_path / "o")],
                                env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    assert "search error: not estimated on 4 images" in result.output and "--search-error 10" in result.output
    bad = CliRunner().invoke(app, [*ARGS[:-2], "--search-error", "many", "--out", str(tmp_path / "x")])
    assert bad.exit_code == 2 and "--search-error takes auto, off or a number" in bad.output


def test_a_budget_stops_the_long_search_before_a_group_that_would_pass_it():
    from auditor.search import SearchSettings, search
    from auditor.search.estimate import GROUP, search_error_estimate
    from conftest import HalfSpace, LinearGenerator

    gen = LinearGenerator(latent_dim=3, seed=0)
    z = np.random.default_rng(1).standard_normal((12, 3)).astype(np.float32) * 0.8
    images = gen.decode(z)
    w = np.random.default_rng(2).standard_normal(16).astype(np.float32)
    clf = HalfSpace("half", w, b=0.0)
    settings = SearchSettings(samples=8, step=0.05, max_radius=6.0, refine_steps=0, seed=3)
    scan = search(gen, [clf], images, settings)
    full = search_error_estimate(gen, [clf], images, scan, settings, k=6)
    assert full["images"] == 6 and "budget" not in full
    assert full["models"]["half"]["gap"] >= 0
    cheap = search_error_estimate(gen, [clf], images, scan, settings, k=6, budget=1e-6)
    assert cheap["images"] == GROUP and cheap["indices"] == full["indices"][:GROUP]
    assert cheap["budget"] == 1e-6 and cheap["models"]["half"]["long_queries_per_image"] > 0
    # the budget is a share of the scan's queries, so the stop is the same on every run
    spent = GROUP * cheap["models"]["half"]["long_queries_per_image"]  # the first group's queries
    # the next group is expected to cost what the first did less the anchors' labels (once): it
    # runs only where that fits
    both = (2 * spent - ANCHORS) / scan.results["half"].queries.sum()
    short = search_error_estimate(gen, [clf], images, scan, settings, k=6, budget=both * 0.99)
    assert short["images"] == GROUP
    two = search_error_estimate(gen, [clf], images, scan, settings, k=6, budget=both * 1.01)
    assert two["images"] == 2 * GROUP and two["indices"] == full["indices"][:2 * GROUP]


def test_the_long_search_labels_the_anchors_once():
    """Every batch's search starts from the same anchors (prior samples each model labels): the
    estimate's long runs keep each model's labels across its groups, so a group after the first
    is charged only for its own walk, and finds the same adversaries."""
    from auditor.search import SearchSettings, search
    from conftest import HalfSpace, LinearGenerator

    gen = LinearGenerator(latent_dim=3, seed=0)
    images = gen.decode(np.random.default_rng(1).standard_normal((4, 3)).astype(np.float32) * 0.8)
    clf = HalfSpace("half", np.random.default_rng(2).standard_normal(16).astype(np.float32), b=0.0)
    settings = SearchSettings(algorithm="margin", samples=8, max_radius=6.0, refine_steps=0, seed=3)
    kept: dict = {}
    first = search(gen, [clf], images[:2], settings, anchor_labels=kept)
    assert list(kept) == [("half", ANCHORS, 3, 3)]  # model, anchors, latent size, seed
    plain = search(gen, [clf], images[2:], settings, first_index=2)
    again = search(gen, [clf], images[2:], settings, first_index=2, anchor_labels=kept)
    np.testing.assert_array_equal(again.results["half"].delta_z, plain.results["half"].delta_z)
    assert not np.isnan(plain.results["half"].delta_z).all()
    saved = plain.results["half"].queries - again.results["half"].queries
    assert saved.tolist() == [ANCHORS // 2] * 2 and first.results["half"].queries.min() > ANCHORS // 2
