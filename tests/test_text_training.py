"""Your own text domain (issue 41): `auditor train-generator` on pairs and on sentences, the bundle
it writes (manifest, R, quality figures, domain fit), scans with it, validation, bad text refused in
one line, and an interrupted training resumed."""

from __future__ import annotations

import json

import numpy as np
import pytest
from text_fixtures import LABELS, pair_model, pairs, write_tsv
from typer.testing import CliRunner

from auditor.cli import app

FAST = ["--steps", "40", "--threads", "1", "--latent-dim", "8", "--batch-size", "16"]
LONGER = ["--steps", "150", "--lr", "0.005"]  # a generator whose neighbourhoods decode apart


def train(data, out, *extra):
    return CliRunner().invoke(app, ["train-generator", str(data), "--out", str(out), *FAST,
                                    *extra], env={"COLUMNS": "200"})


def sentence_model(path, seed: int, n: int, names=LABELS):
    """A scikit-learn sentence classifier over hypotheses, exported with a (N,) string input."""
    from skl2onnx import to_onnx
    from skl2onnx.common.data_types import StringTensorType
    from sklearn.feature_extraction.text import CountVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    rows, labels = pairs(n, seed=seed)
    x = np.array([h for _, h in rows], dtype=object)
    pipe = make_pipeline(CountVectorizer(lowercase=False, token_pattern=r"\S+"),
                         LogisticRegression(max_iter=300)).fit(x, [names[k] for k in labels])
    path.write_bytes(to_onnx(pipe, initial_types=[("input", StringTensorType([None]))])
                     .SerializeToString())
    return path


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("own-text")
    rows, labels = pairs(300, seed=0)
    data = write_tsv(root / "pairs.tsv", rows, labels)
    result = train(data, root / "gens" / "mine")
    assert result.exit_code == 0, result.output
    return {"root": root, "bundle": root / "gens" / "mine", "output": result.output,
            "rows": rows}


def test_pairs_with_labels_give_a_bundle_with_a_pair_reference_and_its_figures(trained):
    out = trained["output"]
    assert "text: 300 premise-hypothesis pairs" in out and "tokenisation: lower-cased" in out
    assert "labels from label/gold_label (3 classes: entailment, neutral, contradiction)" in out
    assert "reference classifier: accuracy" in out and "held-out sentences" in out
    m = json.loads((trained["bundle"] / "manifest.json").read_text())
    assert m["modality"] == "text" and m["texts"] == "pairs" and m["family"] == "sentence-vae-gru"
    assert m["unknown_token"] == "<unk>" and "10000 most frequent" in m["tokenisation"]
    assert set(m["files"]) == {"weights.npz", "vocab.txt", "reference.npz"}
    assert m["vocab_size"] == len((trained["bundle"] / "vocab.txt").read_text().split("\n")) - 1
    q = m["quality"]
    assert 0 <= q["exact_match"] <= q["token_accuracy"] <= 1 and q["n_sentences"] > 0
    assert "distinct_of_20" in q["neighbourhood"]["radii"]["1.0"]
    fit = m["domain_fit"]  # 15 held-out sentences are too few: calibrated on training sentences
    assert fit["n_images"] >= 20 and "the hold-out was too small" in fit["data"]
    r = m["reference_classifier"]
    assert r["input"] == "pairs" and r["class_names"] == list(LABELS) and r["accuracy"] > 0.5
    assert m["training"]["steps"] == 40 and m["training"]["finished"] is True
    listed = CliRunner().invoke(app, ["generators", str(trained["bundle"])],
                                env={"COLUMNS": "250"})
    assert listed.exit_code == 0 and "text (pairs)" in listed.output


