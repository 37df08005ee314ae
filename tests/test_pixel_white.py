"""White-box pixel attacks (fmn, deepfool; issue 32): contract tests over the registry's
white-box attacks on small torch models built here, the torch input preparation against the
NumPy one, the choice of attack, and the refusal of models without gradients."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from auditor.errors import OptionError
from auditor.models import InputContract, ModelOptions, as_classifier, load_classifier
from auditor.pixel import REGISTRY, PixelSettings, choose_attack, distance, pixel_attack
from auditor.pixel.gradients import prepare

SHAPE = (1, 4, 4)
WHITE = [name for name, info in REGISTRY.items() if info.box == "white"]
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny models: one thread is fastest, and steadier on a busy machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def linear(seed: int = 0) -> torch.nn.Module:
    """Two logits, (0, w.x - b): label 1 where w.x > b, the boundary through the box's centre;
    the nearest adversary of x lies at |w.x - b| / ||w||_2 (L2) or / ||w||_1 (Linf)."""
    g = torch.Generator().manual_seed(seed)
    w = torch.randn(16, generator=g)
    layer = torch.nn.Linear(16, 2)
    with torch.no_grad():
        layer.weight.copy_(torch.stack([torch.zeros(16), w]))
        layer.bias.copy_(torch.tensor([0.0, -0.5 * float(w.sum())]))
    return layer


def convnet(seed: int = 0, classes: int = 4) -> torch.nn.Module:
    """A small random CNN whose labels vary over the images below (its last layer centred on them)."""
    torch.manual_seed(seed)
    net = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.ReLU(), torch.nn.Flatten(),
                              torch.nn.Linear(64, 16), torch.nn.ReLU(), torch.nn.Linear(16, classes))
    with torch.no_grad():
        hidden = net[:-1](torch.from_numpy(images(200, seed=99)))  # (200, 16)
        net[-1].weight.div_(hidden.std(0) + 1e-3)  # every hidden unit counts alike
        net[-1].bias.copy_(-(hidden @ net[-1].weight.T).mean(0))  # logits centred on these images
    return net


def images(n: int = 12, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (0.35 + 0.3 * rng.random((n, *SHAPE))).astype(np.float32)


def run(clf, x, attack, norm="l2", queries=400, seed=0):
    settings = PixelSettings(attack=attack, norm=norm, queries=queries, seed=seed)
    settings.validate()
    labels = clf.predict(x)
    return pixel_attack([clf], x, {clf.name: labels}, settings, attack).results[clf.name], labels


@pytest.mark.parametrize("attack", WHITE)
@pytest.mark.parametrize("norm", ["l2", "linf"])
@pytest.mark.parametrize("model", ["linear", "convnet"])
def test_every_adversary_flips_its_model_within_its_eps(attack, norm, model):
    clf = as_classifier(linear() if model == "linear" else convnet(), model, SHAPE)
    x = images()
    res, labels = run(clf, x, attack, norm)
    found = ~np.isnan(res.eps)
    assert found.all()
    assert (clf.predict(res.adversary) != labels).all()
    assert (res.adversary_prediction == clf.predict(res.adversary)).all()
    assert (res.adversary >= 0).all() and (res.adversary <= 1).all()
    measured = distance(res.adversary - x, norm)
    assert (measured <= res.eps).all() and np.allclose(measured, res.eps, atol=1e-6)
    assert (res.queries <= 400).all() and (res.queries > 0).all()


@pytest.mark.parametrize("attack, within", [("fmn", 1.01), ("deepfool", 1.01)])
@pytest.mark.parametrize("norm", ["l2", "linf"])
def test_close_to_the_known_optimum(attack, within, norm):
    module = linear()
    clf = as_classifier(module, "linear", SHAPE)
    x = images()
    res, _ = run(clf, x, attack, norm)
    w = module.weight[1].detach().double().numpy()
    margin = np.abs(x.reshape(len(x), -1) @ w + float(module.bias[1].detach()))
    optimum = margin / (np.linalg.norm(w) if norm == "l2" else np.abs(w).sum())
    assert (res.eps >= optimum - 1e-5).all()  # an upper bound, never below the truth
    assert np.max(res.eps / optimum) < within


@pytest.mark.parametrize("attack", WHITE)
def test_the_same_seed_gives_the_same_adversaries(attack, tmp_path):
    torch.jit.script(convnet(3)).save(str(tmp_path / "cnn.pt"))  # the TorchScript path
    clf = load_classifier(tmp_path / "cnn.pt", "cnn", SHAPE)
    x = images(12)
    first, _ = run(clf, x, attack, seed=4)
    again, _ = run(clf, x, attack, seed=4)
    np.testing.assert_array_equal(first.eps, again.eps)
    np.testing.assert_array_equal(first.adversary, again.adversary)
    np.testing.assert_array_equal(first.queries, again.queries)


def test_fmn_is_no_looser_than_deepfool():
    clf = as_classifier(convnet(5, classes=6), "cnn", SHAPE)
    x = images(24)
    fmn, _ = run(clf, x, "fmn", queries=800)
    deepfool, _ = run(clf, x, "deepfool", queries=800)
    assert (fmn.eps <= deepfool.eps + 1e-6).all()  # fmn starts from deepfool's adversary
    assert np.median(fmn.eps / deepfool.eps) < 1.0


class LabelWithMargin(torch.nn.Module):
    """Outputs (labels, logits) where the label changes only 0.02 past the scores' argmax
    boundary: the attack's flips by argmax must be checked against the model's own label."""

    def __init__(self) -> None:
        super().__init__()
        self.inner = linear()

    def forward(self, x):
        s = self.inner(x)
        return (s[:, 1] - s[:, 0] > 0.02).long(), s


def test_an_adversary_the_model_itself_does_not_flip_is_not_kept():
    clf = as_classifier(LabelWithMargin(), "shifted", SHAPE)
    x = images()
    res, labels = run(clf, x, "fmn")
    kept = ~np.isnan(res.eps)
    assert kept.any() and (~kept).any()  # some pushed a little further flip the label, some do not
    assert (clf.predict(res.adversary[kept]) != labels[kept]).all()
    assert (res.adversary_prediction[~kept] == -1).all()


@pytest.mark.parametrize("contract", [
    InputContract("flat", None, 1),
    InputContract("nchw", None, 3, input_scale=255.0, mean=(0.5, 0.4, 0.3), std=(0.2, 0.3, 0.4)),
    InputContract("nhwc", None, 1, mean=(0.1307,), std=(0.3081,)),
    InputContract("nhw", None, 1),
    InputContract("nchw", None, 1, size=(9, 9)),
    InputContract("nchw", None, 1, size=(3, 3)),
])
def test_the_torch_input_preparation_is_numpys(contract):
    x = images(5)
    np.testing.assert_allclose(prepare(contract, torch.from_numpy(x)).numpy(), contract.prepare(x), rtol=1e-6,
                               atol=1e-5)


class Fake:
    """A black box with scores: no gradients."""

    name = label = "fake"
    format = "callable"
    has_scores = True


def test_auto_picks_fmn_only_when_every_model_gives_gradients():
    cnn = as_classifier(convnet(), "cnn", SHAPE)
    assert choose_attack("auto", [cnn], SHAPE) == "fmn"
    assert choose_attack("auto", [cnn, Fake()], SHAPE) == "nattack"
    with pytest.raises(OptionError, match="needs gradients.*nattack.*hsj"):
        choose_attack("deepfool", [cnn, Fake()], SHAPE)


class Detached(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.inner = linear()

    def forward(self, x):
        return self.inner(x).detach()


def test_a_model_whose_scores_have_no_gradient_is_refused_before_the_attack():
    clf = as_classifier(Detached(), "detached", SHAPE)
    with pytest.raises(OptionError, match="backward pass"):
        choose_attack("fmn", [clf], SHAPE)
    assert choose_attack("auto", [clf], SHAPE) == "nattack"


def test_a_normalised_model_is_attacked_through_its_normalisation():
    clf = as_classifier(convnet(2), "cnn", SHAPE, ModelOptions(normalize=(0.5, 0.25), input_scale=2.0))
    res, labels = run(clf, images(), "fmn", queries=400)
    assert (~np.isnan(res.eps)).all() and (clf.predict(res.adversary) != labels).all()


# --- through the CLI ---------------------------------------------------------------------


def test_an_onnx_model_with_fmn_is_one_line_and_exit_2(tmp_path):
    from typer.testing import CliRunner

    from auditor.cli import app

    digits = tmp_path / "digits"
    digits.mkdir()
    for path in sorted((ROOT / "examples" / "digits").glob("[0-3]_0.png")):
        shutil.copy(path, digits / path.name)
    for attack in ("fmn", "deepfool"):
        result = CliRunner().invoke(app, ["scan", str(ROOT / "examples/models/lenet.onnx"),
                                          str(ROOT / "examples/models/mlp.pt"), str(digits), "--out",
                                          str(tmp_path / attack), "--pixel-attack", attack], env={"COLUMNS": "300"})
        assert result.exit_code == 2, result.output
        lines = [line for line in result.output.splitlines() if line.strip()]
        error = [line for line in lines if "needs gradients" in line]
        assert len(error) == 1 and "lenet.onnx" in error[0] and "nattack" in error[0] and "hsj" in error[0]
        assert "Traceback" not in result.output
        assert not (tmp_path / attack / "results.json").exists()  # refused before the scan started


@pytest.mark.slow
def test_a_white_box_scan_saves_only_adversaries_that_flip(tmp_path):
    from typer.testing import CliRunner

    from auditor.cli import app
    from test_pixel import FAST, check_saved_adversaries

    digits = tmp_path / "digits"
    digits.mkdir()
    for path in sorted((ROOT / "examples" / "digits").glob("[0-9]_0.png")):
        shutil.copy(path, digits / path.name)
    cnn = tmp_path / "cnn.pt"
    torch.manual_seed(0)
    torch.jit.script(torch.nn.Sequential(torch.nn.Conv2d(1, 4, 5, stride=2), torch.nn.ReLU(), torch.nn.Flatten(),
                                         torch.nn.Linear(4 * 12 * 12, 10))).save(str(cnn))
    out = tmp_path / "fmn"
    result = CliRunner().invoke(app, ["scan", str(ROOT / "examples/models/mlp.pt"), str(cnn), str(digits), "--out",
                                      str(out), "--pixel-attack", "auto", *FAST], env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    assert "pixel attack: fmn (FMN, Pintor" in result.output and "white box" in result.output
    res = check_saved_adversaries(out)
    px = res["pixel"]
    assert px["attack"] == "fmn" and px["box"] == "white" and px["budget_unit"] == "passes"
    assert "NeurIPS 2021" in px["paper"]
    for m in res["models"]:
        assert m["pixel"]["n_censored"] == 0 and 0 < m["pixel"]["queries_per_image"] <= 300
    html = (out / "index.html").read_text()
    assert "FMN, Fast Minimum-Norm" in html and "white box" in html and "passes / image" in html
    card = (out / "model-card.md").read_text()
    assert "FMN, Pintor, Roli, Brendel &amp; Biggio, NeurIPS 2021, white box" in card or \
        "FMN, Pintor, Roli, Brendel & Biggio, NeurIPS 2021, white box" in card
    json.dumps(res)


@pytest.mark.parametrize("attack", sorted(REGISTRY))
def test_every_registered_attack_keeps_the_contract(attack):
    """The PixelAttack contract over the whole registry: what it reads (scores or labels) is what
    its entry says, and every adversary it saves flips the model within its reported eps."""
    from auditor.pixel import PixelAttack

    info = REGISTRY[attack]
    method = info.make(1.0)
    assert isinstance(method, PixelAttack)
    assert method.needs_scores == (info.needs != "labels")
    clf = as_classifier(linear(), "linear", SHAPE)
    x = images(6)
    res, labels = run(clf, x, attack, queries=600)
    found = ~np.isnan(res.eps)
    assert found.any()
    assert (clf.predict(res.adversary[found]) != labels[found]).all()
    assert (distance(res.adversary[found] - x[found], "l2") <= res.eps[found]).all()
    assert (res.queries <= 600).all()
