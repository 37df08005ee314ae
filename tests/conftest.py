"""Fixtures: tiny generators, classifiers and images built on the spot, all seeded."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import auditor  # noqa: F401  first, before any test loads torch: it sets MKL's reproducible mode (auditor/__init__.py)

SHAPE = (1, 28, 28)


@pytest.fixture(autouse=True)
def _interruptible():
    """Each test counts the passes of a fault point from 0 (a count left by an earlier test of
    the process would skip its stop). Ctrl-C raises KeyboardInterrupt in every test, even where the suite was started in the
    background by a shell without job control (which leaves SIGINT ignored, and Python then
    never turns it into KeyboardInterrupt): the interrupt tests must not depend on that."""
    import signal

    from auditor import faults

    faults._hits.clear()  # AUDITOR_FAULT's "N-th time" counts from each test's start
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def sigint_default() -> None:
    """preexec_fn for test subprocesses: SIGINT back to its default, see _interruptible."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_DFL)


# --- images -----------------------------------------------------------------------------

def blob_images(n: int, seed: int = 0) -> np.ndarray:
    """(n, 28, 28) uint8: a bright bar or square at a seeded place, digit-like strokes on black."""
    rng = np.random.default_rng(seed)
    out = np.zeros((n, 28, 28), dtype=np.uint8)
    for k in range(n):
        r, c = rng.integers(4, 16, size=2)
        if k % 2:
            out[k, r : r + 10, c : c + 3] = 255
        else:
            out[k, r : r + 6, c : c + 8] = 200
    return out


