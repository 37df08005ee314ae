"""The library functions below `auditor train-generator`, `validate-generator` and
`import-generator`, called from Python: typed results, the CLI's one-line errors, nothing printed.
And the typed views of a scan the terminal summary prints from."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

import auditor
from auditor.errors import GeneratorError, OptionError
from auditor.generator_import import ImportedGenerator, import_generator, plan_import
from auditor.generator_training import TrainedGenerator, plan_training, train_generator
from auditor.generator_validation import (GeneratorValidation, plan_validation,
                                          validate_generator)
from auditor.generators import load_generator
from conftest import blob_images

TINY = dict(family="mlp", hidden="32", latent_dim=4, batch_size=8)


def test_train_generator_plans_then_trains_a_bundle(digits_dir, tmp_path, capsys):
    plan = plan_training(digits_dir, tmp_path / "gen", steps=10,
                         command="auditor train-generator x", **TINY)
    assert plan.n_images == 8 and plan.shape == (1, 28, 28) and plan.n_classes is None
    assert plan.hidden == "32" and plan.config.hidden == [32] and plan.config.family == "vae-mlp"
    assert "28" in plan.conversion and plan.manifest["name"] == "gen"
    assert plan.manifest["training"]["command"] == "auditor train-generator x"
    steps = []
    trained = train_generator(plan, on_step=lambda step, losses: steps.append((step, set(losses))))
    assert isinstance(trained, TrainedGenerator) and trained.bundle == tmp_path / "gen"
    assert trained.reference_accuracy is None and trained.reference_images is None
    assert steps[-1] == (10, {"loss", "recon", "kl"})
    assert load_generator(str(trained.bundle)).latent_dim == 4
    assert capsys.readouterr().out == ""  # nothing printed


def test_train_generator_with_labels_trains_a_reference_classifier(tmp_path):
    data = tmp_path / "photos.npz"
    np.savez(data, images=blob_images(24, seed=4), labels=np.arange(24) % 2)
    plan = plan_training(data, tmp_path / "g", steps=10, reference_steps=20,
                         class_names=["wide", "tall"], **TINY)
    assert plan.n_classes == 2 and plan.class_names == ["wide", "tall"]
    assert "command" not in plan.manifest["training"]
    trained = train_generator(plan)
    assert 0 <= trained.reference_accuracy <= 1 and trained.reference_images >= 1
    record = json.loads((trained.bundle / "manifest.json").read_text())["reference_classifier"]
    assert record["class_names"] == ["wide", "tall"]


@pytest.mark.parametrize("options, words", [
    (dict(size=30), "--size must be 28, 32 or 64"),
    (dict(family="gan"), "--family must be conv or mlp"),
    (dict(hidden="32,x"), "--hidden expects comma-separated integers"),
    (dict(labels="some"), "--labels must be auto, folders or none"),
    (dict(steps=0), "steps must be positive"),
    (dict(class_names=["one"], labels="folders"), "sub-folder"),
])
def test_train_generator_refuses_bad_options_with_the_clis_messages(digits_dir, tmp_path, options,
                                                                    words):
    with pytest.raises(auditor.AuditorError, match=words):
        plan_training(digits_dir, tmp_path / "g", **{**TINY, **options})


def test_validate_generator_measures_and_records(tiny_bundle, onnx_factory, tmp_path, capsys):
    bundle = shutil.copytree(tiny_bundle, tmp_path / "bundle")
    labelled = tmp_path / "labelled.npz"
    np.savez(labelled, images=blob_images(40, seed=11), labels=np.arange(40) % 2)
    models = [onnx_factory(f"m{k}.onnx", classes=2, seed=k) for k in range(3)]
    plan = plan_validation(bundle, models, labelled)
    assert plan.n_models == 3 and plan.total == 40 * 3 and plan.error_models is None
    done = []
    result = validate_generator(plan, progress=done.append, command="test")
    assert isinstance(result, GeneratorValidation) and sum(done) == plan.total
    assert (result.n_models, result.n_validation, result.n_test) == (3, 20, 20)
    assert result.chosen.figure == result.record["figure"] and result.chosen.chosen
    assert {f.figure for f in result.figures} == set(result.record["spearman_test"])
    assert result.manifest == bundle / "manifest.json"
    written = json.loads(result.manifest.read_text())["validation"]
    assert written == result.record and written["command"] == "test"
    unwritten = validate_generator(plan_validation(bundle, models, labelled, write=False))
    assert unwritten.manifest is None and unwritten.record["figure"] == result.record["figure"]
    assert capsys.readouterr().out == ""


def test_validate_generator_refuses_bad_input_with_the_clis_messages(tiny_bundle, onnx_factory,
                                                                      tmp_path):
    labelled = tmp_path / "labelled.npz"
    np.savez(labelled, images=blob_images(40, seed=11), labels=np.arange(40) % 2)
    models = [onnx_factory(f"m{k}.onnx", classes=2, seed=k) for k in range(3)]
    with pytest.raises(OptionError, match="three or more models"):
        plan_validation(tiny_bundle, models[:2], labelled)
    with pytest.raises(OptionError, match="does not exist"):
        plan_validation(tiny_bundle, [*models[:2], tmp_path / "missing.onnx"], labelled)
    with pytest.raises(OptionError, match="bundled generator"):
        plan_validation("mnist", models, labelled)
    np.savez(tmp_path / "few.npz", images=blob_images(10), labels=np.arange(10) % 2)
    with pytest.raises(OptionError, match="too few"):
        plan_validation(tiny_bundle, models, tmp_path / "few.npz", write=False)


def _onnx_vae(folder, latent: int = 4, image: tuple[int, ...] = (1, 28, 28)):
    """A linear ONNX decoder G (sigmoid outputs in [0, 1]) and encoder E, built with onnx.helper."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    pixels = int(np.prod(image))
    rng = np.random.default_rng(0)

    def save(name, nodes, inits, x, x_shape, y, y_shape):
        graph = helper.make_graph(
            nodes, name, [helper.make_tensor_value_info(x, TensorProto.FLOAT, x_shape)],
            [helper.make_tensor_value_info(y, TensorProto.FLOAT, y_shape)], inits)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
        model.ir_version = 8
        path = folder / f"{name}.onnx"
        path.write_bytes(model.SerializeToString())
        return path

    w = numpy_helper.from_array(
        rng.standard_normal((latent, pixels)).astype(np.float32) * 0.1, "W")
    shape = numpy_helper.from_array(np.array([-1, *image], dtype=np.int64), "shape")
    node = helper.make_node
    g = save("G", [node("MatMul", ["z", "W"], ["h"]), node("Sigmoid", ["h"], ["s"]),
                   node("Reshape", ["s", "shape"], ["x"])], [w, shape],
             "z", ["N", latent], "x", ["N", *image])
    flat = numpy_helper.from_array(np.array([-1, pixels], dtype=np.int64), "flat")
    v = numpy_helper.from_array(
        rng.standard_normal((pixels, latent)).astype(np.float32) * 0.01, "V")
    e = save("E", [node("Reshape", ["x", "flat"], ["f"]), node("MatMul", ["f", "V"], ["z"])],
             [flat, v], "x", ["N", *image], "z", ["N", latent])
    flat_g = save("flatG", [node("MatMul", ["z", "W"], ["x"])], [w], "z", ["N", latent],
                  "x", ["N", pixels])
    return g, e, flat_g


