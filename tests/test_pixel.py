"""Pixel-space attacks: every saved adversary flips its model within its reported eps, the
attacks come close to a known optimum, and a pair's result depends only on its own image."""

from __future__ import annotations

import numpy as np
import pytest

from auditor.errors import OptionError
from auditor.pixel import PixelSettings, choose_attack, distance, pixel_attack

SHAPE = (1, 4, 4)


class Linear:
    """Label 1 where w . x > b: the nearest L2 adversary of x lies at |w.x - b| / |w| (inside the box)."""

    format = "fake"
    class_names = None

    def __init__(self, name="linear", scores=True, seed=0):
        rng = np.random.default_rng(seed)
        self.name, self.has_scores = name, scores
        self.w = rng.standard_normal(16)
        self.b = 0.5 * self.w.sum()  # through the box's centre

    @property
    def label(self):  # how messages name it (the Classifier protocol)
        return self.name

    def margin(self, images):
        return images.reshape(len(images), -1) @ self.w - self.b

    def predict(self, images):
        return (self.margin(images) > 0).astype(np.int64)

    def predict_scores(self, images):
        m = self.margin(images)
        logits = np.stack([np.zeros_like(m), m], axis=1)
        return self.predict(images), logits - np.logaddexp(0, m)[:, None]


def images(n=12, seed=1):
    rng = np.random.default_rng(seed)
    return (0.35 + 0.3 * rng.random((n, *SHAPE))).astype(np.float32)  # near the centre: optimum inside the box


def attack(models, x, **kw):
    settings = PixelSettings(**({"attack": "hsj", "queries": 1500} | kw))
    chosen = choose_attack(settings.attack, models)
    preds = {m.name: m.predict(x) for m in models}
    return pixel_attack(models, x, preds, settings, chosen), preds, settings


@pytest.mark.parametrize("name", ["hsj", "nattack"])
@pytest.mark.parametrize("norm", ["l2", "linf"])
def test_every_adversary_flips_within_its_eps(name, norm):
    model, x = Linear(), images()
    out, preds, settings = attack([model], x, attack=name, norm=norm)
    res = out.results["linear"]
    found = ~np.isnan(res.eps)
    assert found.all()
    assert (model.predict(res.adversary[found]) != preds["linear"][found]).all()
    np.testing.assert_allclose(distance(res.adversary[found] - x[found], norm), res.eps[found], atol=1e-6)
    assert (res.adversary[found] >= 0).all() and (res.adversary[found] <= 1).all()
    assert (res.queries <= settings.queries).all()


@pytest.mark.parametrize("name, within", [("hsj", 1.05), ("nattack", 1.25)])
def test_close_to_the_known_optimum(name, within):
    model, x = Linear(), images()
    out, _, _ = attack([model], x, attack=name, norm="l2", queries=3000)
    optimum = np.abs(model.margin(x)) / np.linalg.norm(model.w)
    eps = out.results["linear"].eps
    assert (eps >= optimum - 1e-5).all()  # an upper bound, never below the truth
    assert np.median(eps / optimum) < within


def test_a_pairs_result_depends_only_on_its_image():
    model, other, x = Linear(), Linear("other", seed=3), images(80)
    both, _, _ = attack([model, other], x)
    alone, _, _ = attack([model], x[:10])
    again, _, _ = attack([model, other], x)
    np.testing.assert_array_equal(alone.results["linear"].eps, both.results["linear"].eps[:10])
    np.testing.assert_array_equal(again.results["other"].eps, both.results["other"].eps)


def test_auto_picks_one_family_for_all_models():
    scored, labels_only = Linear(), Linear("labels", scores=False)
    assert choose_attack("auto", [scored]) == "nattack"
    assert choose_attack("auto", [scored, labels_only]) == "hsj"
    with pytest.raises(OptionError, match="labels only"):
        choose_attack("nattack", [scored, labels_only])


@pytest.mark.parametrize("kw, message", [
    ({"attack": "fgsm"}, "--pixel-attack"), ({"norm": "l1"}, "--pixel-norm"), ({"max_eps": -1}, "--pixel-max"),
    ({"norm": "linf", "max_eps": 2}, "above 1"), ({"queries": 10}, "--pixel-queries"),
])
def test_bad_settings_are_one_line(kw, message):
    with pytest.raises(OptionError, match=message):
        PixelSettings(**kw).validate()


def test_censored_beyond_the_cap():
    model, x = Linear(), images()
    out, _, _ = attack([model], x, max_eps=1e-3)
    res = out.results["linear"]
    assert np.isnan(res.eps).all() and (res.adversary_prediction == -1).all()


# --- in a scan ---------------------------------------------------------------------------

import json  # noqa: E402
import shutil  # noqa: E402
from pathlib import Path  # noqa: E402

from typer.testing import CliRunner  # noqa: E402