def shape_images(n: int, size: int = 32, seed: int = 0) -> np.ndarray:
    """(n, size, size, 3) uint8: a filled circle, square or triangle of a random colour on a
    random dark background: a second, RGB domain for train-generator."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    out = np.zeros((n, size, size, 3), dtype=np.uint8)
    for k in range(n):
        out[k] = rng.integers(0, 80, size=3)
        cy, cx = rng.integers(size // 4, 3 * size // 4, size=2)
        r = rng.integers(size // 8, size // 4)
        kind = k % 3
        if kind == 0:
            mask = (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r
        elif kind == 1:
            mask = (abs(yy - cy) <= r) & (abs(xx - cx) <= r)
        else:
            mask = (yy >= cy - r) & (yy <= cy + r) & (abs(xx - cx) <= (yy - cy + r) / 2)
        out[k][mask] = rng.integers(120, 256, size=3)
    return out


def png_folder(folder: Path, images: np.ndarray, prefix: str) -> Path:
    """Save uint8 images as PREFIX_00.png, PREFIX_01.png, ... in a new folder."""
    from PIL import Image

    folder.mkdir()
    for k, img in enumerate(images):
        Image.fromarray(img).save(folder / f"{prefix}_{k:02d}.png")
    return folder


@pytest.fixture
def shapes_dir(tmp_path: Path) -> Path:
    """A folder of 48 seeded RGB shape PNGs."""
    return png_folder(tmp_path / "shapes", shape_images(48), "shape")


@pytest.fixture
def digits_dir(tmp_path: Path) -> Path:
    """A folder of 8 seeded grayscale PNGs."""
    return png_folder(tmp_path / "digits", blob_images(8), "img")


# --- generators -------------------------------------------------------------------------

@pytest.fixture(scope="session")
def tiny_bundle(tmp_path_factory) -> Path:
    """A generator bundle trained for a few steps by the real training code."""
    from auditor.generators.vae_training import TrainConfig, train_vae

    out = tmp_path_factory.mktemp("gen") / "tiny"
    images = (blob_images(64, seed=1) / 255.0).astype(np.float32)[:, None]
    config = TrainConfig(latent_dim=4, hidden=[32], steps=60, batch_size=16, seed=0, checkpoint_every=30)
    train_vae(images, out, config, {"name": "tiny", "description": "test bundle"})
    return out


class LinearGenerator:
    """G(z) = A z + 0.5 in a (1, 4, 4) domain; I(x) = pinv(A)(x - 0.5). Exact, fast."""

    name = "linear"
    image_shape = (1, 4, 4)

    def __init__(self, latent_dim: int = 3, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        self.latent_dim = latent_dim
        self.A = rng.standard_normal((16, latent_dim)).astype(np.float32) / 4
        self.pinv = np.linalg.pinv(self.A).astype(np.float32)
        self.manifest = {"files": {"weights.npz": "0"}}
        self.path = Path("linear")

    def encode(self, images: np.ndarray) -> np.ndarray:
        return (images.reshape(len(images), -1) - 0.5) @ self.pinv.T

    def decode(self, z: np.ndarray) -> np.ndarray:
        return (z @ self.A.T + 0.5).reshape(len(z), *self.image_shape).astype(np.float32)

    def refine(self, images, z0, steps):
        return z0

    decoding = "plain"

    def render(self, z, x, base):
        from auditor.generators import ImageGenerator

        return ImageGenerator.render(self, z, x, base)  # type: ignore[arg-type]

    def reconstruction(self, x, base):
        from auditor.generators import ImageGenerator

        return ImageGenerator.reconstruction(self, x, base)  # type: ignore[arg-type]

    def prior(self, z, like):
        return self.decode(z)


class HalfSpace:
    """A black-box classifier in image space: label 1 where w . x > b, else 0."""

    format = "fake"

    def __init__(self, name: str, w: np.ndarray, b: float) -> None:
        self.name, self.w, self.b = name, w.reshape(-1), b
        self.path = Path(name)
        self.class_names = None

    def predict(self, images: np.ndarray) -> np.ndarray:
        return (images.reshape(len(images), -1) @ self.w > self.b).astype(np.int64)


class Constant:
    format = "fake"

    def __init__(self, name: str = "constant", label: int = 3) -> None:
        self.name, self.label, self.path, self.class_names = name, label, Path(name), None

    def predict(self, images: np.ndarray) -> np.ndarray:
        return np.full(len(images), self.label, dtype=np.int64)


@pytest.fixture
def linear_generator() -> LinearGenerator:
    return LinearGenerator()


# --- model files ------------------------------------------------------------------------

def _linear_onnx(path: Path, input_shape: list, layout: str = "nchw", output: str = "scores",
                 classes: int = 3, seed: int = 0, opset: int = 17, features: int = 784) -> Path:
    """An ONNX linear classifier on ``features`` pixels, built with onnx.helper."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    w = rng.standard_normal((features, classes)).astype(np.float32)
    nodes = []
    inits = [numpy_helper.from_array(w, "W"), numpy_helper.from_array(np.array([-1, features], dtype=np.int64), "flat_shape")]
    src = "x"
    if layout == "nhwc":
        nodes.append(helper.make_node("Transpose", ["x"], ["xt"], perm=[0, 3, 1, 2]))
        src = "xt"
    nodes.append(helper.make_node("Reshape", [src, "flat_shape"], ["flat"]))
    nodes.append(helper.make_node("MatMul", ["flat", "W"], ["scores"]))
    outputs = [helper.make_tensor_value_info("scores", TensorProto.FLOAT, [input_shape[0], classes])]
    if output == "labels":
        nodes.append(helper.make_node("ArgMax", ["scores"], ["label"], axis=1, keepdims=0))
        outputs = [helper.make_tensor_value_info("label", TensorProto.INT64, [input_shape[0]])]
    elif output == "nan":
        inits.append(numpy_helper.from_array(np.array(np.nan, dtype=np.float32), "nan"))
        nodes.append(helper.make_node("Mul", ["scores", "nan"], ["bad"]))
        outputs = [helper.make_tensor_value_info("bad", TensorProto.FLOAT, [input_shape[0], classes])]
    elif output == "rank3":
        inits.append(numpy_helper.from_array(np.array([-1, 1, classes], dtype=np.int64), "r3"))
        nodes.append(helper.make_node("Reshape", ["scores", "r3"], ["cube"]))
        outputs = [helper.make_tensor_value_info("cube", TensorProto.FLOAT, [input_shape[0], 1, classes])]
    graph = helper.make_graph(
        nodes, "linear", [helper.make_tensor_value_info("x", TensorProto.FLOAT, input_shape)], outputs, inits
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    path.write_bytes(model.SerializeToString())
    return path


@pytest.fixture
def onnx_factory(tmp_path: Path):
    def make(name: str = "linear.onnx", **kwargs) -> Path:
        return _linear_onnx(tmp_path / name, **({"input_shape": ["N", 1, 28, 28]} | kwargs))

    return make


@pytest.fixture
def torchscript_model(tmp_path: Path) -> Path:
    """A TorchScript MLP taking flattened (N, 784) input, like examples/models/mlp.pt."""
    import torch
    from torch import nn

    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(784, 16), nn.ReLU(), nn.Linear(16, 4)).eval()
    path = tmp_path / "mlp.pt"
    torch.jit.script(net).save(str(path))
    return path


@pytest.fixture
def sklearn_model(tmp_path: Path) -> Path:
    """A 3-tree random forest exported by skl2onnx: outputs output_label and a list of maps."""
    from skl2onnx import to_onnx
    from sklearn.ensemble import RandomForestClassifier

    x = (blob_images(40, seed=2).reshape(40, -1) / 255.0).astype(np.float32)
    y = np.arange(40) % 3
    forest = RandomForestClassifier(n_estimators=3, random_state=0).fit(x, y)
    path = tmp_path / "rf.onnx"
    onx = to_onnx(forest, x[:1], target_opset={"": 17, "ai.onnx.ml": 3})
    path.write_bytes(onx.SerializeToString())
    return path
