"""The local search's surrogate: linear discriminant analysis of labelled latent points."""

from __future__ import annotations

import numpy as np

from auditor.search import SearchSettings, search
from auditor.search.surrogate import boundary_normals
from conftest import HalfSpace, LinearGenerator
from test_search import exact_distance


def test_normals_of_a_labelled_half_space_point_across_it():
    rng = np.random.default_rng(0)
    points = rng.standard_normal((512, 5))
    normal = np.array([1.0, 2.0, 0.0, -1.0, 0.5]) / np.linalg.norm([1.0, 2.0, 0.0, -1.0, 0.5])
    labels = (points @ normal > 0.3).astype(np.int64)
    z0 = np.array([[0.0] * 5, 2 * normal])  # one on each side
    dirs, ok = boundary_normals(points, labels, z0, np.array([0, 1]), 1)
    assert ok.all()
    assert dirs[0, 0] @ normal > 0.98  # from class 0 towards class 1
    assert dirs[1, 0] @ normal < -0.98  # and back
    np.testing.assert_allclose(np.linalg.norm(dirs, axis=2), 1.0, atol=1e-5)


def test_normals_are_ordered_nearest_boundary_first():
    # three classes along a line: ... 0 | 1 | 2 ...; from class 0 the 0|1 boundary is nearer
    rng = np.random.default_rng(1)
    points = rng.standard_normal((900, 2)) + np.repeat([[-4.0, 0.0], [0.0, 0.0], [0.0, 4.0]], 300, axis=0)
    labels = np.repeat([0, 1, 2], 300)
    dirs, ok = boundary_normals(points, labels, np.array([[-4.0, 0.0]]), np.array([0]), 2)
    assert ok.all()
    assert dirs[0, 0] @ [1.0, 0.0] > 0.95  # towards class 1
    towards_2 = np.array([4.0, 4.0]) / np.sqrt(32)
    assert dirs[0, 1] @ towards_2 > 0.95


def test_no_normals_without_the_target_class_or_other_classes():
    points = np.random.default_rng(2).standard_normal((50, 3))
    dirs, ok = boundary_normals(points, np.zeros(50, dtype=np.int64), points[:2], np.array([0, 0]), 2)
    assert not ok.any()  # one class only: no boundary
    labels = np.arange(50) % 2
    dirs, ok = boundary_normals(points, labels, points[:2], np.array([7, 1]), 2)
    assert not ok[0].any()  # class 7 was never labelled
    assert ok[1, 0] and not ok[1, 1]  # two classes: one boundary


def test_local_search_flips_in_its_first_step_along_the_surrogate_normal():
    # A linear boundary is what the surrogate models exactly: the first step's norms along its
    # normal (8 of them, geometric from sqrt(d) / 10 to sqrt(d) / 1.6, ratio 1.3) bracket the
    # exact distance. In 12 dimensions a random direction, or the line to the nearest anchor,
    # is far from normal.
    gen = LinearGenerator(latent_dim=12, seed=0)
    rng = np.random.default_rng(1)
    images = gen.decode(rng.standard_normal((16, 12)).astype(np.float32) * 0.8)
    w = rng.standard_normal(16).astype(np.float32)
    clf = HalfSpace("half", w, b=float(np.median(images.reshape(16, -1) @ w)))
    out = search(gen, [clf], images, SearchSettings(algorithm="local", max_steps=1, refine_steps=0))
    res = out.results["half"]
    exact = exact_distance(gen, out.z0, w, clf.b)
    lo, hi = 0.1 * np.sqrt(12), 0.625 * np.sqrt(12)
    inside = (exact > lo) & (exact < hi)
    assert inside.sum() >= 4
    assert np.all(res.delta_z[inside] >= exact[inside] - 1e-4)
    assert np.all(res.delta_z[inside] <= exact[inside] * 1.3 * 1.01)
