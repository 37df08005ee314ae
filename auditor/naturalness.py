"""How natural is an image, measured without labels and without the scan's own generator: its
distance to the k nearest clean images of the scan, in pixel space and in an independent feature
space, as a percentile of the clean images' own distances (each clean image measured against the
others).

The scan's G and I cannot judge this: anything G decodes reconstructs almost perfectly, so a
natural adversary would always look in-domain to them. The feature space is fixed and knows
nothing of the data: 16 seeded random 3x3 filters, ReLU, 2x2 average pooling (random features in
the sense of Rahimi & Recht); it sees strokes and textures that a pixel distance misses.

An image whose percentile exceeds OUT_OF_DOMAIN in either space lies further from the clean
images than 99% of them lie from each other: it is flagged out of domain.
"""

from __future__ import annotations

import numpy as np

K = 5
OUT_OF_DOMAIN = 0.99


def features(images: np.ndarray, seed: int = 0) -> np.ndarray:
    """(N, C, H, W) in [0, 1] -> (N, F) random-convolution features."""
    import torch

    g = torch.Generator().manual_seed(seed)
    c = images.shape[1]
    weight = torch.randn(16, c, 3, 3, generator=g) / (3 * np.sqrt(c))
    with torch.inference_mode():
        x = torch.from_numpy(np.ascontiguousarray(images, dtype=np.float32))
        out = torch.nn.functional.avg_pool2d(
            torch.relu(torch.nn.functional.conv2d(x, weight, padding=1)), 2)
    return out.reshape(len(images), -1).numpy()


def _knn(reference: np.ndarray, queries: np.ndarray, exclude: np.ndarray, k: int) -> np.ndarray:
    """Mean distance of each query to its k nearest reference rows, row ``exclude[q]`` left out."""
    ref = reference.astype(np.float64)
    out = np.empty(len(queries))
    sq_ref = (ref**2).sum(axis=1)
    for start in range(0, len(queries), 512):
        q = queries[start : start + 512].astype(np.float64)
        d2 = (q**2).sum(axis=1)[:, None] + sq_ref[None] - 2 * q @ ref.T
        rows = np.arange(len(q))
        ex = exclude[start : start + 512]
        d2[rows[ex >= 0], ex[ex >= 0]] = np.inf
        kk = min(k, ref.shape[0] - 1) if (ex >= 0).any() else min(k, ref.shape[0])
        nearest = np.sort(np.sqrt(np.maximum(d2, 0)), axis=1)[:, : max(kk, 1)]
        out[start : start + 512] = nearest.mean(axis=1)
    return out


class Naturalness:
    """Fitted on a scan's clean images; ``score`` gives percentiles of any images."""

    def __init__(self, clean: np.ndarray, k: int = K) -> None:
        self.k, self.images = k, clean
        self.spaces = {"pixels": clean.reshape(len(clean), -1), "features": features(clean)}
        own = np.arange(len(clean))
        self.clean = {name: np.sort(_knn(ref, ref, own, k)) for name, ref in self.spaces.items()}

    def score(self, images: np.ndarray, sources: np.ndarray) -> dict[str, np.ndarray]:
        """Per space, the percentile (0..1) of each image's k-NN distance among the clean images'
        own, its source image (``sources``, -1: none) left out of its neighbours."""
        out: dict[str, np.ndarray] = {}
        if len(images) == 0:
            return {"pixels": np.zeros(0), "features": np.zeros(0),
                    "out_of_domain": np.zeros(0, dtype=bool)}
        for name, ref in self.spaces.items():
            q = images.reshape(len(images), -1) if name == "pixels" else features(images)
            d = _knn(ref, q, np.asarray(sources), self.k)
            out[name] = np.searchsorted(self.clean[name], d, side="right") / len(self.clean[name])
        out["out_of_domain"] = (out["pixels"] > OUT_OF_DOMAIN) | (out["features"] > OUT_OF_DOMAIN)
        return out

    def clean_scores(self) -> dict[str, np.ndarray]:
        """The clean images' own scores (each against the others): near uniform by construction."""
        return self.score(self.images, np.arange(len(self.images)))


def summary(scores: dict[str, np.ndarray]) -> dict[str, float | int | None]:
    """Median percentiles and the share out of domain, over the rows scored."""
    n = len(scores["pixels"])
    if n == 0:
        return {"n": 0, "median_pixels": None, "median_features": None, "out_of_domain": None}
    return {"n": int(n), "median_pixels": round(float(np.median(scores["pixels"])), 4),
            "median_features": round(float(np.median(scores["features"])), 4),
            "out_of_domain": round(float(scores["out_of_domain"].mean()), 4)}


SPACES = "pixels; random-convolution features (16 seeded 3x3 filters, ReLU, 2x2 pooling)"


def natural_view(generator, images: np.ndarray, output, names) -> dict:
    """How natural every model's natural adversary x* is, in every scan (issue #33).

    Returns ``nat`` (the fitted :class:`Naturalness`), per model ``adversaries`` ((N, C, H, W) with
    x* where there is one, zeros elsewhere), ``has`` (which images have one), ``scores``, ``models``
    (the per-model summary) and ``flags`` (per image: x* out of domain), and ``record`` (the scan's
    settings and the clean images' own summary)."""
    nat = Naturalness(images)
    view: dict = {"nat": nat, "adversaries": {}, "has": {}, "scores": {}, "models": {}, "flags": {}}
    n = len(images)
    # G(z0), decoded once for every model (the plain rule does not use it)
    base = generator.decode(output.z0[:n]) if generator.decoding != "plain" else images
    for name in names:
        res = output.results[name]
        has = ~np.isnan(res.z_star[:n]).any(axis=1)
        adversaries = np.zeros_like(images)
        if has.any():
            adversaries[has] = generator.render(res.z_star[:n][has], images[has], base[has])
        scores = nat.score(adversaries[has], np.flatnonzero(has))
        flag = np.zeros(n, dtype=bool)
        flag[has] = scores["out_of_domain"]
        (view["adversaries"][name], view["has"][name],
         view["scores"][name]) = adversaries, has, scores
        view["models"][name], view["flags"][name] = summary(scores), flag
    view["record"] = {"k": nat.k, "threshold": OUT_OF_DOMAIN, "clean": summary(nat.clean_scores()),
                      "spaces": SPACES}
    return view
