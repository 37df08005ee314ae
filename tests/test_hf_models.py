"""The models people ship (issue 39): Hugging Face model folders (a tiny BERT pair classifier with
its tokenizer, an image model with a preprocessor_config.json), class names read from config.json
and mapped by name, --class-names for generic names, sentence classifiers, transformers objects
from Python, and bad folders refused in one line."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import auditor
from auditor.cli import app
from auditor.models.hf_folder import preprocessing, reorder
from auditor.models.outputs import class_order, is_generic
from auditor.models.contract import ModelOptions
from hf_fixtures import NLI_ORDER, MEAN, STD, bert_folder, bert_predict, image_folder
from text_fixtures import LABELS, make_bundle, pairs, write_tsv

ROOT = Path(__file__).resolve().parents[1]
PHOTOS = ROOT / "examples" / "cifar10" / "photos"


@pytest.fixture(scope="module")
def hf(tmp_path_factory):
    root = tmp_path_factory.mktemp("hf")
    rows, _ = pairs(8, seed=5)
    return {"root": root, "bundle": make_bundle(root / "bundle"), "rows": rows,
            "data": write_tsv(root / "pairs.tsv", rows), "nli": bert_folder(root / "nli"),
            "generic": bert_folder(root / "generic", id2label=False, steps=0, seed=1)}


def scan(hf, out, *models, extra=()):
    return CliRunner().invoke(app, ["scan", *map(str, models), str(hf["data"]), "--generator",
                                    str(hf["bundle"]), "--out", str(out), "--samples", "8",
                                    "--format", "json", *extra], env={"COLUMNS": "200"})


def test_a_model_folder_scans_with_its_tokenizer_and_its_class_names_mapped(hf, tmp_path):
    out = tmp_path / "r"
    result = scan(hf, out, hf["nli"], hf["generic"])
    assert result.exit_code == 0, result.output
    assert "tokenized by tokenizer.json (truncated at 64 tokens" in result.output
    assert "class names from config.json mapped onto the generator's, reordered" in \
        result.output
    assert "--class-names generic=NAME0,NAME1" in result.output  # the fix, in one line
    res = json.loads((out / "results.json").read_text())
    models = {m["name"]: m for m in res["models"]}
    assert models["nli"]["class_names"][:3] == list(LABELS)  # the bundle's order, not the model's
    assert models["generic"]["class_names"] == ["LABEL_0", "LABEL_1", "LABEL_2"]
    assert models["nli"]["format"] == "onnx (Hugging Face folder)" and models["nli"]["sha256"]
    assert res["generator"]["reference_classifier"]["models"] == ["nli"]
    # every stored adversary, fed to the model through its own tokenizer (unpadded, outside
    # auditor), gets the label the results say, in the bundle's class order
    stored = 0
    for inst in res["instances"]:
        r = inst["results"]["nli"]
        premise, hypothesis = inst["text"]
        own = bert_predict(hf["nli"], [(premise, hypothesis)])[0]
        assert LABELS.index(NLI_ORDER[own]) == r["prediction"]
        if r["adversary"] is not None:
            got = bert_predict(hf["nli"], [(premise, r["adversary"])])[0]
            assert LABELS.index(NLI_ORDER[got]) == r["adversary_prediction"] != r["prediction"]
            stored += 1
    assert stored > 0


def test_class_names_option_names_a_generic_model_and_the_reference_then_applies(hf, tmp_path):
    names = {"generic": list(NLI_ORDER)}
    audit = auditor.scan({"generic": hf["generic"]}, hf["rows"][:4], generator=str(hf["bundle"]),
                         samples=8, progress=False, class_names=names)
    record = audit.to_dict()["models"][0]
    assert record["class_names"][:3] == list(LABELS)
    assert audit.to_dict()["generator"]["reference_classifier"]["models"] == ["generic"]
    bad = scan(hf, tmp_path / "b", hf["generic"], extra=("--class-names", "nope=a,b,c"))
    assert bad.exit_code == 2 and "no model named 'nope'" in bad.output


def test_bad_folders_are_refused_in_one_line(hf, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    result = scan(hf, tmp_path / "a", empty)
    assert result.exit_code == 2 and "holds no ONNX model" in result.output
    assert "Traceback" not in result.output
    untokenised = tmp_path / "untokenised"
    shutil.copytree(hf["nli"], untokenised)
    (untokenised / "tokenizer.json").unlink()
    for given in (untokenised, untokenised / "model.onnx"):
        result = scan(hf, tmp_path / "b", given)
        assert result.exit_code == 2 and "tokenizer.json" in result.output, result.output
        assert "scan it with images" not in result.output
    images = CliRunner().invoke(app, ["scan", str(hf["nli"]), str(PHOTOS), "--out",
                                      str(tmp_path / "c")])
    assert images.exit_code == 2 and "a text model" in images.output
    assert "scan it with texts" in images.output


def test_an_image_folder_matches_the_same_network_given_plainly(tmp_path):
    folder, plain = image_folder(tmp_path / "colours", size=48,
                                 names=("Airplane", "automobile", "bird"))
    kw = dict(generator="cifar10", limit=8, samples=32, progress=False, search_error=0)
    by_folder = auditor.scan({"m": folder}, PHOTOS, **kw)
    normalised = ",".join(map(str, MEAN + STD))
    by_file = auditor.scan({"m": plain}, PHOTOS, **kw)
    record = by_folder.to_dict()["models"][0]
    assert "resized (bilinear) to 48x48" in record["input"] and "normalised by mean" in record["input"]
    assert record["class_names"][:3] == ["airplane", "automobile", "bird"]
    a = [i["results"]["m"] for i in by_folder.to_dict()["instances"]]
    b = [i["results"]["m"] for i in by_file.to_dict()["instances"]]
    assert [r["prediction"] for r in a] == [r["prediction"] for r in b]
    assert any(r["delta_z"] for r in a)
    assert np.allclose([r["delta_z"] or 0 for r in a], [r["delta_z"] or 0 for r in b], atol=1e-4)
    # an explicit --normalize overrides the folder's own, with a note
    override = auditor.scan({"m": folder}, PHOTOS, normalize=normalised, **kw)
    assert "normalised by mean (0.5, 0.4, 0.3)" in override.to_dict()["models"][0]["input"]


def test_a_sentence_classifier_scans_a_txt_of_sentences(tmp_path):
    from skl2onnx import to_onnx
    from skl2onnx.common.data_types import StringTensorType
    from sklearn.feature_extraction.text import CountVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    train, labels = pairs(120, seed=3)
    x = np.array([h for _, h in train], dtype=object)
    pipe = make_pipeline(CountVectorizer(lowercase=False, token_pattern=r"\S+"),
                         LogisticRegression(max_iter=300)).fit(x, [LABELS[k] for k in labels])
    model = tmp_path / "hyp.onnx"
    model.write_bytes(to_onnx(pipe, initial_types=[("input", StringTensorType([None]))])
                      .SerializeToString())
    bundle = make_bundle(tmp_path / "bundle")
    data = tmp_path / "sentences.txt"
    data.write_text("\n".join(x[:6].tolist()) + "\n")
    out = tmp_path / "r"
    result = CliRunner().invoke(app, ["scan", str(model), str(data), "--generator", str(bundle),
                                      "--out", str(out), "--samples", "8", "--format", "json"])
    assert result.exit_code == 0, result.output
    assert "it takes single sentences; the reference classifier judges premise-hypothesis" in \
        result.output
    res = json.loads((out / "results.json").read_text())
    texts = [i["results"]["hyp"]["adversary"] for i in res["instances"]]
    assert any(isinstance(t, str) and t for t in texts)
    assert all("reference_prediction" not in i for i in res["instances"])


def test_a_transformers_pipeline_and_a_model_tokenizer_pair_scan_from_python(hf, tmp_path):
    transformers = pytest.importorskip("transformers")
    from transformers import BertForSequenceClassification, PreTrainedTokenizerFast

    net = BertForSequenceClassification.from_pretrained(str(hf["nli"] / "torch"))
    tok = PreTrainedTokenizerFast(tokenizer_file=str(hf["nli"] / "tokenizer.json"),
                                  pad_token="[PAD]", cls_token="[CLS]", sep_token="[SEP]",
                                  model_input_names=["input_ids", "token_type_ids",
                                                     "attention_mask"])
    pipe = transformers.pipeline("text-classification", model=net, tokenizer=tok)
    rows = hf["rows"][:4]
    kw = dict(generator=str(hf["bundle"]), samples=8, progress=False, error_distance="off")
    by_pipe = auditor.scan({"pipe": pipe}, rows, **kw)
    by_pair = auditor.scan((net, tok), rows, **kw)
    expected = [LABELS.index(NLI_ORDER[k]) for k in bert_predict(hf["nli"], rows)]
    for audit in (by_pipe, by_pair):
        record = audit.to_dict()["models"][0]
        assert record["class_names"][:3] == list(LABELS)
        assert [i["results"][record["name"]]["prediction"]
                for i in audit.to_dict()["instances"]] == expected


def test_class_names_map_by_name_and_generic_names_do_not():
    columns, names = class_order(["CONTRADICTION", "Entailment", "neutral"], list(LABELS))
    assert columns.tolist() == [2, 0, 1] and names == list(LABELS)
    scores = np.array([[3.0, 1.0, 2.0]])
    assert reorder(scores, columns, 3).tolist() == [[1.0, 2.0, 3.0]]
    assert class_order(["LABEL_0", "LABEL_1", "LABEL_2"], list(LABELS)) == \
        (None, ["LABEL_0", "LABEL_1", "LABEL_2"])
    assert class_order(["positive", "negative"], list(LABELS))[0] is None
    assert is_generic(["LABEL_0", "label_1", "2"]) and not is_generic(["LABEL_0", "cat"])


def test_preprocessing_reads_shortest_edge_crop_and_filters():
    pre = {"do_resize": True, "size": {"shortest_edge": 256}, "resample": 3,
           "do_center_crop": True, "crop_size": {"height": 224, "width": 224},
           "do_rescale": True, "rescale_factor": 0.00392156862745098, "do_normalize": True,
           "image_mean": [0.485, 0.456, 0.406], "image_std": [0.229, 0.224, 0.225]}
    fields, note = preprocessing(pre, "m", ModelOptions(), 3, (224, 224))
    assert fields["size"] == (256, 256) and fields["crop"] == (224, 224)
    convnext = {"size": {"shortest_edge": 224}, "crop_pct": 0.875, "image_mean": [0.5] * 3,
                "image_std": [0.5] * 3}
    found, _ = preprocessing(convnext, "m", ModelOptions(), 3, (None, None))
    assert found["size"] == (256, 256) and found["crop"] == (224, 224)
    assert found["mean"] == (0.5, 0.5, 0.5)  # normalised where a mean is given
    assert fields["resample"] == "bicubic" and fields["input_scale"] == 1.0 and not note
    from auditor.models.contract import InputContract

    contract = InputContract("nchw", None, 3, **fields)
    x = contract.prepare(np.full((2, 3, 32, 32), 0.5, dtype=np.float32))
    assert x.shape == (2, 3, 224, 224)
    assert np.allclose(x[0, :, 0, 0], (0.5 - np.array(pre["image_mean"])) / pre["image_std"],
                       atol=1e-4)


def test_a_transformer_is_asked_each_text_once_and_in_length_sorted_batches(hf):
    from auditor.text.model_loading import as_text_classifier

    clf = as_text_classifier(hf["nli"], "nli", True, list(LABELS))
    widths = []

    class Counting:
        def __init__(self, session):
            self.session = session

        def run(self, names, feed):
            widths.append(feed["input_ids"].shape)
            return self.session.run(names, feed)

    clf.session = Counting(clf.session)
    rows = np.array(hf["rows"] + [("a man sleeps .", "a man " + "very " * 30 + "tired .")],
                    dtype=object)
    first = clf.predict(rows)
    assert sum(w[0] for w in widths) == len(rows)  # one batch here, every text once
    assert widths[0][1] == max(len(clf.tokenizer.encode(p, h).ids) for p, h in rows)
    widths.clear()
    again = clf.predict(rows[::-1])
    assert widths == [] and again.tolist() == first[::-1].tolist()  # remembered, not re-run
    expected = [LABELS.index(NLI_ORDER[k]) for k in bert_predict(hf["nli"], rows.tolist())]
    assert first.tolist() == expected  # padded batches give the unpadded labels
