from __future__ import annotations

import base64
import json
import re

import numpy as np
from PIL import Image
from typer.testing import CliRunner

from auditor.cli import app
from auditor.gallery import select_gallery
from auditor.pictures import difference_map

HOSTILE = "<img src=x onerror=alert(1)>.png"


def test_html_is_self_contained_and_escapes_file_names(onnx_factory, digits_dir, tiny_bundle, tmp_path):
    Image.fromarray(np.zeros((28, 28), np.uint8)).save(digits_dir / HOSTILE)
    out = tmp_path / "r"
    result = CliRunner().invoke(app, ["scan", str(onnx_factory()), str(digits_dir), "--generator", str(tiny_bundle),
                                      "--out", str(out), "--samples", "20", "--gallery", "20", "--refine-steps", "0"])
    assert result.exit_code == 0, result.output
    html = (out / "index.html").read_text()
    assert HOSTILE not in html
    assert "&lt;img src=x onerror=alert(1)&gt;.png" in html
    for attr in re.findall(r'(?:src|href)\s*=\s*"([^"]*)"', html):
        assert attr.startswith(("data:image/png;base64,", "data:image/svg+xml;base64,", "#")), attr
        if attr.startswith("data:image/svg+xml"):  # the chart: no reference outside itself either
            svg = base64.b64decode(attr.split(",", 1)[1]).decode()
            assert not re.search(r'href="(?!#)|url\((?!#)|@import|<script', svg)
    assert not re.search(r"url\(|@import|<script|<link", html)
    res = json.loads((out / "results.json").read_text())
    assert HOSTILE in [i["file"] for i in res["instances"]]


def test_difference_map_colours():
    ref = np.zeros((1, 2, 2), np.float32)
    adv = np.array([[[1.0, 0.0], [0.0, 0.0]]], np.float32)
    ref[0, 1, 1] = 1.0
    rgb = difference_map(adv, ref)
    assert tuple(rgb[0, 0]) == (0, 0, 255)  # ink added: blue
    assert tuple(rgb[1, 1]) == (255, 0, 0)  # ink removed: red
    assert tuple(rgb[0, 1]) == (255, 255, 255)


def test_gallery_picks_fragile_robust_and_random():
    def inst(dz):
        return {"file": f"{dz}", "z0": [0.0], "results": {"m": {"delta_z": dz, "censored": dz is None}}}

    results = {"models": [{"name": "m"}], "instances": [inst(v) for v in [0.5, 3.0, 1.0, None, 2.0, 0.1]]}
    picks = select_gallery(results, 3, seed=0)
    assert picks[0] == (5, "most fragile")
    assert picks[1] == (3, "most robust")  # censored: larger than any observed dz
    assert picks[2][1] == "random" and len({i for i, _ in picks}) == 3


def test_report_command_redraws_the_same_html_without_the_models(onnx_factory, digits_dir, tiny_bundle, tmp_path):
    runner = CliRunner()
    scan_out = tmp_path / "scan"
    model = onnx_factory()
    result = runner.invoke(app, ["scan", str(model), str(digits_dir), "--generator", str(tiny_bundle), "--out",
                                 str(scan_out), "--samples", "20", "--refine-steps", "0", "--gallery", "6"])
    assert result.exit_code == 0, result.output
    model.unlink()  # the models are not needed any more
    again = runner.invoke(app, ["report", str(scan_out / "results.json"), "--out", str(tmp_path / "again")])
    assert again.exit_code == 0, again.output
    first = (scan_out / "index.html").read_text()
    assert (tmp_path / "again" / "index.html").read_text() == first
    assert first.count('alt="original"') == 6


def test_the_setup_says_in_how_many_latent_directions_z_moved(onnx_factory, digits_dir, tiny_bundle, tmp_path):
    """results.json records the generator's active directions the search moved in (search/subspace.py);
    the report's set-up says so where there were fewer than the latent size."""
    runner = CliRunner()
    scan_out = tmp_path / "scan"
    result = runner.invoke(app, ["scan", str(onnx_factory()), str(digits_dir), "--generator", str(tiny_bundle),
                                 "--out", str(scan_out), "--samples", "10", "--refine-steps", "0",
                                 "--format", "html,json", "--search-error", "off"])
    assert result.exit_code == 0, result.output
    doc = json.loads((scan_out / "results.json").read_text())
    dims = doc["search"]["active_dims"]
    assert dims is None or 0 < dims < doc["generator"]["latent_dim"]
    doc["search"]["active_dims"] = 3
    (scan_out / "results.json").write_text(json.dumps(doc))
    again = runner.invoke(app, ["report", str(scan_out / "results.json"), "--out", str(tmp_path / "again")])
    assert again.exit_code == 0, again.output
    html = (tmp_path / "again" / "index.html").read_text()
    assert "z moves in the 3 of 4 latent directions the generator uses" in html
    del doc["search"]["active_dims"]  # results.json of an earlier version: no such sentence
    (scan_out / "results.json").write_text(json.dumps(doc))
    old = runner.invoke(app, ["report", str(scan_out / "results.json"), "--out", str(tmp_path / "old")])
    assert old.exit_code == 0, old.output
    assert "latent directions the generator uses" not in (tmp_path / "old" / "index.html").read_text()


