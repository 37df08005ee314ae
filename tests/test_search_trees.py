"""Tree ensembles as a white box (auditor/search/trees.py): an ONNX forest's trees are read into
an exact and a soft copy; --search auto walks the soft copy's gradients through the generator
first and starts margin's black-box walk from the adversary found there, checked with the
model's own ``predict``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from auditor.models import load_classifier
from auditor.search import SearchSettings, search
from auditor.search.trees import read_trees, tree_copy, tree_models
from test_search_gradient import TorchLinearGenerator


def forest(tmp_path: Path, n_trees: int = 8, post: str = "rf", latent_dim: int = 6):
    """A forest (or gradient-boosted trees, ``post="gbm"``) on a TorchLinearGenerator's images,
    exported by skl2onnx; the label is a sum of two pixels' thresholds, so its boundary is
    stepped."""
    from skl2onnx import to_onnx
    from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier

    gen = TorchLinearGenerator(latent_dim)
    rng = np.random.default_rng(4)
    images = gen.decode(rng.standard_normal((400, gen.latent_dim)).astype(np.float32))
    flat = images.reshape(len(images), -1)
    y = (flat[:, 3] + flat[:, 7] > np.median(flat[:, 3] + flat[:, 7])).astype(np.int64)
    y += flat[:, 11] > np.quantile(flat[:, 11], 0.8)
    model = (RandomForestClassifier(n_trees, max_depth=6, random_state=0) if post == "rf"
             else GradientBoostingClassifier(n_estimators=n_trees, max_depth=3, random_state=0))
    model.fit(flat, y)
    path = tmp_path / f"{post}.onnx"
    onx = to_onnx(model, flat[:1], options={id(model): {"zipmap": False}}, target_opset=17)
    path.write_bytes(onx.SerializeToString())
    return gen, images, load_classifier(path, post, gen.image_shape), model


@pytest.mark.parametrize("post", ["rf", "gbm"])
def test_the_exact_copy_scores_as_the_model_and_the_soft_copy_tends_to_it(tmp_path, post):
    gen, images, clf, model = forest(tmp_path, post=post)
    trees = tree_copy(clf, gen.image_shape, images)
    assert trees is not None and trees.post == ("NONE" if post == "rf" else "SOFTMAX")
    x = torch.from_numpy(images.reshape(len(images), -1))
    np.testing.assert_array_equal(trees.labels(x), clf.predict(images))
    exact = trees.log_scores(x).exp().numpy()
    np.testing.assert_allclose(exact, model.predict_proba(images.reshape(len(images), -1)),
                               atol=1e-5)
    far = np.abs(trees.log_scores(x, 0.3).exp().numpy() - exact).mean()
    near = np.abs(trees.log_scores(x, 1e-4).exp().numpy() - exact).mean()
    assert near < 0.05 * far
    assert tree_models(gen, [clf], images) == {post: trees}


def test_only_a_tree_ensemble_whose_copy_agrees_is_copied(tmp_path, onnx_factory, monkeypatch):
    gen, images, clf, _ = forest(tmp_path)
    assert read_trees(onnx_factory()) is None  # a network: no trees
    assert tree_models(TorchLinearGenerator.__base__(), [clf], images) == {}  # no gradients
    real = clf.predict_scores

    def shifted(x):  # the same labels, other scores: the copy is not the model's trees
        labels, logp = real(x)
        return labels, np.log(0.9 * np.exp(logp) + 0.1 / logp.shape[1])

    monkeypatch.setattr(clf, "predict_scores", shifted)
    assert tree_copy(clf, gen.image_shape, images) is None  # stays a black box


@pytest.mark.parametrize("bundle", [None, ["Ship", "cat", "AIRPLANE", "dog"],
                                    ["Ship", "cat", "AIRPLANE"]])
@pytest.mark.parametrize("zipmap", [False, True])
def test_string_classes_are_numbered_as_the_columns_or_the_generator_and_copied(tmp_path, zipmap,
                                                                                bundle):
    """A forest fitted on class names: skl2onnx orders its score columns by name, and the images
    the model meets first are of the last name. Its label ids follow the columns (not the order
    names are first met), or the generator's classes where they are exactly its own (ignoring
    case: R's labels and the model's then compare); the copy's columns follow the ids."""
    from skl2onnx import to_onnx
    from sklearn.ensemble import RandomForestClassifier

    gen, images, _, model = forest(tmp_path)
    flat = images.reshape(len(images), -1)
    names = np.array(["ship", "cat", "airplane"])[model.predict(flat)]  # columns: a, c, s
    named = RandomForestClassifier(8, max_depth=6, random_state=0).fit(flat, names)
    onx = to_onnx(named, flat[:1], options={id(named): {"zipmap": zipmap}}, target_opset=17)
    path = tmp_path / "named.onnx"
    path.write_bytes(onx.SerializeToString())
    first = np.argsort(names != "ship", kind="stable")  # the ships first
    clf = load_classifier(path, "named", gen.image_shape, class_names=bundle)
    mapped = bundle is not None and len(bundle) == 3
    ids = ["ship", "cat", "airplane"] if mapped else ["airplane", "cat", "ship"]
    assert clf.class_names == (bundle if mapped else ids)
    assert any("mapped onto the generator's" in n for n in getattr(clf, "notes", ())) == mapped
    labels = clf.predict(images[first])
    np.testing.assert_array_equal(np.array(ids)[labels], named.predict(flat[first]))
    _, logp = clf.predict_scores(images[first])
    columns = [list(named.classes_).index(c) for c in ids]
    np.testing.assert_allclose(np.exp(logp), named.predict_proba(flat[first])[:, columns],
                               atol=1e-5)
    trees = tree_copy(clf, gen.image_shape, images[first])
    assert trees is not None
    x = torch.from_numpy(flat[first])
    np.testing.assert_allclose(trees.log_scores(x).exp().numpy(), np.exp(logp), atol=1e-5)


