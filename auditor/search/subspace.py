"""The generator's active subspace: the latent directions that change its output.

A VAE leaves latent dimensions unused (posterior collapse: the encoder puts the prior there and
the decoder ignores them). The photos' bundle uses 22 of its 64 dimensions: the gain |J v| of the
decoder's Jacobian J (averaged over prior samples) falls from 0.16 of the strongest direction's to
0.03 after the 22nd direction and to 0.002 beyond; Fashion-MNIST's uses 11 of 16 (0.22, then
0.002); MNIST's all 16 (none below 0.32). A step of z along an unused direction changes no pixel
but adds to dz, and a random probe spends most of its norm there: in 64 dimensions with 42 unused
a sign estimate of a boundary's normal is mostly noise. The latent searches that ask for it
(``subspace`` of the algorithm: local, boundary, margin) therefore move z only within the span of
the decoder's active directions, z = z0 + V y, V (d, k) orthonormal: dz = |y| exactly, every
adversary is still a point of the full latent space checked by the model, and the search's own
scales (its first radii ~ sqrt(k)) follow k. The radius cap stays the full space's.

V: the eigenvectors of the mean of J^T J over SAMPLES prior samples (a fixed seed: the same for
every scan of a generator) whose gain sqrt(eigenvalue / the largest) exceeds GAIN; J by forward
differences of the generator's own ``decode`` (STEP), so that any generator whose decode gives
numbers has one (an imported ONNX graph too), on one torch thread (the same bits in every process:
--workers). None where every direction is active, or where decode gives no numbers (sentences).
Measured in docs/benchmarks.md ("The generator's active subspace").
"""

from __future__ import annotations

import contextlib
import sys
import weakref

import numpy as np

SAMPLES = 32  # prior samples the mean J^T J is taken over
STEP = 1e-2  # forward-difference step in z
GAIN = 0.05  # a direction is active where its gain is above this share of the strongest's
SEED = 20181  # the prior samples' stream: a property of the generator, not of a scan's --seed

_CACHE: dict[int, tuple[weakref.ref, np.ndarray | None]] = {}


def project(points: np.ndarray, basis: np.ndarray) -> np.ndarray:
    """``points`` (..., n) times ``basis`` (n, m) row by row without BLAS, whose last bits of a
    row depend on how many rows a call has: a pair's search must not depend on its batch."""
    return np.einsum("...n,nm->...m", points, basis)


def active_basis(generator) -> np.ndarray | None:
    """Orthonormal columns (d, k) spanning the generator's active directions, strongest first;
    None where all d are active or its decode gives no numbers. Cached per generator object."""
    key = id(generator)
    hit = _CACHE.get(key)
    if hit is not None and hit[0]() is generator:
        return hit[1]
    basis = _compute(generator)
    try:
        _CACHE[key] = (weakref.ref(generator), basis)
    except TypeError:  # an object without weak references: computed again next time
        pass
    return basis


def _compute(generator) -> np.ndarray | None:
    d, decode = int(generator.latent_dim), getattr(generator, "decode", None)
    if decode is None:  # (a stand-in that only names its latent size)
        return None
    z = np.random.default_rng(SEED).standard_normal((SAMPLES, d)).astype(np.float32)
    gram = np.zeros((d, d))
    with one_torch_thread():
        at = np.asarray(decode(z))
        if not np.issubdtype(at.dtype, np.floating):
            return None
        at = at.reshape(SAMPLES, -1).astype(np.float64)
        for s in range(SAMPLES):  # one sample's d moves at a time: memory d x the output size
            moved = np.asarray(decode(z[s] + STEP * np.eye(d, dtype=np.float32)), dtype=np.float64)
            jac = (moved.reshape(d, -1) - at[s]) / STEP  # J^T at z[s]
            gram += jac @ jac.T
    values, vectors = np.linalg.eigh(gram / SAMPLES)
    values, vectors = values[::-1], vectors[:, ::-1]
    if values[0] <= 0:
        return None
    gain = np.sqrt(np.maximum(values / values[0], 0.0))
    k = int((gain > GAIN).sum())
    if k >= d:
        return None
    basis = vectors[:, :k]
    signs = np.sign(basis[np.abs(basis).argmax(0), np.arange(k)])  # a fixed sign per column
    return np.ascontiguousarray(basis * signs, dtype=np.float32)


@contextlib.contextmanager
def one_torch_thread():
    """torch on one thread inside (the basis here, gradient.py's steps): its last bits then do not
    depend on the process's thread count (a Ray worker's and a single process's agree)."""
    torch = sys.modules.get("torch")
    if torch is None:
        yield
        return
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)
