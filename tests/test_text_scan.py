"""Text scans (issue 29): pairs in, natural adversaries as text out, checked against their models;
bad text input refused in one line; the edit-preserving rule; text models' contract."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from auditor.cli import app
from auditor.text.edits import apply_edit, changed_words
from text_fixtures import LABELS, make_bundle, pair_model, pairs, write_tsv


@pytest.fixture(scope="module")
def text_setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("text")
    bundle = make_bundle(root / "bundle")
    rows, _ = pairs(10, seed=5)
    data = write_tsv(root / "pairs.tsv", rows)
    lr = pair_model(root / "lr.onnx", 120, seed=1)
    nb = pair_model(root / "nb.onnx", 30, seed=2, family="nb")
    return {"root": root, "bundle": bundle, "data": data, "lr": lr, "nb": nb, "rows": rows}


def scan_args(s, out, *extra):
    return ["scan", str(s["lr"]), str(s["nb"]), str(s["data"]), "--generator", str(s["bundle"]), "--out", str(out),
            "--samples", "8", *extra]


def test_a_text_scan_stores_adversaries_as_text_that_their_models_label_as_reported(text_setup, tmp_path):
    import onnxruntime as ort

    out = tmp_path / "r"
    result = CliRunner().invoke(app, scan_args(text_setup, out, "--format", "json,html,md"), env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "premise-hypothesis pairs" in result.output and "edit-preserving" in result.output
    res = json.loads((out / "results.json").read_text())
    assert res["generator"]["modality"] == "text" and res["data"]["kind"] == "premise-hypothesis pairs"
    assert "lower-cased" in res["data"]["conversion"]
    stored = 0
    for name, path in (("lr", text_setup["lr"]), ("nb", text_setup["nb"])):
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        for inst in res["instances"]:
            r = inst["results"][name]
            premise, hypothesis = inst["text"]
            if r["delta_z"] is None:
                assert r["adversary"] is None
                continue
            assert isinstance(r["adversary"], str) and r["adversary"]
            label = session.run(None, {"input": np.array([[premise, r["adversary"]]], dtype=object)})[0][0]
            assert LABELS.index(label) == r["adversary_prediction"] != r["prediction"]
            stored += 1
    assert stored > 0
    assert all(m["class_names"][:3] == list(LABELS) for m in res["models"])
    html = (out / "index.html").read_text()
    assert "premise" in html and "<ins>" in html and "pairs" in html
    assert "premise / hypothesis" in (out / "model-card.md").read_text()


def test_a_text_scan_resumes_to_the_same_results(text_setup, tmp_path):
    from auditor import faults

    def run(out, *extra, env=None):
        faults._hits.clear()
        return CliRunner().invoke(app, scan_args(text_setup, out, "--batch", "2", "--format", "json", *extra), env=env)

    assert run(tmp_path / "straight").exit_code == 0
    assert run(tmp_path / "cut", env={"AUDITOR_FAULT": "between-batches:INT"}).exit_code == 130
    assert run(tmp_path / "cut", "--resume").exit_code == 0
    a, b = (json.loads((tmp_path / d / "results.json").read_text()) for d in ("straight", "cut"))
    assert a["instances"] == b["instances"] and a["ranking"] == b["ranking"]


def test_the_python_api_takes_functions_of_pairs(text_setup):
    import auditor

    def hypothesis_length(batch):
        return [("neutral" if len(h.split()) > 6 else "entailment") for _, h in batch]

    audit = auditor.scan({"length": hypothesis_length, "lr": str(text_setup["lr"])}, text_setup["rows"],
                         generator=str(text_setup["bundle"]), samples=8, progress=False)
    res = audit.to_dict()
    assert res["generator"]["modality"] == "text" and len(res["instances"]) == 10
    assert {m["name"] for m in res["models"]} == {"length", "lr"}


@pytest.mark.parametrize("content, expected", [
    (b"premise\thypothesis\na man sleeps .\t\n", "empty hypothesis"),
    (b"", "the file is empty"),
    (b"premise\thypothesis\na man \xff sleeps .\ta man .\n", "not UTF-8"),
    (b"premise\tlabel\na man sleeps .\tneutral\n", "hypothesis is missing"),
    (b'{"premise": "a man ."}\n', "hypothesis is missing"),
])
def test_bad_text_input_is_refused_in_one_line(text_setup, tmp_path, content, expected):
    data = tmp_path / ("bad.jsonl" if content.startswith(b"{") else "bad.tsv")
    data.write_bytes(content)
    result = CliRunner().invoke(app, ["scan", str(text_setup["lr"]), str(data), "--generator",
                                      str(text_setup["bundle"]), "--out", str(tmp_path / "r")])
    assert result.exit_code == 2, result.output
    assert expected in result.output and "Traceback" not in result.output


def test_a_model_of_the_wrong_modality_is_refused(text_setup, onnx_factory, tmp_path, digits_dir):
    numeric = onnx_factory("digits.onnx")
    result = CliRunner().invoke(app, ["scan", str(numeric), str(text_setup["data"]), "--generator",
                                      str(text_setup["bundle"]), "--out", str(tmp_path / "a")])
    assert result.exit_code == 2 and "not text" in result.output and "Traceback" not in result.output
    result = CliRunner().invoke(app, ["scan", str(numeric), str(digits_dir), "--generator",
                                      str(text_setup["bundle"]), "--out", str(tmp_path / "b")])
    assert result.exit_code == 2 and "is for text" in result.output


def test_edit_preserving_keeps_the_input_where_the_decode_does_not_change():
    assert apply_edit("a zookeeper plays guitar .", "a man plays guitar .", "a man plays guitar .") == \
        "a zookeeper plays guitar ."
    assert apply_edit("a zookeeper plays guitar .", "a man plays guitar .", "a man plays violin .") == \
        "a zookeeper plays violin ."
    assert apply_edit("a man plays guitar .", "a man plays guitar .", "a woman sings .") == "a woman sings ."
    assert changed_words("a man sleeps .", "a woman sleeps .") == [
        ("a", "same"), ("man", "removed"), ("woman", "new"), ("sleeps .", "same")]


@pytest.mark.slow
def test_a_text_scan_on_two_ray_workers_equals_one_process(text_setup, tmp_path):
    """Same labels, adversaries and ranking; dz equal up to the GRU kernels' float rounding, which
    differs with the thread count (a worker has one thread, this process two)."""
    pytest.importorskip("ray")

    def run(out, *extra):
        result = CliRunner().invoke(app, scan_args(text_setup, out, "--batch", "2", "--format", "json", *extra))
        assert result.exit_code == 0, result.output
        return json.loads((out / "results.json").read_text())

    ray, one = run(tmp_path / "ray", "--workers", "2"), run(tmp_path / "one")
    assert ray["complete"] and ray["ranking"] == one["ranking"]
    for a, b in zip(ray["instances"], one["instances"]):
        for name, r in a["results"].items():
            s = b["results"][name]
            assert {k: v for k, v in r.items() if k not in ("delta_z", "z_star", "error_distance", "z_error")} == {
                k: v for k, v in s.items() if k not in ("delta_z", "z_star", "error_distance", "z_error")}
            for key in ("delta_z", "error_distance"):
                assert (r.get(key) is None) == (s.get(key) is None)
                assert r.get(key) is None or abs(r[key] - s[key]) < 1e-4


def test_an_adversary_that_decodes_to_another_label_keeps_the_label_of_its_stored_text():
    """Greedy decoding is discontinuous in z: a re-rendered adversary may get another label. It
    is stored with the label its model gives the stored text, or without text where that label is
    the input's own (it is no adversary); never an error that loses the scan."""
    from auditor.search import empty_output
    from auditor.text.scan import adversary_texts

    class Gen:
        def decode(self, z):
            return np.array([f"base {i}" for i in range(len(z))], dtype=object)

        def render(self, z, x, base):
            return np.array([f"text {int(v)}" for v in z[:, 0]], dtype=object)

    class Model:
        name = label = "m"

        def predict(self, texts):  # "text k" -> label k % 3
            return np.array([int(t.split()[1]) % 3 for t in texts])

    out = empty_output(3, 2, ["m"])
    res = out.results["m"]
    res.prediction[:] = res.reconstruction_prediction[:] = [0, 0, 0]
    res.delta_z[:] = [0.5, 0.6, 0.7]
    res.z_star[:, 0] = [1, 2, 3]  # rendered texts get labels 1, 2, 0
    res.adversary_prediction[:] = [1, 1, 2]  # the search saw 1, 1, 2
    out.n_done = 3
    texts, labels, changed = adversary_texts(Gen(), np.array(["a", "b", "c"], dtype=object), out, [Model()])
    assert list(texts["m"]) == ["text 1", "text 2", None]  # the third is no adversary any more
    assert list(labels["m"]) == [1, 2, 0] and changed["m"] == [1, 2]


