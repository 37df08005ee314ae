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


def test_semantics_of_natural_adversaries_follow_the_reference_not_the_model():
    """x* with R(x*) != R(x) is "changed class" whatever f(x*); R(x*) = R(x) is "kept class" (a
    natural error); f(x) != R(x) is the third group; a model without an adversary is left out."""
    import numpy as np

    from auditor.results import _error_figures
    from auditor.search import empty_output

    out = empty_output(5, 2, ["m"], errors=["m"])
    res = out.results["m"]
    res.prediction[:] = [0, 0, 0, 1, 0]
    res.reconstruction_prediction[:] = res.prediction
    res.delta_z[:] = [0.5, 0.7, np.nan, 0.4, 0.9]  # image 2: censored, no adversary
    res.adversary_prediction[:] = [1, 1, -1, 0, 2]  # f's label of x*: irrelevant to the check
    out.reference_prediction[:] = [0, 0, 0, 0, 0]  # image 3: f(x) = 1 disagrees with R
    out.reference_adversary["m"][:] = [0, 3, -1, 5, 2]
    out.errors["m"].delta_z[:] = [0.2, 0.3, np.nan, 0.0, 0.4]
    sem = _error_figures(out, [{"name": "m"}], 5, complete=True)["models"]["m"]["semantics"]
    assert (sem["n_kept_class"], sem["n_changed_class"], sem["n_disagrees"], sem["n_images"]) == (1, 2, 1, 4)
    assert sem["kept_class"] == 0.25 and sem["changed_class"] == 0.5
