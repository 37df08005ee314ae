from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from auditor.data import find_files, load_images
from auditor.errors import DataError

SHAPE = (1, 28, 28)


def test_loads_pngs_sorted_recursively_in_unit_range(tmp_path: Path):
    (tmp_path / "b").mkdir()
    Image.fromarray(np.full((28, 28), 255, np.uint8)).save(tmp_path / "b" / "x.png")
    Image.fromarray(np.zeros((28, 28), np.uint8)).save(tmp_path / "a.png")
    data = load_images(tmp_path, SHAPE)
    assert data.names == ["a.png", "b/x.png"]
    assert data.images.shape == (2, 1, 28, 28) and data.images.dtype == np.float32
    assert data.images[0].max() == 0.0 and data.images[1].min() == 1.0


def test_converts_modes_and_sizes_by_the_stated_rule(tmp_path: Path):
    rgb = np.zeros((56, 56, 3), np.uint8)
    rgb[..., 0] = 255  # pure red -> luma 0.299
    Image.fromarray(rgb).save(tmp_path / "rgb.png")
    rgba = np.zeros((28, 28, 4), np.uint8)
    rgba[..., :3] = 255
    rgba[:14, :, 3] = 255  # top half opaque white, bottom transparent -> black
    Image.fromarray(rgba, "RGBA").save(tmp_path / "rgba.png")
    Image.fromarray((np.ones((28, 28)) * 65535).astype(np.uint16)).save(tmp_path / "deep.png")
    Image.fromarray(np.full((28, 28), 128, np.uint8)).convert("P").save(tmp_path / "pal.gif")
    Image.fromarray(np.full((28, 28, 3), 255, np.uint8)).convert("CMYK").save(tmp_path / "cmyk.jpg")
    data = load_images(tmp_path, SHAPE)
    img = dict(zip(data.names, data.images))
    assert data.skipped == []
    assert img["rgb.png"].mean() == pytest.approx(0.299, abs=0.01)
    assert img["rgba.png"][0, :14].mean() == pytest.approx(1.0) and img["rgba.png"][0, 14:].max() == 0.0
    assert img["deep.png"].mean() == pytest.approx(1.0)
    assert img["pal.gif"].mean() == pytest.approx(128 / 255, abs=0.01)
    assert img["cmyk.jpg"].mean() > 0.9
    assert data.n_resized == 1


def test_rgb_domain_replicates_grayscale(tmp_path: Path):
    Image.fromarray(np.full((32, 32), 51, np.uint8)).save(tmp_path / "g.png")
    data = load_images(tmp_path, (3, 32, 32))
    assert data.images.shape == (1, 3, 32, 32)
    assert np.allclose(data.images, 0.2, atol=1e-6)


@pytest.mark.parametrize(
    "array, count",
    [(np.zeros((28, 28), np.uint8), 1), (np.zeros((5, 28, 28), np.float32), 5),
     (np.zeros((3, 28, 28, 1), np.uint8), 3), (np.zeros((2, 1, 28, 28), np.float64), 2),
     (np.zeros((4, 784), np.uint8), 4), (np.zeros((2, 28, 28, 3), np.uint8), 2)],
)
def test_arrays_of_every_accepted_shape(tmp_path: Path, array, count):
    np.save(tmp_path / "a.npy", array)
    data = load_images(tmp_path, SHAPE)
    assert len(data.names) == count and data.names[0] == "a.npy[0]"


def test_npz_integers_are_scaled_and_named_by_key(tmp_path: Path):
    np.savez(tmp_path / "d.npz", digits=np.full((2, 28, 28), 255, np.uint8))
    data = load_images(tmp_path, SHAPE)
    assert data.names == ["d.npz:digits[0]", "d.npz:digits[1]"]
    assert data.images.max() == 1.0