@pytest.mark.parametrize("factor, copied", [(1.0, True), (2.0, False)])
def test_a_product_after_the_trees_is_copied_only_where_it_keeps_the_scores(tmp_path, factor,
                                                                            copied):
    """LightGBM's export multiplies its probabilities by 1: still the trees. A product that
    changes the scores leaves the model a black box."""
    import onnx
    from onnx import helper, numpy_helper

    gen, images, clf, _ = forest(tmp_path)
    model = onnx.load(str(clf.path))
    node = model.graph.node[0]
    out = list(node.output).index("probabilities")
    node.output[out] = "raw"
    model.graph.initializer.append(numpy_helper.from_array(np.array(factor, np.float32), "c"))
    model.graph.node.append(helper.make_node("Mul", ["raw", "c"], ["probabilities"]))
    path = tmp_path / "mul.onnx"
    path.write_bytes(model.SerializeToString())
    multiplied = load_classifier(path, "mul", gen.image_shape)
    assert read_trees(path) is not None
    assert (tree_copy(multiplied, gen.image_shape, images) is not None) == copied


def test_a_binary_export_and_a_forest_of_stumps_stay_black_boxes(tmp_path):
    """skl2onnx scores a binary forest's leaves for one class (ONNX Runtime gives 1 - s, s), and a
    forest fitted on constant inputs has no split at all: neither is copied."""
    from skl2onnx import to_onnx
    from sklearn.ensemble import RandomForestClassifier

    gen = TorchLinearGenerator()
    images = gen.decode(np.random.default_rng(5).standard_normal((60, 6)).astype(np.float32))
    flat = images.reshape(60, -1)
    for name, x, y in (("binary", flat, (flat[:, 3] > np.median(flat[:, 3])).astype(np.int64)),
                       ("stumps", np.zeros_like(flat), np.arange(60) % 3)):
        model = RandomForestClassifier(4, random_state=0).fit(x, y)
        onx = to_onnx(model, flat[:1], options={id(model): {"zipmap": False}}, target_opset=17)
        (tmp_path / f"{name}.onnx").write_bytes(onx.SerializeToString())
        clf = load_classifier(tmp_path / f"{name}.onnx", name, gen.image_shape)
        assert read_trees(clf.path) is None and tree_models(gen, [clf], images) == {}


def test_auto_walks_a_forest_from_its_copys_adversary_and_the_model_confirms_every_one(
        tmp_path, monkeypatch):
    """On a wide latent (the photos'); on a narrow one auto walks a forest's black box longer."""
    import auditor.search.local as local

    seen = []
    warm = local._warm
    monkeypatch.setattr(local, "_warm", lambda starts, k: seen.append(starts) or warm(starts, k))
    narrow = forest(tmp_path, n_trees=20)
    settings = SearchSettings(max_radius=8.0, refine_steps=0)
    chosen = settings.for_generator(narrow[0], [narrow[2]], narrow[1][:12])
    assert chosen.trees == () and chosen.stretched == ("rf",)
    gen, images, clf, _ = forest(tmp_path, n_trees=20, latent_dim=40)
    images = images[:12]
    chosen = settings.for_generator(gen, [clf], images)
    assert chosen.trees == ("rf",) and chosen.stretched == () and chosen.white == ()
    assert "rf first by the gradients of a soft copy of its trees" in chosen.chosen
    out = search(gen, [clf], images, settings)
    res = out.results["rf"]
    found = np.flatnonzero(np.isfinite(res.delta_z))
    assert len(found) >= 10
    flipped = clf.predict(gen.decode(res.z_star[found]))
    assert (flipped != res.prediction[found]).all()  # every adversary flips the model itself
    np.testing.assert_allclose(np.linalg.norm(res.z_star[found] - out.z0[found], axis=1),
                               res.delta_z[found], rtol=1e-5)
    # the walk starts from the copy's adversary (confirmed by predict) and only comes closer
    from auditor.search.gradient import STEPS
    from auditor.search.subspace import active_basis
    from auditor.search.trees import search_trees

    basis = active_basis(gen)  # the 16 of 40 latent directions the 16 pixels see
    assert basis.shape == (40, 16) and out.results["rf"] is res
    z_star, norm, ok = search_trees(gen, tree_copy(clf, gen.image_shape, images), clf, images,
                                    out.z0, gen.decode(out.z0), res.prediction, basis, STEPS)
    assert ok.sum() >= 4
    confirmed = ok & (clf.predict(gen.decode(z_star)) != res.prediction)
    assert len(seen) == 1  # the driver handed the walk those adversaries, in the basis
    np.testing.assert_allclose(np.linalg.norm(seen[0][confirmed], axis=1), norm[confirmed],
                               rtol=1e-4)
    assert np.isnan(seen[0][~confirmed]).all()
    assert (res.delta_z[confirmed] <= norm[confirmed] + 1e-6).all()
    assert (res.delta_z[confirmed] < norm[confirmed] - 1e-3).any()
    # a pair's result does not depend on its batch (its queries do: the anchors' share)
    again = search(gen, [clf], images, SearchSettings(max_radius=8.0, refine_steps=0,
                                                      batch_images=5))
    np.testing.assert_array_equal(again.results["rf"].delta_z, res.delta_z)


