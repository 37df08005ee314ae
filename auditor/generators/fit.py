"""How well inputs lie in a generator's domain (issue 42): a per-input verdict and a verdict for
the whole input set, by a measure calibrated on held-out in-domain inputs and stored in the
bundle's manifest (``domain_fit``).

The measure. Every input becomes a short vector of statistics (``features`` names them): what
the generator makes of it — the log reconstruction error of G(I(x)) and the log mean square of
I(x) — and what the image is — log contrast, log gradient and curvature energy, mean, the
shares of dark and bright pixels, the share of its brightness in the outer ring, the spread of
its brightness around its centre; for grayscale the share of the frame its bright part spans,
for colour the log chroma, the chroma relative to the contrast and how much the colour channels'
edges disagree. A Gaussian fitted to these vectors on held-out in-domain inputs (standardised,
covariance shrunk towards the identity) gives each input its squared Mahalanobis distance; an
input is outside the domain above ``threshold``, the (1 - false_alarm) quantile of the
out-of-fold distances of the calibration inputs (each scored by a Gaussian fitted without it), so
about ``false_alarm`` of unseen in-domain inputs are flagged.

Why not the reconstruction error alone: a conv VAE at 32x32 colour reconstructs uniform noise
(0.017) almost as well as photos (0.013), and constant colours or smooth colour fields better.
docs/domain-fit.md gives the measured false-alarm and detection rates per bundle
(bench/domain_fit.py reproduces them). Bundles without ``domain_fit`` (made before it) keep the
earlier rule: reconstruction error above twice the reference's 95th percentile.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from .protocol import Generator

MEASURE = "gaussian-mahalanobis-v1"
FALSE_ALARM = 0.01  # the share of held-out in-domain inputs a calibrated threshold flags
FOLDS = 5  # out-of-fold scores of the calibration inputs set the threshold
SCALE_FLOOR = 0.02  # a feature's scale is at least this (a near-constant feature stays usable)
MIN_CALIBRATION = 20  # fewer calibration inputs: no measure (the earlier rule applies)
OUTSIDE_FACTOR = 2.0  # the earlier rule: outside above this x the reference's p95 error
POOR_SHARE, PARTIAL_SHARE = 0.25, 0.05  # verdicts of an input set by its share outside
MOST = 0.5  # "most inputs are outside": generator auto says that no bundle fits
BATCH = 1024


def image_features(encode: Callable, decode: Callable,
                   images: np.ndarray) -> tuple[list[str], np.ndarray]:
    """The fit features of ``images`` (N, C, H, W) in [0, 1]: (names, (N, F) float64), and the
    per-image reconstruction error ||G(I(x)) - x||^2 / D as the column ``log_recon_mse``."""
    names, rows = [], []
    for start in range(0, len(images), BATCH):
        x = images[start : start + BATCH]
        z = encode(x)
        mse = ((decode(z) - x) ** 2).reshape(len(x), -1).mean(axis=1)
        f = {"log_recon_mse": np.log(mse + 1e-6),
             "log_latent_square": np.log((z.astype(np.float64) ** 2).mean(axis=1) + 1e-6)}
        f |= _pixel_statistics(x.astype(np.float64))
        names = list(f)
        rows.append(np.stack([f[k] for k in names], axis=1))
    if not rows:
        return names, np.zeros((0, 0))
    return names, np.concatenate(rows)


def _pixel_statistics(x: np.ndarray) -> dict[str, np.ndarray]:
    """What an image is, whatever the generator: (N, C, H, W) -> one value per image each."""
    n, c, h, w = x.shape
    gray = x.mean(axis=1)  # (N, H, W)
    flat = gray.reshape(n, -1)
    std = flat.std(axis=1)
    grad = sum((np.diff(x, axis=a) ** 2).reshape(n, -1).mean(axis=1) for a in (2, 3))
    curv = sum((np.diff(x, 2, axis=a) ** 2).reshape(n, -1).mean(axis=1) for a in (2, 3))
    ring = max(1, round(h / 8))
    outer = np.ones((h, w), bool)
    outer[ring:-ring, ring:-ring] = False
    mass = flat.sum(axis=1) + 1e-6
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    cy = (gray * yy).reshape(n, -1).sum(axis=1) / mass
    cx = (gray * xx).reshape(n, -1).sum(axis=1) / mass
    spread = (gray * ((yy - cy[:, None, None]) ** 2 + (xx - cx[:, None, None]) ** 2))
    f = {
        "log_contrast": np.log(std + 1e-3),
        "log_gradient_energy": np.log(grad + 1e-6),
        "log_curvature_energy": np.log(curv + 1e-6),
        "mean": flat.mean(axis=1),
        "dark_share": (flat < 0.1).mean(axis=1),
        "bright_share": (flat > 0.9).mean(axis=1),
        "outer_ring_share": (gray * outer).reshape(n, -1).sum(axis=1) / mass,
        "spread": spread.reshape(n, -1).sum(axis=1) / mass,
    }
    if c == 1:  # objects on a dark ground (digits, Fashion items): the share of the frame spanned
        f["extent"] = np.maximum(_span(gray.max(axis=2) > 0.2), _span(gray.max(axis=1) > 0.2))
    else:  # measured on cifar10: the span is 1 for most photos and 0 for dark ones, a tail
        # that hid Fashion items in RGB (84% flagged with it, 98% without)
        chroma = (x - gray[:, None]).reshape(n, -1).std(axis=1)
        f["log_chroma"] = np.log(chroma + 1e-3)
        f["chroma_to_contrast"] = np.log((chroma + 1e-3) / (std + 1e-3))
        f["log_channel_disagreement"] = np.log(1.0 - _channel_agreement(x) + 0.1)
    return f


def _channel_agreement(x: np.ndarray) -> np.ndarray:
    """(N,) the mean correlation, over the pairs of colour channels, of their pixel differences:
    near 1 in photos (an edge is an edge in every channel), near 0 in random colour, blocky or
    smooth (measured on cifar10: 4x4 and 8x8 random colour blocks went from 0% flagged to 100%)."""
    n, c = x.shape[:2]
    grads = np.concatenate([np.diff(x, axis=a).reshape(n, c, -1) for a in (2, 3)], axis=2)
    grads -= grads.mean(axis=2, keepdims=True)
    norms = np.sqrt((grads ** 2).sum(axis=2)) + 1e-6  # (N, C)
    pairs = [(a, b) for a in range(c) for b in range(a + 1, c)]
    return np.mean([(grads[:, a] * grads[:, b]).sum(axis=1) / (norms[:, a] * norms[:, b])
                    for a, b in pairs], axis=0)


def _span(on: np.ndarray) -> np.ndarray:
    """The share of the side from the first to the last True of each row of ``on`` (N, L)."""
    first = on.argmax(axis=1)
    last = on.shape[1] - 1 - on[:, ::-1].argmax(axis=1)
    return np.where(on.any(axis=1), (last - first + 1) / on.shape[1], 0.0)


def _gaussian(features: np.ndarray) -> dict[str, np.ndarray]:
    """Mean, scale and precision of standardised ``features`` (N, F), the covariance shrunk
    towards the identity by F/N (more where there are few inputs)."""
    n, k = features.shape
    mean = features.mean(axis=0)
    scale = np.maximum(features.std(axis=0), SCALE_FLOOR)
    z = (features - mean) / scale
    cov = np.atleast_2d(np.cov(z.T)) if n > 1 else np.eye(k)
    shrink = min(1.0, 0.01 + k / max(n, 1))
    cov = (1 - shrink) * cov + shrink * np.eye(k)
    return {"mean": mean, "scale": scale, "precision": np.linalg.inv(cov)}


def _distance(model: dict[str, Any], features: np.ndarray) -> np.ndarray:
    """Squared Mahalanobis distances (N,) of ``features`` under a :func:`_gaussian`."""
    z = (features - np.asarray(model["mean"])) / np.asarray(model["scale"])
    return np.einsum("ni,ij,nj->n", z, np.asarray(model["precision"]), z)


def calibrate(names: list[str], features: np.ndarray, data: str,
              false_alarm: float = FALSE_ALARM, seed: int = 0) -> dict[str, Any] | None:
    """The manifest's ``domain_fit`` record from the features of held-out in-domain inputs
    (described by ``data``); None where there are fewer than MIN_CALIBRATION of them."""
    n = len(features)
    if n < MIN_CALIBRATION:
        return None
    folds = np.random.default_rng(seed).permutation(n) % min(FOLDS, n)
    out_of_fold = np.empty(n)
    for k in range(folds.max() + 1):
        out_of_fold[folds == k] = _distance(_gaussian(features[folds != k]), features[folds == k])
    model = _gaussian(features)
    return {
        "measure": MEASURE, "features": list(names),
        "mean": _rounded(model["mean"]), "scale": _rounded(model["scale"]),
        "precision": [_rounded(row) for row in model["precision"]],
        "threshold": round(float(np.quantile(out_of_fold, 1 - false_alarm)), 4),
        "false_alarm": false_alarm, "n_images": int(n), "data": data,
    }


def calibrate_generator(encode: Callable, decode: Callable, images: np.ndarray,
                        data: str) -> dict[str, Any] | None:
    """``domain_fit`` of an image generator (its encode and decode) on held-out ``images``."""
    names, features = image_features(encode, decode, images)
    return calibrate(names, features, data)


def _rounded(values) -> list[float]:
    return [float(f"{v:.7g}") for v in np.asarray(values, dtype=np.float64)]


def score(record: dict[str, Any], names: list[str], features: np.ndarray) -> np.ndarray:
    """Each input's distance under a calibrated ``record``, divided by its threshold: above 1,
    the input lies outside the domain."""
    if list(record["features"]) != list(names):
        from ..errors import GeneratorError

        raise GeneratorError(f"the manifest's domain_fit measures {record['features']}, this "
                             f"auditor computes {names}; re-calibrate the bundle (a newer "
                             "auditor may read it)")
    return _distance(record, features) / float(record["threshold"])


def generator_fit(generator: Generator,
                  images: np.ndarray) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """How well the images lie in the generator's domain: (summary, per-image arrays
    ``recon_mse``, ``fit_score`` (distance / threshold; None without a measure) and
    ``in_domain``)."""
    names, features = image_features(generator.encode, generator.decode, images)
    mse = np.exp(features[:, 0]) - 1e-6 if len(features) else np.zeros(0)
    record = generator.manifest.get("domain_fit")
    ref = generator.manifest.get("reference", {})
    extra = {"data_recon_mse_median": float(np.median(mse)) if len(mse) else None,
             "reference_recon_mse_median": ref.get("recon_mse_median")}
    if record is not None:
        summary, per_input = calibrated_fit(record, names, features, generator.name, "images")
        return summary | extra, {"recon_mse": mse} | per_input
    if ref.get("recon_mse_p95"):
        scores = mse / (OUTSIDE_FACTOR * ref["recon_mse_p95"])
        inside = scores <= 1.0
        how = f"reconstruction error above {OUTSIDE_FACTOR:g}x its reference"
        extra |= {"measure": "reconstruction-error",
                  "threshold": OUTSIDE_FACTOR * ref["recon_mse_p95"]}
    else:
        unknown = "the generator's manifest has no reference to judge the fit by"
        return {"verdict": "unknown", "message": unknown}, {"recon_mse": mse}
    summary = summarise(inside, generator.name, "images", how)
    return summary | extra, {"recon_mse": mse, "fit_score": scores, "in_domain": inside}


def calibrated_fit(record: dict[str, Any], names: list[str], features: np.ndarray, name: str,
                   what: str, how: str = "", advice: str | None = None,
                   unit: str | None = None) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The fit of inputs whose ``features`` a calibrated ``domain_fit`` record judges, in every
    domain: (summary with the measure's figures, per-input ``fit_score`` and ``in_domain``).
    ``how`` opens the sentence on how it was judged (the record's calibration, on held-out
    ``unit`` (default: ``what``), follows)."""
    scores = score(record, names, features)
    inside = scores <= 1.0
    unit = unit or what
    calibration = (f"{record['n_images']} held-out in-domain {unit} calibrate it to flag about "
                   f"{100 * record['false_alarm']:g}% of such {unit}")
    summary = summarise(inside, name, what, f"{how}; {calibration}" if how else calibration,
                        advice)
    summary |= {"measure": record["measure"], "threshold": record["threshold"],
                "false_alarm": record["false_alarm"],
                "score_median": float(np.median(scores)) if len(scores) else None}
    return summary, {"fit_score": scores, "in_domain": inside}