def test_a_scan_with_the_bundle_stores_adversaries_its_models_label_as_recorded(trained, tmp_path):
    import onnxruntime as ort

    lr = pair_model(tmp_path / "lr.onnx", 120, seed=1)
    rows, _ = pairs(8, seed=7)
    data = write_tsv(tmp_path / "scan.tsv", rows)
    out = tmp_path / "r"
    result = CliRunner().invoke(app, ["scan", str(lr), str(data), "--generator",
                                      str(trained["bundle"]), "--out", str(out), "--samples", "8",
                                      "--format", "json"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "held-out sentences back exactly" in result.output
    res = json.loads((out / "results.json").read_text())
    session = ort.InferenceSession(str(lr), providers=["CPUExecutionProvider"])
    for inst in res["instances"]:
        r = inst["results"]["lr"]
        if r["adversary"] is not None:
            label = session.run(None, {"input": np.array([[inst["text"][0], r["adversary"]]],
                                                         dtype=object)})[0][0]
            assert LABELS.index(label) == r["adversary_prediction"] != r["prediction"]
    assert "reference_prediction" in res["instances"][0]


def test_validate_generator_records_the_figure_to_read_as_accuracy_for_text(trained, tmp_path):
    import shutil

    bundle = shutil.copytree(trained["bundle"], tmp_path / "mine")
    models = [pair_model(tmp_path / f"m{i}.onnx", n, seed=i, family=f)
              for i, (n, f) in enumerate([(30, "nb"), (90, "logreg"), (240, "logreg")])]
    rows, labels = pairs(40, seed=9)
    labelled = write_tsv(tmp_path / "labelled.tsv", rows, labels)
    result = CliRunner().invoke(app, ["validate-generator", str(bundle), *map(str, models),
                                      "--labelled", str(labelled)], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    record = json.loads((bundle / "manifest.json").read_text())["validation"]
    assert record["n_models"] == 3 and record["figure"] in record["spearman_test"]
    assert record["n_images"] == {"validation": 20, "test": 20}
    intervals = record["spearman_test_interval"]
    assert intervals and set(intervals) <= set(record["spearman_test"])
    assert all(-1 <= lo <= hi <= 1 for lo, hi in intervals.values())
    assert "moves between" in result.output  # the chosen figure's interval, said


def test_rho_intervals_resample_the_reported_half_as_validate_measures_it(monkeypatch):
    """Resampling the identity gives validate()'s own ρ of every product figure; real resamples
    give a 10th-90th percentile range."""
    from types import SimpleNamespace

    import auditor.generator_validation as gv
    from auditor.search.types import ModelResult, SearchOutput
    from auditor.accuracy_figures import FIGURES, validate

    rng = np.random.default_rng(1)
    n, labels = 60, rng.integers(0, 3, 60)

    def result(pred):
        dz = np.where(rng.random(n) < 0.1, np.nan, rng.random(n) * 3)
        return ModelResult(pred, pred.copy(), pred.copy(), dz, np.zeros((n, 2)),
                           np.ones(n, dtype=np.int64))

    preds = [np.where(rng.random(n) < acc, labels, (labels + 1) % 3) for acc in (.3, .5, .7, .9)]
    zoo = [SimpleNamespace(name=f"m{k}", predict=lambda x, p=p: p[x]) for k, p in enumerate(preds)]
    out = SearchOutput(np.zeros((n, 2)), {m.name: result(p) for m, p in zip(zoo, preds)},
                       errors={m.name: result(p) for m, p in zip(zoo, preds)},
                       reference_prediction=labels.copy(), reference_adversary={
                           m.name: np.full(n, -1) for m in zoo})
    record, _ = validate(zoo, out, np.arange(n), labels, "test zoo")
    rows = np.arange(n // 2, n)
    spread = gv.rho_intervals(zoo, out, labels, rows, record["spearman_test"], draws=50)
    assert set(spread) == {k for k in FIGURES if record["spearman_test"].get(k) is not None}
    monkeypatch.setattr(gv.np.random, "default_rng", lambda seed: SimpleNamespace(
        integers=lambda lo, hi, size: np.arange(size)))
    same = gv.rho_intervals(zoo, out, labels, rows, record["spearman_test"], draws=1)
    assert {k: v[0] for k, v in same.items()} == {k: record["spearman_test"][k] for k in same}
    assert all(lo <= hi for lo, hi in spread.values())


def _scan_sentences(tmp_path, model) -> dict:
    """A scan of 6 unseen sentences with the bundle in tmp_path/sent: its results.json."""
    scan = tmp_path / "scan.txt"
    scan.write_text("\n".join(h for _, h in pairs(6, seed=4)[0]) + "\n")
    out = tmp_path / "r"
    result = CliRunner().invoke(app, ["scan", str(model), str(scan), "--generator",
                                      str(tmp_path / "sent"), "--out", str(out), "--samples", "8",
                                      "--format", "json"])
    assert result.exit_code == 0, result.output
    return json.loads((out / "results.json").read_text())


def test_sentences_without_labels_give_a_bundle_a_sentence_model_scans_with(tmp_path):
    rows, _ = pairs(300, seed=0)
    data = tmp_path / "sentences.txt"
    data.write_text("\n".join(h for _, h in rows) + "\n")
    result = train(data, tmp_path / "sent", *LONGER)
    assert result.exit_code == 0, result.output
    assert "text: 300 sentences" in result.output and "no reference classifier" in result.output
    m = json.loads((tmp_path / "sent" / "manifest.json").read_text())
    assert m["texts"] == "sentences" and "reference.npz" not in m["files"]
    res = _scan_sentences(tmp_path, sentence_model(tmp_path / "hyp.onnx", seed=3, n=120))
    texts = [i["results"]["hyp"]["adversary"] for i in res["instances"]]
    assert all(t is None or isinstance(t, str) for t in texts)
    assert any(isinstance(t, str) and t for t in texts)


def test_labelled_sentences_give_a_sentence_reference_that_applies_to_sentence_models(tmp_path):
    rows, labels = pairs(300, seed=0)
    names = ("calm", "more", "opposite")
    data = tmp_path / "sentences.tsv"
    data.write_text("sentence\ttopic\n" + "".join(f"{h}\t{names[k]}\n"
                                                  for (_, h), k in zip(rows, labels)))
    result = train(data, tmp_path / "sent", "--labels", "topic", *LONGER)
    assert result.exit_code == 0, result.output
    assert "labels from topic (3 classes: calm, more, opposite)" in result.output
    m = json.loads((tmp_path / "sent" / "manifest.json").read_text())
    assert m["reference_classifier"]["input"] == "sentences"
    assert m["class_names"] == list(names)
    res = _scan_sentences(tmp_path, sentence_model(tmp_path / "hyp.onnx", seed=3, n=120,
                                                    names=names))
    assert "reference_prediction" in res["instances"][0]
    assert "agreement_with_reference" in res["models"][0]


def test_a_sentence_reference_leaves_pair_models_out():
    from auditor.reference import mismatch
    from auditor.text.reference import TextReferenceClassifier, train_reference

    ref = train_reference([("", "a b"), ("", "c d")], [0, 1], epochs=1, min_count=1,
                          features=("uni",), class_names=["x", "y"], sentences=True)
    r = TextReferenceClassifier(ref, {})
    assert r.pairs is False and r.predict(np.array(["a b", "c d"], dtype=object)).shape == (2,)

    class PairModel:
        pairs, n_outputs, class_names = True, 2, ["x", "y"]
    assert "judges single sentences" in mismatch(PairModel(), r, np.zeros(2, dtype=np.int64))


@pytest.mark.parametrize("content, expected", [
    (b"", "the file is empty"),
    (b"premise\thypothesis\n\xff\xfe bad\tbytes\n", "not UTF-8"),
    ("premise\thypothesis\tlabel\n" + "".join(f"a man {i} .\ta dog {i} .\tneutral\n"
                                               for i in range(40)), "hold only 'neutral'"),
    ("".join(f"w{i}x\n" for i in range(40)), "no word occurs 2 or more times"),
])
def test_bad_text_for_training_is_refused_in_one_line(tmp_path, content, expected):
    data = tmp_path / ("d.tsv" if isinstance(content, str) and "\t" in content else "d.txt")
    if isinstance(content, str):
        content = content.encode()
    if content.startswith(b"premise"):
        data = tmp_path / "d.tsv"
    data.write_bytes(content)
    result = train(data, tmp_path / "out")
    assert result.exit_code == 2, result.output  # DataError
    assert expected in result.output and len(result.output.strip().splitlines()) == 1


def test_a_named_label_column_that_is_missing_is_refused(trained, tmp_path):
    result = train(trained["root"] / "pairs.tsv", tmp_path / "out", "--labels", "topic")
    assert result.exit_code == 2 and "no 'topic' column" in result.output


def test_labels_none_trains_no_reference(trained, tmp_path):
    result = train(trained["root"] / "pairs.tsv", tmp_path / "out", "--labels", "none")
    assert result.exit_code == 0, result.output
    assert "reference.npz" not in json.loads((tmp_path / "out" / "manifest.json").read_text())[
        "files"]


def test_an_interrupted_training_resumes_to_the_same_bundle(trained, tmp_path):
    data = trained["root"] / "pairs.tsv"
    stopped = train(data, tmp_path / "a", "--max-minutes", "0.0001")
    assert stopped.exit_code == 0, stopped.output
    assert "the time limit stopped training at step" in stopped.output
    m = json.loads((tmp_path / "a" / "manifest.json").read_text())
    assert m["training"]["finished"] is False and m["training"]["steps"] < 40
    resumed = train(data, tmp_path / "a", "--resume")
    assert resumed.exit_code == 0, resumed.output
    assert train(data, tmp_path / "b").exit_code == 0
    a, b = (json.loads((tmp_path / f / "manifest.json").read_text()) for f in "ab")
    assert a["training"]["steps"] == 40 and a["training"]["finished"] is True
    assert a["files"]["weights.npz"] == b["files"]["weights.npz"]


def test_device_other_than_cpu_is_refused_for_text(trained, tmp_path):
    result = train(trained["root"] / "pairs.tsv", tmp_path / "out", "--device", "cuda")
    assert result.exit_code == 2 and "trains on the CPU" in result.output