from auditor.cli import app  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
FAST = ["--samples", "30", "--step", "0.2", "--refine-steps", "5", "--error-distance", "off", "--gallery", "4",
        "--pixel-queries", "300"]


@pytest.fixture
def digits16(tmp_path):
    folder = tmp_path / "digits16"
    folder.mkdir()
    for path in sorted((ROOT / "examples" / "digits").glob("[0-7]_[01].png")):
        shutil.copy(path, folder / path.name)
    return folder


@pytest.fixture
def labels_only_forest(sklearn_model, tmp_path):
    """The scikit-learn forest with its probability output removed: labels only."""
    import onnx

    model = onnx.load(str(sklearn_model))
    keep = [o for o in model.graph.output if o.name == "output_label"]
    del model.graph.output[:]
    model.graph.output.extend(keep)
    path = tmp_path / "rf_labels.onnx"
    onnx.save(model, str(path))
    return path


def check_saved_adversaries(out: Path) -> dict:
    """Every adversary in the npz flips its model and lies within its reported eps; returns results.json."""
    import hashlib

    from auditor.models import load_classifier

    res = json.loads((out / "results.json").read_text())
    npz_bytes = (out / "pixel-adversaries.npz").read_bytes()
    assert hashlib.sha256(npz_bytes).hexdigest() == res["pixel"]["adversaries_sha256"]
    npz = np.load(out / "pixel-adversaries.npz")
    names = [str(v) for v in npz["models"]]
    by_name = {m["name"]: m for m in res["models"]}
    for k, name in enumerate(names):
        rows = npz["model"] == k
        idx, x = npz["index"][rows], npz["x"][rows]
        clf = load_classifier(Path(by_name[name]["path"]), name, (1, 28, 28))
        preds = np.array([res["instances"][i]["results"][name]["prediction"] for i in idx])
        assert (clf.predict(x) != preds).all(), name
        from auditor.data import load_images

        clean = load_images(Path(res["data"]["path"]), (1, 28, 28)).images[idx]
        eps = distance(x - clean, res["pixel"]["norm"])
        reported = np.array([res["instances"][i]["results"][name]["pixel_eps"] for i in idx])
        np.testing.assert_allclose(eps, reported, atol=2e-6)
        assert (eps <= reported + 1e-12).all()  # the reported eps is an upper bound, like dz
        assert (eps <= res["pixel"]["max_eps"]).all()
    return res


@pytest.mark.slow
def test_a_scan_shows_both_views_everywhere(digits16, sklearn_model, tmp_path):
    out = tmp_path / "both"
    models = [ROOT / "examples/models/lenet.onnx", ROOT / "examples/models/mlp.pt", sklearn_model]
    result = CliRunner().invoke(app, ["scan", *map(str, models), str(digits16), "--out", str(out),
                                      "--pixel-attack", "auto", *FAST], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "pixel attack: nattack" in result.output  # every model gives scores (the forest through its ZipMap)
    assert "Pixel-space robustness ε (L2, NATTACK" in result.output and "ranking by ε" in result.output
    res = check_saved_adversaries(out)
    assert res["pixel"]["attack"] == "nattack" and res["pixel"]["complete"] and res["complete"]
    for m in res["models"]:
        p = m["pixel"]
        assert set(p["stable"]) == {"0.5", "1", "2", "3"} and p["naturalness"]["pixel"]["n"] >= 1
        assert 0 <= p["repair"]["pixel"]["repaired"] <= 1
    html = (out / "index.html").read_text()
    assert "Pixel-space robustness" in html and "How natural is each adversary" in html and 'alt="pixel adversary"' in html
    assert 'alt="round trip through the generator"' in html  # the repair examples
    assert "Pixel-space robustness" in (out / "model-card.md").read_text()
    assert (out / "report.pdf").stat().st_size > 10_000


@pytest.mark.slow
def test_labels_only_models_get_hopskipjump(digits16, sklearn_model, labels_only_forest, tmp_path):
    out = tmp_path / "hsj"
    models = [ROOT / "examples/models/lenet.onnx", labels_only_forest]
    result = CliRunner().invoke(app, ["scan", *map(str, models), str(digits16), "--out", str(out), "--format", "json",
                                      "--pixel-attack", "auto", "--pixel-norm", "linf", *FAST])
    assert result.exit_code == 0, result.output
    res = check_saved_adversaries(out)
    assert res["pixel"]["attack"] == "hsj" and res["pixel"]["norm"] == "linf"
    bad = CliRunner().invoke(app, ["scan", *map(str, models), str(digits16), "--out", str(tmp_path / "x"),
                                   "--pixel-attack", "nattack", *FAST])
    assert bad.exit_code == 2 and "labels only" in bad.output and "Traceback" not in bad.output


@pytest.mark.slow
def test_same_seed_same_results_and_resume_identical(digits16, tmp_path, monkeypatch):
    import auditor.pixel

    monkeypatch.setattr(auditor.pixel, "BATCH", 5)  # several pixel batches on 16 images
    args = ["scan", str(ROOT / "examples/models/lenet.onnx"), str(ROOT / "examples/models/mlp.pt"), str(digits16),
            "--format", "json", "--pixel-attack", "hsj", *FAST]
    straight = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "a")])
    again = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "b")])
    assert straight.exit_code == again.exit_code == 0
    stopped = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "c")],
                                 env={"AUDITOR_FAULT": "pixel-between-batches:INT:2"})
    assert stopped.exit_code == 130 and "pixel attack: 10" in stopped.output, stopped.output
    partial = json.loads((tmp_path / "c" / "results.json").read_text())
    assert partial["complete"] is False and partial["pixel"]["progress"]["done"] == 10
    resumed = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "c"), "--resume"])
    assert resumed.exit_code == 0 and "(pixel attack: 10)" in resumed.output

    def comparable(folder):
        res = json.loads((tmp_path / folder / "results.json").read_text())
        res["pixel"].pop("seconds")
        return {k: res[k] for k in ("models", "instances", "pixel")}

    assert comparable("a") == comparable("b") == comparable("c")
    assert (tmp_path / "a" / "pixel-adversaries.npz").read_bytes() == (tmp_path / "c" / "pixel-adversaries.npz").read_bytes()