def test_snli_files_with_their_own_field_names_are_read_as_pairs(tmp_path):
    from auditor.text.data import load_text

    tsv = tmp_path / "snli_1.0_test.tsv"
    tsv.write_text("gold_label\tsentence1\tsentence2\ncontradiction\tA man sleeps.\tThe man runs!\n")
    jsonl = tmp_path / "snli.jsonl"
    jsonl.write_text('{"gold_label": "neutral", "sentence1": "A dog.", "sentence2": "A big dog."}\n')
    for path, label in ((tsv, 2), (jsonl, 1)):
        texts = load_text(path)
        assert texts.pairs and texts.items.shape == (1, 2) and list(texts.labels) == [label]
    assert load_text(tsv).items[0].tolist() == ["a man sleeps .", "the man runs !"]
    unlabelled = tmp_path / "hidden.tsv"  # SNLI's "-" and -1 mark pairs without a gold label: no error
    unlabelled.write_text("premise\thypothesis\tlabel\na dog .\ta cat .\t-\na dog .\ta pet .\t-1\n")
    assert load_text(unlabelled).labels is None and load_text(unlabelled).items.shape == (2, 2)
    bad = tmp_path / "bad.tsv"
    bad.write_text("sentence1\tsentence2\na dog .\t \n")
    from auditor.errors import DataError

    with pytest.raises(DataError, match="empty hypothesis; every premise and hypothesis needs words"):
        load_text(bad)


def test_label_names_match_the_bundles_classes_whatever_their_case(tmp_path):
    from auditor.text.model_loading import as_text_classifier

    rows, _ = pairs(12, seed=3)
    items = np.array(rows, dtype=object)
    lower = as_text_classifier(pair_model(tmp_path / "a.onnx", 60, seed=4), "a", True, list(LABELS))
    upper = as_text_classifier(pair_model(tmp_path / "b.onnx", 60, seed=4, names=[v.upper() for v in LABELS]), "b",
                               True, list(LABELS))
    np.testing.assert_array_equal(upper.predict(items), lower.predict(items))
    assert upper.class_names == list(LABELS)
    np.testing.assert_allclose(upper.predict_scores(items)[1], lower.predict_scores(items)[1], atol=1e-6)