def test_report_refuses_another_generator(onnx_factory, digits_dir, tiny_bundle, tmp_path):
    runner = CliRunner()
    out = tmp_path / "scan"
    assert runner.invoke(app, ["scan", str(onnx_factory()), str(digits_dir), "--generator", str(tiny_bundle), "--out",
                               str(out), "--samples", "20", "--refine-steps", "0"]).exit_code == 0
    result = runner.invoke(app, ["report", str(out / "results.json"), "--generator", "mnist"])
    assert result.exit_code == 2 and "not the one these results were scanned with" in result.output
    broken = tmp_path / "broken.json"
    broken.write_text("{")
    result = runner.invoke(app, ["report", str(broken)])
    assert result.exit_code == 2 and "not valid JSON" in result.output


def test_scan_writes_html_pdf_and_model_card_and_report_redraws_them(torchscript_model, sklearn_model, digits_dir,
                                                                    tiny_bundle, tmp_path):
    from pypdf import PdfReader

    runner = CliRunner()
    out = tmp_path / "scan"
    models = [torchscript_model, sklearn_model]
    result = runner.invoke(app, ["scan", *map(str, models), str(digits_dir), "--generator", str(tiny_bundle),
                                 "--out", str(out), "--refine-steps", "0", "--gallery", "6"])
    assert result.exit_code == 0, result.output
    for name in ("index.html", "report.pdf", "model-card.md", "results.json"):
        assert (out / name).is_file(), name
    html = (out / "index.html").read_text()
    for section in ("Setup", "Verdict", "Summary", "Δz distributions", "Pairwise sign tests", "Gallery",
                    "Interpolation strips", "Class flow", "How to read this"):
        assert f"<h2>{section}</h2>" in html, section
    pdf = PdfReader(out / "report.pdf")
    assert 2 <= len(pdf.pages) <= 12
    text = " ".join(page.extract_text() for page in pdf.pages)
    for words in ("Robustness audit", "Verdict", "mlp", "rf", "Class flow", "page 1 of"):
        assert words in text, words
    card = (out / "model-card.md").read_text()
    assert "| mlp |" in card and "| rf |" in card and "&gt;" not in card
    images = re.findall(r"!\[[a-z]+\]\((card/[^)]+)\)", card)
    assert images and all((out / p).is_file() for p in images)
    res = json.loads((out / "results.json").read_text())
    assert res["report"]["strips"] and all(len(s["labels"]) == len(s["t"]) for s in res["report"]["strips"])

    for model in models:
        model.unlink()
    again = tmp_path / "again"
    result = runner.invoke(app, ["report", str(out / "results.json"), "--out", str(again), "--format", "md,pdf"])
    assert result.exit_code == 0, result.output
    assert (again / "model-card.md").read_text() == card
    assert (again / "report.pdf").is_file() and not (again / "index.html").exists()


def test_format_chooses_outputs(onnx_factory, digits_dir, tiny_bundle, tmp_path):
    runner = CliRunner()
    out = tmp_path / "scan"
    args = ["scan", str(onnx_factory()), str(digits_dir), "--generator", str(tiny_bundle), "--refine-steps", "0"]
    result = runner.invoke(app, [*args, "--out", str(out), "--format", "html"])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == [".auditor.lock", "index.html"]  # the lock file stays, empty of data
    result = runner.invoke(app, [*args, "--out", str(tmp_path / "x"), "--format", "html,docx"])
    assert result.exit_code == 2 and "--format" in result.output and "Traceback" not in result.output


def test_class_flow_counts_label_changes():
    from auditor.plots import class_flow

    def inst(pred, adv):
        return {"results": {"m": {"prediction": pred, "adversary_prediction": adv}}}

    flow = class_flow({"instances": [inst(1, 7), inst(1, 7), inst(7, 1), inst(3, None)]}, "m")
    assert flow == {"classes": [1, 7], "counts": [[0, 2], [1, 0]], "max": 2}


def test_a_validated_figure_other_than_dz_leads_the_summary_best_first():
    from auditor.summary_sentences import trust

    def results(figure):
        validation = {"figure": figure, "n_models": 5, "n_images": {"test": 100},
                      "spearman_test": {figure: 0.93, "mean_dz": -0.5}}
        models = [{"name": "a", "agreement_with_reference": 0.5, "error_distance": {"mean": 0.2, "median": 0.4}},
                  {"name": "b", "agreement_with_reference": 0.75, "error_distance": {"mean": 0.6, "median": 0.1}},
                  {"name": "c", "agreement_with_reference": None, "error_distance": None}]
        return {"generator": {"name": "g", "validation": validation}, "models": models}

    proxy = trust(results("agreement_with_reference"))["proxy"]
    assert proxy.startswith("agreement with the reference classifier, b 75%, a 50% (higher")
    assert "ρ 0.93" in proxy and " c " not in proxy
    assert "a 0.40, b 0.10" in trust(results("median_error_distance"))["proxy"]
    assert trust(results("mean_dz"))["proxy"] is None
    assert trust({"generator": {"name": "g"}, "models": []}).get("proxy") is None