def test_bad_files_are_skipped_and_listed(tmp_path: Path):
    Image.fromarray(np.zeros((28, 28), np.uint8)).save(tmp_path / "good.png")
    (tmp_path / "text.png").write_text("not an image")
    (tmp_path / "empty.png").write_bytes(b"")
    good = (tmp_path / "good.png").read_bytes()
    (tmp_path / "truncated.png").write_bytes(good[: len(good) // 2])
    np.save(tmp_path / "rank5.npy", np.zeros((1, 1, 1, 1, 1)))
    (tmp_path / "notes.txt").write_text("ignored: not an image suffix")
    data = load_images(tmp_path, SHAPE)
    assert data.names == ["good.png"]
    assert sorted(name for name, _ in data.skipped) == ["empty.png", "rank5.npy", "text.png", "truncated.png"]


def test_decompression_bomb_is_skipped_not_decoded(tmp_path: Path):
    # A 1-bit 20,000 x 20,000 PNG is small on disk but 400 M pixels decoded.
    Image.new("1", (20_000, 20_000)).save(tmp_path / "bomb.png")
    Image.fromarray(np.zeros((28, 28), np.uint8)).save(tmp_path / "ok.png")
    data = load_images(tmp_path, SHAPE)
    assert data.names == ["ok.png"]
    assert "pixel" in data.skipped[0][1]


def test_limit_keeps_the_first_images(digits_dir: Path):
    assert load_images(digits_dir, SHAPE, limit=3).names == ["img_00.png", "img_01.png", "img_02.png"]


@pytest.mark.parametrize("kind", ["missing", "empty", "no-images", "file"])
def test_unusable_paths_raise_data_errors(tmp_path: Path, kind):
    path = tmp_path / "d"
    if kind == "empty":
        path.mkdir()
    elif kind == "no-images":
        path.mkdir()
        (path / "a.txt").write_text("x")
    elif kind == "file":
        path = tmp_path / "notes.txt"
        path.write_text("x")
    with pytest.raises(DataError):
        load_images(path, SHAPE)


def test_find_files_accepts_a_single_image(tmp_path: Path):
    Image.fromarray(np.zeros((28, 28), np.uint8)).save(tmp_path / "one.png")
    assert find_files(tmp_path / "one.png") == [tmp_path / "one.png"]


def test_npz_labels_beside_images_are_left_out_and_kept_as_labels(tmp_path: Path):
    images = np.random.default_rng(0).integers(0, 256, (5, 28, 28), dtype=np.uint8)
    np.savez(tmp_path / "fashion.npz", images=images, labels=np.arange(5, dtype=np.uint8))
    data = load_images(tmp_path / "fashion.npz", SHAPE)
    assert data.names == [f"fashion.npz:images[{i}]" for i in range(5)] and data.skipped == []
    assert data.ignored == [("fashion.npz:labels", "labels, not images (5 values)")]
    assert data.labels.tolist() == [0, 1, 2, 3, 4]
    assert load_images(tmp_path / "fashion.npz", SHAPE, limit=2).labels.tolist() == [0, 1]


def test_npz_train_and_test_layout_loads_both_image_arrays(tmp_path: Path):
    x = np.zeros((3, 28, 28), np.uint8)
    np.savez(tmp_path / "mnist.npz", x_train=x, y_train=np.zeros(3, np.int64), x_test=x[:2], y_test=np.zeros(2))
    data = load_images(tmp_path, SHAPE)
    assert len(data.names) == 5 and {n for n, _ in data.ignored} == {"mnist.npz:y_train", "mnist.npz:y_test"}
    assert data.labels is None  # two image arrays: which labels go with which is not guessed


def test_an_npz_without_images_names_every_reason(tmp_path: Path):
    np.savez(tmp_path / "meta.npz", labels=np.arange(4), ids=np.arange(4), names=np.array(["a", "b"]))
    (tmp_path / "broken.png").write_bytes(b"not a png")
    with pytest.raises(DataError) as err:
        load_images(tmp_path, SHAPE)
    message = str(err.value)
    assert "broken.png: not a readable image" in message
    assert "meta.npz: array file holds no images" in message and "meta.npz:labels: labels, not images" in message
