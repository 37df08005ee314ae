"""The Classifier protocol, the same checks for every backend: ONNX file (scores, labels only,
scikit-learn's probability maps), in-memory ONNX session, TorchScript, torch module, Python
function, the reference classifiers (torch, ONNX, text) and the text models."""

from __future__ import annotations

import numpy as np
import pytest

from auditor.errors import ModelError
from auditor.models import Classifier, as_classifier, load_classifier

SHAPE = (1, 28, 28)


def _images(n: int = 6) -> np.ndarray:
    return np.random.default_rng(0).random((n, *SHAPE), dtype=np.float32)


def _pairs(n: int = 6) -> np.ndarray:
    from text_fixtures import pairs

    return np.array(pairs(n, seed=3)[0], dtype=object)


def _onnx(onnx_factory, tmp_path, sklearn_model, torchscript_model, **kw):
    return load_classifier(onnx_factory(**kw), "onnx", SHAPE)


def _session(onnx_factory, tmp_path, sklearn_model, torchscript_model):
    import onnxruntime as ort

    return as_classifier(ort.InferenceSession(str(onnx_factory())), "session", SHAPE)


def _module(onnx_factory, tmp_path, sklearn_model, torchscript_model):
    import torch

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(784, 5))
    return as_classifier(net, "module", SHAPE)


def _function(onnx_factory, tmp_path, sklearn_model, torchscript_model, scores=True):
    w = np.random.default_rng(1).standard_normal((784, 4)).astype(np.float32)

    def fn(x):
        s = x.reshape(len(x), -1) @ w
        return s if scores else s.argmax(axis=1)

    return as_classifier(fn, "fn", SHAPE)


def _reference(onnx_factory, tmp_path, sklearn_model, torchscript_model):
    import torch

    from auditor.reference import ReferenceClassifier, build_reference

    torch.manual_seed(0)
    net = build_reference(SHAPE, 10).eval()
    return ReferenceClassifier(net, [str(k) for k in range(10)], {"input": "float32 NCHW"})


def _onnx_reference(onnx_factory, tmp_path, sklearn_model, torchscript_model):
    import onnxruntime as ort

    from auditor.reference import OnnxReference

    session = ort.InferenceSession(str(onnx_factory(classes=3)))
    return OnnxReference(session, ["a", "b", "c"], {"architecture": "onnx"})


def _text_reference(onnx_factory, tmp_path, sklearn_model, torchscript_model):
    from text_fixtures import pairs

    from auditor.text.reference import TextReferenceClassifier, train_reference

    train, labels = pairs(120, seed=0)
    ref = train_reference(train, labels, epochs=5, min_count=1, seed=0)
    return TextReferenceClassifier(ref, {"accuracy": None})


def _text_onnx(onnx_factory, tmp_path, sklearn_model, torchscript_model):
    from text_fixtures import pair_model

    from auditor.text.model_loading import as_text_classifier

    path = pair_model(tmp_path / "pairs.onnx", 90)
    return as_text_classifier(path, "pairs", True, ["entailment", "neutral", "contradiction"])


def _text_function(onnx_factory, tmp_path, sklearn_model, torchscript_model):
    from auditor.text.model_loading import as_text_classifier

    def fn(items):
        return np.array([[len(p), len(h), 1.0] for p, h in items], dtype=np.float32)

    return as_text_classifier(fn, "lengths", True, None)


# name: (make, format, gives scores, has a gradient module, takes text pairs)
BACKENDS = {
    "onnx": (_onnx, "onnx", True, False, None),
    "onnx-labels": (lambda *a: _onnx(*a, output="labels"), "onnx", False, False, None),
    "onnx-sklearn": (lambda f, t, s, ts: load_classifier(s, "rf", SHAPE), "onnx", True, False,
                     None),
    "onnx-session": (_session, "onnx (session)", True, False, None),
    "torchscript": (lambda f, t, s, ts: load_classifier(ts, "mlp", SHAPE), "torchscript", True,
                    True, None),
    "torch-module": (_module, "torch.nn.Module", True, True, None),
    "callable": (_function, "callable", True, False, None),
    "callable-labels": (lambda *a: _function(*a, scores=False), "callable", False, False, None),
    "reference": (_reference, "reference", True, False, None),
    "onnx-reference": (_onnx_reference, "onnx reference", True, False, None),
    "text-reference": (_text_reference, "text reference", True, False, True),
    "text-onnx": (_text_onnx, "onnx", True, False, True),
    "text-callable": (_text_function, "callable", True, False, True),
}


@pytest.mark.parametrize("backend", list(BACKENDS))
def test_every_backend_keeps_the_classifier_protocol(backend, onnx_factory, tmp_path, sklearn_model,
                                                     torchscript_model):
    make, fmt, scores, white_box, pairs = BACKENDS[backend]
    clf = make(onnx_factory, tmp_path, sklearn_model, torchscript_model)
    x = _pairs() if pairs else _images()
    assert isinstance(clf, Classifier)
    labels = clf.predict(x)
    assert labels.shape == (len(x),) and labels.dtype == np.int64
    assert clf.format == fmt and isinstance(clf.provider, str) and clf.provider
    assert isinstance(clf.name, str) and isinstance(clf.label, str) and clf.label
    assert isinstance(clf.contract.describe(), str)
    assert clf.pairs is pairs
    assert (clf.gradient_module is not None) == white_box
    assert clf.has_scores == scores
    if scores:
        again, log_p = clf.predict_scores(x)
        np.testing.assert_array_equal(again, labels)
        assert log_p.ndim == 2 and len(log_p) == len(x)
        np.testing.assert_allclose(np.exp(log_p).sum(axis=1), 1.0, atol=1e-5)
        assert clf.n_outputs in (None, log_p.shape[1])
    else:
        with pytest.raises(ModelError, match="labels only"):
            clf.predict_scores(x)
    names = clf.class_names
    assert names is None or all(isinstance(v, str) for v in names)


def test_the_reference_classifiers_know_their_classes(onnx_factory, tmp_path, sklearn_model,
                                                      torchscript_model):
    args = (onnx_factory, tmp_path, sklearn_model, torchscript_model)
    assert _reference(*args).n_outputs == 10 and _onnx_reference(*args).n_outputs == 3
    assert _text_reference(*args).class_names == ["entailment", "neutral", "contradiction"]


# the registered backend (models/backends.py) each case above covers
COVERS = {"onnx": "onnx", "torchscript": "torchscript", "torch-module": "torch.nn.Module",
          "onnx-session": "onnxruntime.InferenceSession", "callable": "function"}


def test_every_registered_model_backend_has_a_contract_case():
    """The contract runs over the registries: a backend registered without a case here fails."""
    from auditor.models.backends import MODEL_FILES, MODEL_OBJECTS
    from auditor.models.loading import FILE_BACKENDS  # noqa: F401  (imports register them)

    registered = set(MODEL_FILES) | set(MODEL_OBJECTS)
    assert registered == {COVERS[case] for case in COVERS if case in BACKENDS}, registered
