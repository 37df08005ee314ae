from __future__ import annotations

import json

import pytest

from auditor.errors import ResultsError
from auditor.results import read, write

VALID = {
    "auditor_version": "0", "generator": {"name": "g"}, "search": {},
    "models": [{"name": "m"}],
    "instances": [{"file": "a.png", "results": {"m": {"prediction": 1, "delta_z": 0.5}}}],
}


def test_round_trip(tmp_path):
    path = write(tmp_path / "r" / "results.json", VALID)
    assert read(path) == VALID
    assert [p.name for p in path.parent.iterdir()] == ["results.json"]  # no temporary left


@pytest.mark.parametrize(
    "text, message",
    [("{", "not valid JSON"), ("[]", "expected a JSON object"),
     (json.dumps({**VALID, "models": {}}), "'models' should be a list"),
     (json.dumps({**VALID, "instances": [{"file": 3, "results": {}}]}), "instance 0"),
     (json.dumps({**VALID, "instances": [{"file": "a", "results": {"m": {"prediction": 1, "delta_z": "x"}}}]}), "delta_z"),
     (json.dumps({**VALID, "schema_version": 99}), "upgrade auditor")],
)
def test_malformed_results_are_results_errors(tmp_path, text, message):
    (tmp_path / "results.json").write_text(text)
    with pytest.raises(ResultsError, match=message):
        read(tmp_path / "results.json")


def test_missing_file(tmp_path):
    with pytest.raises(ResultsError, match="not a file"):
        read(tmp_path / "none.json")


@pytest.mark.parametrize("uri", ["https://example.com/x.png", "javascript:alert(1)", 'data:image/png;base64,AA"onerror="x'])
def test_stored_images_must_be_inline_pngs(tmp_path, uri):
    doc = {**VALID, "instances": [{**VALID["instances"][0], "image_png": uri}]}
    (tmp_path / "results.json").write_text(json.dumps(doc))
    with pytest.raises(ResultsError, match="inline PNG"):
        read(tmp_path / "results.json")