@pytest.mark.parametrize("mode", ["BRANCH_LT", "BRANCH_GT", "BRANCH_GTE"])
def test_every_comparison_an_export_uses_is_read_as_onnx_runtime_reads_it(tmp_path, mode):
    """XGBoost's exports split on x < t; a split on x > t or x >= t is one with its branches
    swapped. The thresholds are set onto pixel values, so strictness decides those inputs."""
    import onnx

    gen, images, clf, _ = forest(tmp_path)
    model = onnx.load(str(clf.path))
    node = next(n for n in model.graph.node if n.op_type == "TreeEnsembleClassifier")
    attrs = {a.name: a for a in node.attribute}
    flat = images.reshape(len(images), -1)
    modes = list(attrs["nodes_modes"].strings)
    splits = [i for i, m in enumerate(modes) if m != b"LEAF"]
    features = attrs["nodes_featureids"].ints
    values = list(attrs["nodes_values"].floats)
    for i in splits[::2]:  # half the thresholds exactly on some input's pixel value
        values[i] = float(flat[i % len(flat), features[i]])
    del attrs["nodes_values"].floats[:]
    attrs["nodes_values"].floats.extend(values)
    if mode != "BRANCH_LT":  # x > t (x >= t) on the swapped branches: x <= t (x < t) as before
        true, false = list(attrs["nodes_truenodeids"].ints), list(attrs["nodes_falsenodeids"].ints)
        del attrs["nodes_truenodeids"].ints[:], attrs["nodes_falsenodeids"].ints[:]
        attrs["nodes_truenodeids"].ints.extend(false)
        attrs["nodes_falsenodeids"].ints.extend(true)
    del attrs["nodes_modes"].strings[:]
    attrs["nodes_modes"].strings.extend([m if m == b"LEAF" else mode.encode() for m in modes])
    path = tmp_path / f"{mode}.onnx"
    onnx.save(model, str(path))
    edited = load_classifier(path, "edited", gen.image_shape)
    trees = read_trees(path)
    labels = edited.predict(images)
    np.testing.assert_array_equal(trees.labels(torch.from_numpy(flat)), labels)
    assert tree_copy(edited, gen.image_shape, images) is not None
    trees.strict = ~trees.strict  # the other strictness: some input's label changes
    assert (trees.labels(torch.from_numpy(flat)) != labels).any()


def test_a_known_adversary_is_the_first_start_stage_of_the_walk():
    """SearchContext.starts (the soft copy's adversaries): a pair that has one first proposes k
    norms along it from local.WARM of its norm up to it; a pair without starts as before."""
    from auditor.search.local import WARM, LocalSearch
    from auditor.search.types import SearchContext

    d, k = 5, 8
    rng = np.random.default_rng(0)
    starts = np.full((2, d), np.nan, dtype=np.float32)
    starts[0] = [0.0, 3.0, 0.0, 4.0, 0.0]
    context = SearchContext(z0=np.zeros((2, d), dtype=np.float32), target=np.zeros(2, int),
                            n_models=1, anchors=rng.standard_normal((512, d)),
                            anchor_labels=np.zeros((1, 512), int), starts=starts)
    settings = SearchSettings(algorithm="local", samples=k).for_latent(d).resolved()
    state = LocalSearch(2, settings, d, context)
    noise = rng.standard_normal((2, k, d)).astype(np.float32)
    deltas, _ = state.propose(np.arange(2), noise, np.ones((2, k), dtype=np.float32))
    np.testing.assert_allclose(deltas[0], 5.0 * np.geomspace(WARM, 1.0, k)[:, None]
                               * (starts[0] / 5.0)[None], rtol=1e-5)
    unchanged = LocalSearch(2, settings, d, SearchContext(**{**vars(context), "starts": None}))
    np.testing.assert_array_equal(deltas[1], unchanged.propose(np.arange(2), noise,
                                                               np.ones((2, k), np.float32))[0][1])