def test_import_generator_probes_checks_and_writes_a_bundle(digits_dir, tmp_path, capsys):
    g, e, _ = _onnx_vae(tmp_path)
    plan = plan_import(g, e, digits_dir, tmp_path / "imported")
    assert plan.shape == (1, 28, 28) and len(plan.images.names) == 8 and plan.name == "imported"
    imported = import_generator(plan)
    assert isinstance(imported, ImportedGenerator) and imported.bundle == tmp_path / "imported"
    assert imported.n_images == 8 and imported.recon_mse_median >= 0
    assert imported.decoder_file == "decoder.onnx"
    gen = load_generator(str(imported.bundle))
    assert gen.latent_dim == 4 and tuple(gen.image_shape) == (1, 28, 28)
    assert capsys.readouterr().out == ""


def test_import_generator_refuses_bad_decoders_with_the_clis_messages(digits_dir, tmp_path):
    g, e, flat_g = _onnx_vae(tmp_path)
    with pytest.raises(OptionError, match="decoder file .* does not exist"):
        plan_import(tmp_path / "missing.onnx", e, digits_dir, tmp_path / "x")
    with pytest.raises(GeneratorError, match=r"must give images \(N, C, H, W\)"):
        plan_import(flat_g, e, digits_dir, tmp_path / "x")
    (tmp_path / "junk.onnx").write_bytes(b"not onnx")
    with pytest.raises(GeneratorError, match="not a loadable ONNX model"):
        plan_import(tmp_path / "junk.onnx", e, digits_dir, tmp_path / "x")


