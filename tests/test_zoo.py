"""A zoo of 30 models: the scan writes every output, and the report's layouts for many models hold."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from auditor.cli import app


@pytest.mark.slow
def test_thirty_models_write_html_pdf_and_card(onnx_factory, digits_dir, tiny_bundle, tmp_path):
    from pypdf import PdfReader

    models = [onnx_factory(f"m{k:02d}.onnx", classes=2 + k % 5, seed=k) for k in range(30)]
    out = tmp_path / "r"
    result = CliRunner().invoke(app, ["scan", *map(str, models), str(digits_dir), "--generator", str(tiny_bundle),
                                      "--out", str(out), "--samples", "8", "--refine-steps", "0", "--max-steps", "10",
                                      "--baseline", "m07"])
    assert result.exit_code == 0, result.output
    assert "435 pairwise sign tests" in result.stdout  # not 435 lines
    res = json.loads((out / "results.json").read_text())
    order = [n for g in res["ranking"] for n in g]
    assert sorted(order) == sorted(f"m{k:02d}" for k in range(30))
    for m in res["models"]:
        assert m["letters"] and m["rank"] in range(1, 31) and m["rank_ci"][0] <= m["rank"] <= m["rank_ci"][1]
    html = (out / "index.html").read_text()
    assert 'class="pmatrix"' in html and html.count('<th class="rowname">') == 30
    assert "ranked first" in html and "most fragile on this image" in html and "baseline" in html
    assert html.count('<div class="strip">') <= 3 * 4  # strips for the gallery's columns, not 30 models
    pdf = PdfReader(out / "report.pdf")
    text = "".join(page.extract_text() for page in pdf.pages)
    assert "Pairwise sign tests" in text and "Class flow" in text and "m07" in text
    assert len(pdf.pages) < 25
    card = (out / "model-card.md").read_text()
    assert "(baseline)" in card and "(ranked first)" in card