def summarise(inside: np.ndarray, name: str, what: str, how: str,
              advice: str | None = None) -> dict[str, Any]:
    """The verdict of an input set from its inputs' ``inside`` flags (the share outside: good up
    to PARTIAL_SHARE, partial up to POOR_SHARE, poor above) and the sentence that says it, ending
    with ``advice`` where some lie outside (default: train a generator on such inputs)."""
    share = float(1.0 - inside.mean()) if len(inside) else 0.0
    verdict = "poor" if share > POOR_SHARE else "partial" if share > PARTIAL_SHARE else "good"
    if verdict == "good":
        message = (f"the {what} lie in generator {name}'s domain ({100 * share:.0f}% outside by "
                   f"its fit check; {how})")
    else:
        most = "most of the" if share > MOST else f"{100 * share:.0f}% of the"
        advice = advice or (f"train a generator on such {what} with `auditor train-generator DATA "
                            "--out DIR` and scan with --generator DIR")
        message = (f"{most} {what} lie outside generator {name}'s domain ({100 * share:.0f}% by "
                   f"its fit check; {how}): their dz measures the generator more than the model; "
                   f"{advice}")
    return {"verdict": verdict, "share_outside": share, "most_outside": share > MOST,
            "n_inputs": int(len(inside)), "message": message}