def test_an_audit_hands_out_typed_views_of_its_summary(onnx_factory, digits_dir, tiny_bundle):
    models = {"a": onnx_factory("a.onnx", seed=1), "b": onnx_factory("b.onnx", seed=2)}
    audit = auditor.scan(models, digits_dir, generator=str(tiny_bundle), baseline="a", samples=30,
                         step=0.2, refine_steps=5, progress=False)
    gate = audit.release_gate
    assert isinstance(gate, auditor.Gate) and gate.baseline == "a"
    assert [c.candidate for c in gate.checks] == ["b"]
    assert gate.failed == audit.to_dict()["gate"]["failed"]
    assert sorted(audit.by_rank) == ["a", "b"] and audit.alpha == 0.05
    assert audit.progress == (8, 8) and audit.generator_name == "tiny"
    assert audit.pixel is None and audit.reference_classifier is None and audit.error_ranking == []
    m = audit.models["a"]
    assert m.pixel is None and m.semantics is None
    record = audit.to_dict()["models"][0]
    assert m.natural_out_of_domain == record["naturalness"]["natural"]["out_of_domain"]


def test_pixel_and_reference_records_read_as_typed_objects():
    from auditor.audit_records import PixelFigures, PixelView, ReferenceRecord, Semantics

    view = PixelView.from_record({"attack": "hsj", "norm": "l2", "queries_budget": 2000,
                                  "levels": [0.5, 1.0], "ranking": [["a", "b"]],
                                  "budget_unit": "queries"})
    assert view.title == "HopSkipJump" and view.box == "black" and view.budget_unit == "queries"
    assert view.levels == (0.5, 1.0) and view.paper is None and view.spearman_dz_models is None
    figures = PixelFigures.from_record({
        "median_eps": 1.5, "median_eps_ci": [1.0, 2.0], "n_censored": 1,
        "stable": {"0.5": 0.9, "1": 0.6},
        "naturalness": {"natural": {"out_of_domain": 0.1}, "pixel": {"out_of_domain": 0.8}},
        "repair": {"pixel": {"repaired": 0.7}}})
    assert figures.median_eps_ci == (1.0, 2.0) and figures.pixel_out_of_domain == 0.8
    assert figures.pixel_repaired == 0.7 and figures.natural_repaired is None
    assert figures.has_naturalness and Semantics.from_record({}) is None
    assert Semantics.from_record({"kept_class": 0.5}).kept_class == 0.5
    ref = ReferenceRecord.from_record({"accuracy": 0.9, "class_names": ["x", "y"]})
    assert ref.accuracy == 0.9 and ref.class_names == ("x", "y")


def test_output_formats_are_defined_once():
    from auditor import audit, formats, report
    from auditor.summary_sentences import format_rho

    assert report.FORMATS is formats.FORMATS and audit.FORMATS is formats.FORMATS
    assert report.parse_formats is formats.parse_formats
    assert formats.parse_formats(" HTML,md,html") == ("html", "md")
    with pytest.raises(OptionError, match="--format takes"):
        formats.parse_formats("docx")
    assert (format_rho(0.996), format_rho(0.5), format_rho(None)) == ("0.996", "0.50", "–")
