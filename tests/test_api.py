"""The Python API: ``auditor.scan`` on files and in-memory models, the Audit object, and the
CLI as a thin layer over it (same inputs and seed, same results.json)."""

from __future__ import annotations

import json
import logging
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import auditor
from auditor.cli import app
from conftest import blob_images

ROOT = Path(__file__).resolve().parents[1]
FAST = dict(samples=30, step=0.2, refine_steps=5, error_distance="off")


def comparable(res: dict) -> dict:
    """A results.json without what differs between two runs of one scan (timings, date)."""
    res = json.loads(json.dumps(res))
    res.pop("created")
    res["search"] = {k: v for k, v in res["search"].items() if not k.startswith("seconds")}
    return res


@pytest.fixture
def images_dir(tmp_path: Path) -> Path:
    """12 of the example digits: 2 per class for 0-5."""
    folder = tmp_path / "images"
    folder.mkdir()
    for path in sorted((ROOT / "examples" / "digits").glob("[0-5]_[01].png")):
        shutil.copy(path, folder / path.name)
    return folder


def trained_torch_mlp():
    """A small torch.nn.Module trained for a moment on the example digits (labels from file names)."""
    import torch
    from PIL import Image
    from torch import nn

    files = sorted((ROOT / "examples" / "digits").glob("*.png"))
    x = torch.tensor(np.stack([np.asarray(Image.open(f), dtype=np.float32) / 255.0 for f in files]))[:, None]
    y = torch.tensor([int(f.name[0]) for f in files])
    torch.manual_seed(0)
    net = nn.Sequential(nn.Flatten(), nn.Linear(784, 32), nn.ReLU(), nn.Linear(32, 10))
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    for _ in range(60):
        opt.zero_grad()
        nn.functional.cross_entropy(net(x), y).backward()
        opt.step()
    return net  # left in train mode, as a training loop leaves it


