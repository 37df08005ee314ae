from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest

from auditor.errors import ModelError
from auditor.models import ModelOptions, load_classifier, unique_names
from conftest import SHAPE, blob_images

IMAGES = (blob_images(5) / 255.0).astype(np.float32)[:, None]


def reference_labels(seed: int = 0, classes: int = 3) -> np.ndarray:
    w = np.random.default_rng(seed).standard_normal((784, classes)).astype(np.float32)
    return (IMAGES.reshape(5, -1) @ w).argmax(1)


@pytest.mark.parametrize(
    "shape, layout, expected",
    [(["N", 1, 28, 28], "nchw", "NCHW"), (["N", 28, 28, 1], "nhwc", "NHWC"), (["N", 784], "nchw", "FLAT"),
     (["N", 28, 28], "nchw", "NHW")],
)
def test_onnx_layouts_are_read_from_the_model(onnx_factory, shape, layout, expected):
    clf = load_classifier(onnx_factory(input_shape=shape, layout=layout), "m", SHAPE)
    assert clf.contract.describe().startswith(expected)
    np.testing.assert_array_equal(clf.predict(IMAGES), reference_labels())


def test_fixed_batch_of_one_runs_in_chunks(onnx_factory):
    clf = load_classifier(onnx_factory(input_shape=[1, 1, 28, 28]), "m", SHAPE)
    assert clf.contract.batch == 1
    np.testing.assert_array_equal(clf.predict(IMAGES), reference_labels())


def test_fixed_batch_pads_the_last_chunk(onnx_factory):
    clf = load_classifier(onnx_factory(input_shape=[4, 1, 28, 28]), "m", SHAPE)
    np.testing.assert_array_equal(clf.predict(IMAGES), reference_labels())


def test_label_output(onnx_factory):
    clf = load_classifier(onnx_factory(output="labels"), "m", SHAPE)
    np.testing.assert_array_equal(clf.predict(IMAGES), reference_labels())


def test_normalisation_and_scale_are_applied(onnx_factory):
    path = onnx_factory()
    plain = load_classifier(path, "m", SHAPE)
    scaled = load_classifier(path, "m", SHAPE, ModelOptions(input_scale=255.0, normalize=(0.0, 255.0)))
    np.testing.assert_array_equal(plain.predict(IMAGES), scaled.predict(IMAGES))
    x = scaled.contract.prepare(IMAGES)
    assert np.allclose(x, IMAGES)


def test_sklearn_export_with_label_and_map_outputs(sklearn_model):
    from sklearn.ensemble import RandomForestClassifier  # noqa: F401 (fixture trained it)

    clf = load_classifier(sklearn_model, "rf", SHAPE)
    assert clf.contract.layout == "flat"
    labels = clf.predict(IMAGES)
    assert labels.shape == (5,) and set(labels) <= {0, 1, 2}


def test_torchscript_flattened_input_is_found_by_probing(torchscript_model):
    import torch

    clf = load_classifier(torchscript_model, "mlp", SHAPE)
    assert clf.contract.layout == "flat"
    net = torch.jit.load(str(torchscript_model))
    expected = net(torch.from_numpy(IMAGES.reshape(5, -1))).argmax(1).numpy()
    np.testing.assert_array_equal(clf.predict(IMAGES), expected)


def test_torchscript_conv_model_gets_nchw(tmp_path):
    import torch
    from torch import nn

    net = nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten(), nn.Linear(2 * 26 * 26, 3))
    torch.jit.script(net).save(str(tmp_path / "conv.pt"))
    assert load_classifier(tmp_path / "conv.pt", "c", SHAPE).contract.layout == "nchw"


def test_domain_mismatch_names_the_generator_option(onnx_factory):
    path = onnx_factory(input_shape=["N", 3, 224, 224])
    with pytest.raises(ModelError, match="--generator"):
        load_classifier(path, "m", SHAPE)


def test_a_model_of_another_size_gets_resized_candidates(onnx_factory):
    """Issue #33 item 4: a model taking larger (or smaller) images of the same channels gets every
    image resized bilinearly to its input, stated in its input description."""
    from auditor.models import resize

    path = onnx_factory(input_shape=["N", 1, 56, 56], features=56 * 56)
    clf = load_classifier(path, "big", SHAPE)
    assert clf.contract.size == (56, 56)
    assert "resized (bilinear) to 56x56" in clf.contract.describe()
    assert clf.contract.prepare(IMAGES).shape == (len(IMAGES), 1, 56, 56)
    labels = clf.predict(IMAGES)
    assert labels.shape == (len(IMAGES),)
    # the same labels as the model fed the resized images by hand
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    scores = session.run(None, {"x": resize(IMAGES, (56, 56))})[0]
    assert (scores.argmax(1) == labels).all()
    small = load_classifier(onnx_factory(name="small.onnx", input_shape=["N", 1, 14, 14], features=196), "s", SHAPE)
    assert small.contract.prepare(IMAGES).shape == (len(IMAGES), 1, 14, 14)
    assert 0.0 <= small.contract.prepare(IMAGES).min() and small.contract.prepare(IMAGES).max() <= 1.0


def test_nan_scores_are_an_error(onnx_factory):
    clf = load_classifier(onnx_factory(output="nan"), "m", SHAPE)
    with pytest.raises(ModelError, match="NaN"):
        clf.predict(IMAGES)


def test_wrong_output_rank_is_an_error(onnx_factory):
    with pytest.raises(ModelError, match="expected an output"):
        load_classifier(onnx_factory(output="rank3"), "m", SHAPE)


def test_random_bytes_and_pickles_and_unknown_suffixes(tmp_path: Path):
    (tmp_path / "junk.onnx").write_bytes(np.random.default_rng(0).bytes(1000))
    with pytest.raises(ModelError, match="not a loadable ONNX"):
        load_classifier(tmp_path / "junk.onnx", "j", SHAPE)
    (tmp_path / "model.pt").write_bytes(pickle.dumps({"weights": [1, 2, 3]}))
    with pytest.raises(ModelError, match="not a TorchScript"):
        load_classifier(tmp_path / "model.pt", "p", SHAPE)
    (tmp_path / "model.h5").write_bytes(b"x")
    with pytest.raises(ModelError, match="unknown model format"):
        load_classifier(tmp_path / "model.h5", "h", SHAPE)
    with pytest.raises(ModelError, match="does not exist"):
        load_classifier(tmp_path / "absent.onnx", "a", SHAPE)


def test_unique_names():
    assert unique_names([Path("a/lenet.onnx"), Path("b/lenet.pt"), Path("mlp.pt")]) == ["lenet", "lenet-2", "mlp"]
