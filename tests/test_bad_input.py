"""Every bad input gets one line that says what to do, exit code 2 and no traceback."""

from __future__ import annotations

import json
import pickle
import string
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image
from typer.testing import CliRunner

from auditor.cli import app
from auditor.data import load_images
from auditor.errors import AuditorError
from auditor.results import read
from conftest import _linear_onnx

runner = CliRunner()


def make_case(kind: str, tmp: Path, digits: Path, model: Path) -> tuple[list[str], str]:
    """(arguments after `scan`, expected text) for one bad input."""
    if kind == "data-is-a-text-file":
        (tmp / "notes.txt").write_text("x")
        return [str(model), str(tmp / "notes.txt")], "the data is text"
    if kind == "empty-folder":
        (tmp / "empty").mkdir()
        return [str(model), str(tmp / "empty")], "no readable images"
    if kind == "folder-without-images":
        (tmp / "docs").mkdir()
        (tmp / "docs" / "a.csv").write_text("1,2")
        return [str(model), str(tmp / "docs")], "no readable images"
    if kind == "only-bad-images":
        (tmp / "bad").mkdir()
        (tmp / "bad" / "a.png").write_bytes(b"")
        (tmp / "bad" / "b.png").write_text("text")
        return [str(model), str(tmp / "bad")], "2 candidate files, all unreadable"
    if kind == "unwritable-out":
        (tmp / "file").write_text("x")
        return [str(model), str(digits), "--out", str(tmp / "file" / "report")], "pick a writable --out"
    if kind == "random-bytes-onnx":
        (tmp / "junk.onnx").write_bytes(np.random.default_rng(0).bytes(500))
        return [str(tmp / "junk.onnx"), str(digits)], "not a loadable ONNX model"
    if kind == "imagenet-model":
        return [str(_linear_onnx(tmp / "big.onnx", ["N", 3, 224, 224], features=3 * 224 * 224)), str(digits)], "--generator"
    if kind == "nan-model":
        return [str(_linear_onnx(tmp / "nan.onnx", ["N", 1, 28, 28], output="nan")), str(digits)], "NaN"
    if kind == "rank3-output":
        return [str(_linear_onnx(tmp / "r3.onnx", ["N", 1, 28, 28], output="rank3")), str(digits)], "expected an output"
    if kind == "pickle-pt":
        (tmp / "model.pt").write_bytes(pickle.dumps({"w": 1}))
        return [str(tmp / "model.pt"), str(digits)], "torch.jit.script"
    if kind == "unknown-extension":
        (tmp / "model.h5").write_bytes(b"x")
        return [str(tmp / "model.h5"), str(digits)], "unknown model format"
    if kind == "zero-steps":
        return [str(model), str(digits), "--max-steps", "0"], "--max-steps must be positive"
    if kind == "zero-step":
        return [str(model), str(digits), "--step", "0"], "--step must be a positive number"
    if kind == "bad-layout":
        return [str(model), str(digits), "--layout", "chw"], "--layout must be one of"
    raise AssertionError(kind)


CASES = ["data-is-a-text-file", "empty-folder", "folder-without-images", "only-bad-images", "unwritable-out",
         "random-bytes-onnx", "imagenet-model", "nan-model", "rank3-output", "pickle-pt", "unknown-extension",
         "zero-steps", "zero-step", "bad-layout"]


@pytest.mark.parametrize("kind", CASES)
def test_bad_input(kind, tmp_path, digits_dir, onnx_factory, tiny_bundle):
    args, expected = make_case(kind, tmp_path, digits_dir, onnx_factory("ok.onnx"))
    if "--out" not in args:
        args += ["--out", str(tmp_path / "out")]
    result = runner.invoke(app, ["scan", *args, "--generator", str(tiny_bundle), "--samples", "10", "--refine-steps", "0"])
    assert result.exit_code == 2, result.output
    assert expected in result.output
    assert "Traceback" not in result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1


def test_debug_shows_the_traceback(tmp_path, digits_dir):
    result = runner.invoke(app, ["--debug", "scan", str(tmp_path / "missing.onnx"), str(digits_dir)])
    assert result.exit_code != 0 and isinstance(result.exception, AuditorError)


def test_generator_errors_from_the_cli(tmp_path, digits_dir, tiny_bundle, onnx_factory):
    import shutil

    bundle = tmp_path / "gen"
    shutil.copytree(tiny_bundle, bundle)
    (bundle / "weights.npz").write_bytes(b"tampered")
    result = runner.invoke(app, ["scan", str(onnx_factory()), str(digits_dir), "--generator", str(bundle)])
    assert result.exit_code == 2 and "checksum" in result.output


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=300), suffix=st.sampled_from([".png", ".jpg", ".gif", ".bmp", ".tif", ".webp", ".npy", ".npz"]),
       header=st.sampled_from([b"", b"\x89PNG\r\n\x1a\n", b"GIF89a", b"\xff\xd8\xff", b"BM", b"\x93NUMPY", b"PK\x03\x04"]))
def test_loader_fuzz_only_raises_data_errors(tmp_path_factory, data, suffix, header):
    folder = tmp_path_factory.mktemp("fuzz")
    (folder / f"f{suffix}").write_bytes(header + data)
    Image.fromarray(np.zeros((28, 28), np.uint8)).save(folder / "good.png")
    loaded = load_images(folder, (1, 28, 28))  # the good image always loads; the fuzzed one may be skipped
    assert "good.png" in loaded.names
    assert np.isfinite(loaded.images).all() and loaded.images.min() >= 0 and loaded.images.max() <= 1


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(string.printable, max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(string.ascii_lowercase, max_size=8), inner, max_size=4),
    max_leaves=12,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=json_values, base=st.booleans())
def test_results_reader_fuzz_only_raises_results_errors(tmp_path_factory, value, base):
    doc = value
    if base and isinstance(value, dict):  # mutate a valid skeleton so the deeper checks are reached
        doc = {"auditor_version": "0", "generator": {}, "search": {}, "models": [{"name": "m"}],
               "instances": [{"file": "a", "results": {"m": value}}]}
    path = tmp_path_factory.mktemp("r") / "results.json"
    path.write_text(json.dumps(doc))
    try:
        read(path)
    except AuditorError:
        pass


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=200))
def test_results_reader_fuzz_on_bytes(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("b") / "results.json"
    path.write_bytes(data)
    try:
        read(path)
    except AuditorError:
        pass