@pytest.mark.slow
def test_the_readme_example_runs_as_written(images_dir, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    shutil.copy(ROOT / "examples" / "models" / "lenet.onnx", "v1.onnx")
    model_v2 = trained_torch_mlp()
    before = [p.detach().clone() for p in model_v2.parameters()]

    audit = auditor.scan({"v1": "v1.onnx", "v2": model_v2}, "images/", seed=0)

    assert audit.ranking and sorted(n for g in audit.ranking for n in g) == ["v1", "v2"]
    (pair,) = audit.pairwise
    assert {pair.a, pair.b} == {"v1", "v2"}
    assert audit.models["v2"].mean_delta_z > 0 and audit.models["v2"].mean_delta_z_ci is not None
    c = audit.compare("v2", "v1")
    assert (c.a, c.b) == ("v2", "v1") and c.a_larger + c.b_larger + c.ties + c.excluded == 12
    assert c.p_value == pair.p_value
    written = audit.write("report/", formats=("html", "pdf", "md", "json"))
    assert {p.name for p in written} == {"index.html", "report.pdf", "model-card.md", "results.json"}
    assert json.loads(Path("report/results.json").read_text()) == audit.to_dict()
    # the user's module: still in train mode, not moved, weights untouched
    assert model_v2.training and all((a == b).all() for a, b in zip(before, model_v2.parameters()))
    entry = {m["name"]: m for m in audit.to_dict()["models"]}["v2"]
    assert entry["path"] is None and entry["format"] == "torch.nn.Module" and len(entry["sha256"]) == 64
    assert "in memory: torch.nn" in Path("report/index.html").read_text()
    assert audit.to_dict()["generator"]["reference_classifier"]  # error distance on by default, as in the CLI


def test_in_memory_models_give_the_delta_z_of_their_files(images_dir):
    import onnxruntime as ort
    import torch

    onnx_path = ROOT / "examples" / "models" / "lenet.onnx"
    ts_path = ROOT / "examples" / "models" / "mlp.pt"
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    module = torch.jit.load(str(ts_path))
    name = session.get_inputs()[0].name

    def lenet_fn(x):
        return session.run(None, {name: x})[0]

    models = {"lenet_file": onnx_path, "lenet_session": session, "lenet_callable": lenet_fn,
              "mlp_file": ts_path, "mlp_module": module,
              "mlp_callable": lambda x: module(torch.from_numpy(x.reshape(len(x), -1)))}
    # the label-only search: a TorchScript file runs frozen and folded (optimize_for_inference),
    # so its scores differ from the module's in the fifth digit, and a search steered by scores
    # (auto's margin, here) may then take other steps; its labels are the module's
    audit = auditor.scan(models, images_dir, generator="mnist", progress=False, search="boundary",
                         **FAST)
    dz = {n: audit.delta_z(n) for n in models}
    for family in ("lenet", "mlp"):
        file = dz[f"{family}_file"]
        assert np.isfinite(file).any()
        for other in ("session", "module", "callable"):
            if f"{family}_{other}" in dz:
                np.testing.assert_array_equal(dz[f"{family}_{other}"], file)
    formats = {m["name"]: m["format"] for m in audit.to_dict()["models"]}
    assert formats["lenet_session"] == "onnx (session)" and formats["lenet_callable"] == "callable"


def test_cli_and_api_write_the_same_results(digits_dir, tiny_bundle, tmp_path):
    models = [ROOT / "examples" / "models" / "lenet.onnx", ROOT / "examples" / "models" / "mlp.pt"]
    cli = CliRunner().invoke(app, ["scan", *map(str, models), str(digits_dir), "--generator", str(tiny_bundle),
                                   "--out", str(tmp_path / "cli"), "--format", "json", "--seed", "4",
                                   "--samples", "30", "--step", "0.2", "--refine-steps", "5",
                                   "--error-distance", "off", "--baseline", "lenet"])
    assert cli.exit_code == 0, cli.output
    api = auditor.scan([str(m) for m in models], str(digits_dir), out=tmp_path / "api", formats="json", seed=4,
                       generator=str(tiny_bundle), baseline="lenet", progress=False, **FAST)
    from_cli = json.loads((tmp_path / "cli" / "results.json").read_text())
    from_api = json.loads((tmp_path / "api" / "results.json").read_text())
    assert comparable(from_cli) == comparable(from_api) == comparable(api.to_dict())
    in_memory = auditor.scan(models, digits_dir, seed=4, generator=str(tiny_bundle), baseline="lenet",
                             progress=False, **FAST)
    assert comparable(in_memory.to_dict()) == comparable(from_api)
    # the gate object is the CLI's gate
    gate = api.gate(baseline="lenet")
    assert [c.reason for c in gate.checks] == [c["reason"] for c in from_cli["gate"]["checks"]]
    assert gate.failed == from_cli["gate"]["failed"]


def test_arrays_and_pil_images_are_the_folders_images(images_dir):
    from PIL import Image

    model = ROOT / "examples" / "models" / "lenet.onnx"
    kwargs = dict(generator="mnist", progress=False, **FAST)
    folder = auditor.scan(model, images_dir, **kwargs)
    assert np.isfinite(folder.delta_z("lenet")).sum() >= 10
    raw = np.stack([np.asarray(Image.open(p)) for p in sorted(images_dir.glob("*.png"))])  # uint8 (N, H, W)
    as_array = auditor.scan(model, raw, **kwargs)
    as_pil = auditor.scan(model, [Image.fromarray(a) for a in raw], **kwargs)
    as_nchw = auditor.scan(model, (raw / 255.0).astype(np.float32)[:, None], **kwargs)
    for other in (as_array, as_pil, as_nchw):
        np.testing.assert_array_equal(other.delta_z("lenet"), folder.delta_z("lenet"))
    assert as_array.files[0] == "array[0]" and as_pil.files[0] == "image[0]"
    assert as_array.to_dict()["data"]["source"] == "an array of shape (12, 28, 28)"


def test_a_scikit_learn_estimator_through_the_documented_one_liner(digits_dir, tiny_bundle):
    from sklearn.linear_model import LogisticRegression

    x = (blob_images(40, seed=2).reshape(40, -1) / 255.0).astype(np.float32)
    est = LogisticRegression(max_iter=200).fit(x, np.arange(40) % 3)
    labels_fn = {"logreg": lambda x: est.predict(x.reshape(len(x), -1))}
    audit = auditor.scan(labels_fn, digits_dir, generator=str(tiny_bundle), progress=False,
                         search="boundary", **FAST)
    assert audit.models["logreg"].n_images == 8
    proba_fn = {"logreg": lambda x: est.predict_proba(x.reshape(len(x), -1))}
    proba = auditor.scan(proba_fn, digits_dir, generator=str(tiny_bundle), progress=False,
                         search="boundary", **FAST)
    np.testing.assert_array_equal(proba.delta_z("logreg"), audit.delta_z("logreg"))
    # auto: margin for both forms; labels only -> its walk stretched; smooth scores -> read
    labels = auditor.scan(labels_fn, digits_dir, generator=str(tiny_bundle), progress=False,
                          **FAST).to_dict()["search"]
    assert labels["algorithm"] == "margin" and labels["stretched"] == ["logreg"]
    scored = auditor.scan(proba_fn, digits_dir, generator=str(tiny_bundle), progress=False, **FAST)
    assert scored.to_dict()["search"]["algorithm"] == "margin"
    assert scored.to_dict()["search"]["stretched"] == []
    np.testing.assert_array_equal(np.isnan(scored.delta_z("logreg")),
                                  np.isnan(audit.delta_z("logreg")))


def test_gate_fails_a_worse_candidate(digits_dir, tiny_bundle):
    model = ROOT / "examples" / "models" / "lenet.onnx"
    audit = auditor.scan({"v1": model, "broken": lambda x: np.zeros(len(x), dtype=np.int64)}, digits_dir,
                         generator=str(tiny_bundle), progress=False, **FAST)
    gate = audit.gate(baseline="v1")
    assert gate.failed and not gate.passed and "broken is degenerate" in gate.summary
    assert str(gate).startswith("FAILED: broken")
    with pytest.raises(auditor.OptionError, match="no model named 'v3'"):
        audit.gate(baseline="v3")
    with pytest.raises(auditor.OptionError, match="error-distance"):
        audit.gate(baseline="v1", on="error-distance")


@pytest.mark.parametrize("call, error, message", [
    (lambda d, g: auditor.scan(object(), d, generator=g), auditor.ModelError, "not a model"),
    (lambda d, g: auditor.scan({"rf": _Estimator()}, d, generator=g), auditor.ModelError, "est.predict"),
    (lambda d, g: auditor.scan({"bad": lambda x: "nope"}, d, generator=g), auditor.ModelError, "1 labels for 2 images"),
    (lambda d, g: auditor.scan({"cube": lambda x: np.zeros((len(x), 2, 2))}, d, generator=g), auditor.ModelError,
     r"returned shape \(2, 2, 2\).*expected scores"),
    (lambda d, g: auditor.scan({"boom": _raises}, d, generator=g), auditor.ModelError, "ZeroDivisionError"),
    (lambda d, g: auditor.scan("missing.onnx", d, generator=g), auditor.OptionError, "does not exist"),
    (lambda d, g: auditor.scan(_LENET, d, generator=g, alpha=2), auditor.OptionError, "alpha"),
    (lambda d, g: auditor.scan(_LENET, d, generator=g, resume=True), auditor.OptionError, "out=FOLDER"),
    (lambda d, g: auditor.scan(_LENET, d, generator=g, formats="html,docx"), auditor.OptionError, "--format"),
    (lambda d, g: auditor.scan(_LENET, {"not": "images"}, generator=g), auditor.DataError, "list of PIL images"),
    (lambda d, g: auditor.scan(_LENET, np.zeros((0, 28, 28)), generator=g), auditor.DataError, "empty"),
])
def test_bad_input_raises_the_cli_error_types(digits_dir, tiny_bundle, call, error, message):
    with pytest.raises(error, match=message):
        call(digits_dir, str(tiny_bundle))


_LENET = ROOT / "examples" / "models" / "lenet.onnx"


class _Estimator:
    def predict(self, x):
        return np.zeros(len(x))


def _raises(x):
    return 1 / 0


def test_messages_go_to_the_logger_not_to_stdout(digits_dir, tiny_bundle, caplog, capsys):
    (digits_dir / "broken.png").write_bytes(b"not a png")
    with caplog.at_level(logging.INFO, logger="auditor"):
        auditor.scan(_LENET, digits_dir, generator=str(tiny_bundle), progress=False, **FAST)
    assert any(r.levelno == logging.WARNING and "skipped 1 unreadable files" in r.getMessage() for r in caplog.records)
    assert any("model lenet (onnx" in r.getMessage() for r in caplog.records)
    assert capsys.readouterr().out == ""


def test_display_in_a_notebook_and_a_repl(images_dir):
    audit = auditor.scan({"v1": _LENET, "v2": ROOT / "examples" / "models" / "mlp.pt"}, images_dir,
                         generator="mnist", progress=False, **FAST)
    text = repr(audit)
    assert text.startswith("<Audit: 2 model(s) on 12 images, generator mnist")
    assert re.search(r"\n  v[12] +\d\.\d\d \[\d\.\d\d, \d\.\d\d\]", text) and "ranking (p < 0.05, Holm)" in text
    html = audit._repr_html_()
    assert html.startswith("\n<div class=\"auditor-audit\">") or "<div class=\"auditor-audit\">" in html
    assert 'class="verdict"' in html and 'class="summary"' in html and html.count("data:image/png;base64") >= 6
    assert "<html" not in html and "<body" not in html  # a fragment: the notebook's page keeps its own styles
    for name in ("v1", "v2"):
        assert f"<b>{name}</b>" in html


def test_load_reads_an_audit_back(digits_dir, tiny_bundle, tmp_path):
    audit = auditor.scan(_LENET, digits_dir, generator=str(tiny_bundle), out=tmp_path / "o", formats="json",
                         progress=False, **FAST)
    assert [p.name for p in audit.written] == ["results.json"]
    again = auditor.load(tmp_path / "o" / "results.json")
    assert again.to_dict() == audit.to_dict()
    assert again.write(tmp_path / "report", formats="html")[0].name == "index.html"


def test_public_names_are_typed_and_documented():
    assert (Path(auditor.__file__).parent / "py.typed").exists()
    for name in auditor.__all__:
        obj = getattr(auditor, name)
        if callable(obj):
            assert obj.__doc__, name
    import inspect

    sig = inspect.signature(auditor.scan)
    cli_options = {p.name for p in inspect.signature(__import__("auditor.cli").cli.scan).parameters.values()}
    # every scan option of the CLI is a keyword of the API, with the same default
    renamed = {"paths": None, "search_name": "search", "fail_if_worse": None, "ray_address": "ray"}
    from auditor.cli import scan as cli_scan

    for option in cli_options:
        api_name = renamed.get(option, option)
        if api_name is None:
            continue
        assert api_name in sig.parameters, option
        cli_default = inspect.signature(cli_scan).parameters[option].default
        api_default = sig.parameters[api_name].default
        if option == "out":
            continue  # the API writes nothing unless asked: out=None
        if option == "formats":
            assert ",".join(api_default) == cli_default
            continue
        assert api_default == cli_default, option
