"""Issue #33: the detail-preserving decoding rule, the consensus figure and the naturalness of
every natural adversary in every scan."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from auditor.cli import app
from auditor.consensus import consensus_accuracy, cot, dawid_skene, softmax_corr
from auditor.search import SearchSettings, search
from conftest import HalfSpace, LinearGenerator


class BlurryGenerator(LinearGenerator):
    """A linear generator whose reconstructions miss the images' detail: G(I(x)) != x."""

    decoding = "detail-preserving"


def photos(gen, n: int = 8, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((n, gen.latent_dim)).astype(np.float32) * 0.5
    detail = rng.uniform(-0.15, 0.15, (n, *gen.image_shape)).astype(np.float32)  # off G's range: not expressible
    return np.clip(gen.decode(z) + detail, 0, 1)


def test_detail_preserving_candidates_are_the_photo_plus_the_latent_change():
    gen = BlurryGenerator()
    x = photos(gen)
    z0 = gen.encode(x)
    base = gen.decode(z0)
    assert not np.allclose(base, x, atol=1e-3)  # a blurry reconstruction
    np.testing.assert_allclose(gen.render(z0, x, base), x, atol=1e-6)  # ... but z0 renders the photo itself
    dz = np.random.default_rng(0).standard_normal(z0.shape).astype(np.float32)
    moved = gen.render(z0 + dz, x, base)
    np.testing.assert_allclose(moved, np.clip(x + gen.decode(z0 + dz) - base, 0, 1), atol=1e-6)
    assert moved.min() >= 0 and moved.max() <= 1


def test_search_under_detail_preserving_decoding_keeps_every_reconstruction_and_flips_by_the_rule():
    gen = BlurryGenerator()
    x = photos(gen)
    w = np.random.default_rng(3).standard_normal(16).astype(np.float32)
    clf = HalfSpace("half", w, b=float(np.median(x.reshape(len(x), -1) @ w)))
    out = search(gen, [clf], x, SearchSettings(samples=40, max_radius=8.0, refine_steps=0))
    res = out.results["half"]
    assert not res.reconstruction_changed.any()  # the reconstruction is the photo: every image is searched
    found = ~np.isnan(res.delta_z)
    assert found.all()
    base = gen.decode(out.z0[found])
    adversaries = gen.render(res.z_star[found], x[found], base)
    assert (clf.predict(adversaries) != res.prediction[found]).all()  # z* flips under the rule, not under plain G
    np.testing.assert_allclose(np.linalg.norm(res.z_star - out.z0, axis=1), res.delta_z, atol=1e-3)


def test_dawid_skene_recovers_the_accuracies_of_independent_annotators():
    rng = np.random.default_rng(0)
    truth = rng.integers(0, 10, 2000)
    accs = [0.9, 0.75, 0.6, 0.45, 0.3]
    votes = np.stack([np.where(rng.random(len(truth)) < a, truth, rng.integers(0, 10, len(truth))) for a in accs])
    true_acc = (votes == truth).mean(axis=1)
    est = dawid_skene(votes)["accuracy"]
    assert np.abs(est - true_acc).max() < 0.03
    assert list(np.argsort(est)) == list(np.argsort(true_acc))
    assert consensus_accuracy({"a": votes[0], "b": votes[1]}) is None  # fewer than three models: no estimate
    assert set(consensus_accuracy({str(i): v for i, v in enumerate(votes)})) == {"0", "1", "2", "3", "4"}


def test_softmax_corr_and_cot_prefer_confident_diverse_predictions():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 5, 300)
    sharp = np.full((300, 5), 0.02)
    sharp[np.arange(300), labels] = 0.92
    flat = np.full((300, 5), 0.2)
    collapsed = np.tile(np.array([0.92, 0.02, 0.02, 0.02, 0.02]), (300, 1))
    assert softmax_corr(sharp) > softmax_corr(flat) and softmax_corr(sharp) > softmax_corr(collapsed)
    assert cot(sharp) > cot(flat) and cot(sharp) > cot(collapsed)
    assert cot(np.eye(5)[np.arange(300) % 5]) == pytest.approx(1.0)  # balanced one-hots: no transport


def test_a_scan_of_three_models_reports_consensus_and_naturalness(onnx_factory, digits_dir, tiny_bundle, tmp_path):
    models = [str(onnx_factory(name=f"m{i}.onnx", seed=i)) for i in range(3)]
    out = tmp_path / "r"
    result = CliRunner().invoke(app, ["scan", *models, str(digits_dir), "--generator", str(tiny_bundle), "--out",
                                      str(out), "--samples", "10", "--refine-steps", "0", "--format", "html,json",
                                      "--search-error", "off"])
    assert result.exit_code == 0, result.output
    res = json.loads((out / "results.json").read_text())
    assert res["consensus"]["method"] == "Dawid-Skene"
    for m in res["models"]:
        assert 0.0 <= m["consensus_accuracy"] <= 1.0
        nat = m["naturalness"]["natural"]
        assert nat["n"] == m["n_images"] - m["n_censored"] - m["n_reconstruction_changed"]
        assert nat["out_of_domain"] is None or 0.0 <= nat["out_of_domain"] <= 1.0
    assert res["generator"]["decoding"] == "plain"
    assert "consensus accuracy estimate" in result.output and "out of domain" in result.output
    html = (out / "index.html").read_text()
    assert "consensus accuracy" in html and "adversaries out of domain" in html


def test_the_scan_says_when_consensus_rates_a_model_above_the_reference():
    from auditor.summary_sentences import consensus_text, underrated_text

    res = {"consensus": {"method": "Dawid-Skene", "assumption": "errors independent"},
           "generator": {"reference_classifier": {"accuracy": 0.8, "models": ["a", "b", "c"]}},
           "models": [{"name": "a", "consensus_accuracy": 0.86}, {"name": "b", "consensus_accuracy": 0.7},
                      {"name": "c", "consensus_accuracy": 0.5}]}
    assert "a: estimated above the reference classifier's own accuracy (80.0%)" in underrated_text(res)
    assert consensus_text(res, ["a", "b", "c"]).startswith("consensus accuracy estimate: a 86%, b 70%, c 50%")
    res["models"][0]["consensus_accuracy"] = 0.79
    assert underrated_text(res) is None


def test_the_radius_cap_scales_with_the_latent_size_and_keeps_the_grayscale_bundles_at_8():
    assert SearchSettings().for_latent(16).max_radius == 8.0
    assert SearchSettings().for_latent(64).max_radius == 16.0
    assert SearchSettings(max_radius=5.0).for_latent(64).max_radius == 5.0  # an explicit cap is kept


def test_photo_difference_maps_are_scaled_to_their_largest_change():
    from auditor.pictures import difference_map

    x = np.full((3, 4, 4), 0.5, np.float32)
    adv = x.copy()
    adv[:, 0, 0] += 0.05  # a small natural change
    faint, scaled = difference_map(adv, x), difference_map(adv, x, scaled=True)
    assert faint[0, 0].min() > 200  # barely visible unscaled
    assert tuple(scaled[0, 0]) == (0, 0, 255) and tuple(scaled[1, 1]) == (255, 255, 255)
