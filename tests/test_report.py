from __future__ import annotations

import json
import re

import numpy as np
from PIL import Image
from typer.testing import CliRunner

from auditor.cli import app
from auditor.report import difference_map, select_gallery

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
        assert attr.startswith("data:image/png;base64,") or attr.startswith("#"), attr
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