@pytest.mark.slow
def test_a_stop_after_the_latent_search_leaves_the_pixel_view_and_search_error_to_resume(digits16, tmp_path):
    args = ["scan", str(ROOT / "examples/models/mlp.pt"), str(digits16), "--format", "json", "--pixel-attack", "hsj",
            *FAST, "--search-error", "2"]
    straight = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "a")])
    assert straight.exit_code == 0, straight.output
    stopped = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "b")], env={"AUDITOR_FAULT": "after-search:INT"})
    assert stopped.exit_code == 130 and "--resume" in stopped.output, stopped.output
    partial = json.loads((tmp_path / "b" / "results.json").read_text())
    assert partial["progress"]["done"] == 16 and partial["complete"] is False  # the latent search alone is not the scan
    assert "search_error" not in partial
    resumed = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "b"), "--resume"])
    assert resumed.exit_code == 0, resumed.output

    def comparable(folder):
        res = json.loads((tmp_path / folder / "results.json").read_text())
        res["pixel"].pop("seconds")
        res["search_error"].pop("seconds")
        return {k: res[k] for k in ("models", "instances", "pixel", "search_error", "complete")}

    assert comparable("a") == comparable("b") and comparable("b")["complete"] is True


def test_naturalness_knows_salt_noise_from_a_clean_image():
    from PIL import Image

    from auditor.naturalness import Naturalness

    files = sorted((ROOT / "examples" / "digits").glob("*.png"))
    clean = np.stack([np.asarray(Image.open(f), dtype=np.float32) / 255 for f in files])[:, None]
    nat = Naturalness(clean)
    rng = np.random.default_rng(0)
    salt = clean.copy()
    salt[rng.random(salt.shape) < 0.2] = 1.0
    far = nat.score(salt, np.arange(len(clean)))
    assert far["out_of_domain"].all() and (far["pixels"] == 1).all()
    near = nat.score(clean[:10], np.arange(10))  # each against the others: a clean image is in
    assert not near["out_of_domain"].any() and np.median(near["pixels"]) < 0.9
    own = nat.clean_scores()
    assert own["out_of_domain"].mean() <= 0.05


def test_repair_undoes_pixel_noise_but_not_the_generators_own_images():
    from auditor.generators import load_generator
    from auditor.pixel.repair import repair, round_trip

    gen = load_generator("mnist", device="cpu")
    from PIL import Image

    files = sorted((ROOT / "examples" / "digits").glob("*_0.png"))
    x = np.stack([np.asarray(Image.open(f), dtype=np.float32) / 255 for f in files])[:, None]

    class Threshold:  # label 1 where the image holds a salt pixel the generator would never draw
        def predict(self, images):
            return (images.reshape(len(images), -1).max(axis=1) > 0.999).astype(np.int64) * 0 + \
                   ((images.reshape(len(images), -1) > 0.5).mean(axis=1) > 0.3).astype(np.int64)

    rng = np.random.default_rng(1)
    noisy = x.copy()
    noisy[rng.random(x.shape) < 0.3] = 1.0  # much more ink: label 1
    clf = Threshold()
    labels = clf.predict(x)
    assert (clf.predict(noisy) != labels).all()
    fixed = repair(gen, clf, noisy, labels, np.ones(len(x), bool), refine_steps=20)
    assert fixed["repaired"] >= 0.8  # the round trip draws a digit again: the noise is gone
    on_manifold = round_trip(gen, x, 20)
    again = round_trip(gen, on_manifold, 20)
    assert np.abs(again - on_manifold).mean() < np.abs(noisy - x).mean() / 10
