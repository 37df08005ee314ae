"""Statistics over per-image dz: summaries, P(largest dz), paired sign tests, ranking.

Conventions (DESIGN.md §2):
- a censored image (no flip within the radius cap) has dz larger than any observed dz;
  two censored images tie;
- an image whose reconstruction already changed a model's label has no dz for that model
  and is left out of that model's summaries and of every pair that involves it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def effective(delta_z: np.ndarray, censored: np.ndarray) -> np.ndarray:
    """dz with censored images as +inf and excluded images (no dz, not censored) as NaN."""
    out = np.asarray(delta_z, dtype=float).copy()
    out[np.asarray(censored, dtype=bool)] = np.inf
    return out


def median(values: np.ndarray, axis: int = -1) -> np.ndarray:
    """Median that accepts +inf (censored) values: the mean of the two middle order
    statistics, without the interpolation that turns inf - inf into NaN."""
    ordered = np.sort(values, axis=axis)
    n = ordered.shape[axis]
    lo = np.take(ordered, (n - 1) // 2, axis=axis)
    hi = np.take(ordered, n // 2, axis=axis)
    return np.where(lo == hi, lo, (lo + hi) / 2)


def summary(delta_z: np.ndarray, censored: np.ndarray) -> dict[str, float | int | None]:
    """Mean over observed dz; median with censored images counted as +inf."""
    dz = effective(delta_z, censored)
    valid = dz[~np.isnan(dz)]
    observed = valid[np.isfinite(valid)]
    mid = float(median(valid)) if len(valid) else None
    return {
        "mean_delta_z": float(observed.mean()) if len(observed) else None,
        "median_delta_z": mid if mid is None or np.isfinite(mid) else None,
        "n_observed": int(len(observed)),
        "n_censored": int(np.isinf(valid).sum()),
    }


def bootstrap_ci(
    delta_z: np.ndarray, censored: np.ndarray, stat: str, seed: int = 0, n_boot: int = 2000
) -> list[float] | None:
    """Percentile bootstrap 95% interval of the mean (observed dz) or median (censored = +inf)."""
    dz = effective(delta_z, censored)
    dz = dz[~np.isnan(dz)]
    if stat == "mean":
        dz = dz[np.isfinite(dz)]
    if len(dz) < 2:
        return None
    rng = np.random.default_rng(seed)
    values = np.empty(n_boot)
    block = 200  # resamples at a time: memory stays at block x N, not n_boot x N
    for start in range(0, n_boot, block):
        k = min(block, n_boot - start)
        samples = dz[rng.integers(0, len(dz), size=(k, len(dz)))]
        values[start : start + k] = (samples.mean(axis=1) if stat == "mean"
                                     else median(samples, axis=1))
    lo, hi = np.quantile(values, [0.025, 0.975], method="inverted_cdf")
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return None
    return [float(lo), float(hi)]


@dataclass
class Pair:
    a: str
    b: str
    a_larger: int
    b_larger: int
    ties: int
    excluded: int
    p_value: float | None
    p_holm: float | None = None


def sign_test(dz_a: np.ndarray, dz_b: np.ndarray) -> tuple[int, int, int, int, float | None]:
    """Paired two-sided sign test on effective dz (ties dropped, NaN pairs excluded)."""
    from scipy.stats import binomtest

    both = ~np.isnan(dz_a) & ~np.isnan(dz_b)
    a, b = dz_a[both], dz_b[both]
    a_larger = int((a > b).sum())
    b_larger = int((b > a).sum())
    ties = int(len(a) - a_larger - b_larger)
    n = a_larger + b_larger
    p = float(binomtest(a_larger, n, 0.5).pvalue) if n else None
    return a_larger, b_larger, ties, int((~both).sum()), p


def holm(p_values: list[float | None]) -> list[float | None]:
    """Holm's step-down adjustment of a family of p-values (None stays None)."""
    idx = [i for i, p in enumerate(p_values) if p is not None]
    order = sorted(idx, key=lambda i: p_values[i])  # type: ignore[arg-type, return-value]
    out: list[float | None] = [None] * len(p_values)
    running = 0.0
    for rank, i in enumerate(order):
        adjusted = min(1.0, (len(order) - rank) * p_values[i])  # type: ignore[operator]
        running = max(running, adjusted)
        out[i] = running
    return out


def pairwise(dz: dict[str, np.ndarray]) -> list[Pair]:
    """Every pair of models, with Holm-corrected p-values across the pairs."""
    names = list(dz)
    pairs = []
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            pairs.append(Pair(a, b, *sign_test(dz[a], dz[b])))
    for pair, p in zip(pairs, holm([p.p_value for p in pairs])):
        pair.p_holm = p
    return pairs


def p_largest(dz: dict[str, np.ndarray]) -> dict[str, float | None]:
    """Share of images (valid for every model) where a model's dz is the largest.

    Ties for the largest share the image equally. With many models this share gets noisy.
    """
    names = list(dz)
    if not names:
        return {}
    matrix = np.stack([dz[n] for n in names])  # (M, N)
    valid = ~np.isnan(matrix).any(axis=0)
    if not valid.any():
        return {n: None for n in names}
    m = matrix[:, valid]
    top = m == m.max(axis=0, keepdims=True)
    share = (top / top.sum(axis=0, keepdims=True)).mean(axis=1)
    return {n: float(s) for n, s in zip(names, share)}


DEGENERATE_TOP_SHARE = 0.95  # one class predicted for this share of the images or more


def diversity(predictions: np.ndarray) -> dict[str, float | int | bool]:
    """How varied a model's predictions on the data are.

    A model that predicts one class (or nearly) for everything is rarely flipped and would
    look most robust: it is flagged ``degenerate`` when it uses a single class, or when one
    class takes at least 95% of 20 or more images.
    """
    if len(predictions) == 0:
        return {"classes_used": 0, "entropy_bits": 0.0, "top_class_share": 0.0, "degenerate": False}
    _, counts = np.unique(predictions, return_counts=True)
    share = counts / counts.sum()
    top = float(share.max())
    degenerate = len(counts) == 1 or (len(predictions) >= 20 and top >= DEGENERATE_TOP_SHARE)
    return {
        "classes_used": int(len(counts)),
        "entropy_bits": float(-(share * np.log2(share)).sum()),
        "top_class_share": top,
        "degenerate": bool(degenerate),
    }


def friedman(dz: dict[str, np.ndarray]) -> dict[str, float | int] | None:
    """Friedman test that all models' dz come from one distribution (>= 3 models), over
    the images valid for every model (censored = +inf ranks last)."""
    from scipy.stats import friedmanchisquare

    if len(dz) < 3:
        return None
    matrix = np.stack(list(dz.values()))
    valid = ~np.isnan(matrix).any(axis=0)
    if valid.sum() < 2:
        return None
    columns = matrix[:, valid]
    if np.all(columns == columns[:1]):  # every model equal on every image
        return {"statistic": 0.0, "p_value": 1.0, "n_images": int(valid.sum())}
    finite = np.where(np.isinf(columns),
                      np.nanmax(np.where(np.isinf(columns), np.nan, columns), initial=0) + 1,
                      columns)
    result = friedmanchisquare(*finite)
    return {"statistic": float(result.statistic), "p_value": float(result.pvalue),
            "n_images": int(valid.sum())}


def ranking(
    names: list[str], mean_dz: dict[str, float | None], pairs: list[Pair], alpha: float = 0.05,
    degenerate: set[str] | frozenset[str] = frozenset(),
) -> list[list[str]]:
    """Groups of models, most robust first; within a group no two models differ significantly.

    Models are sorted by ``mean_dz`` — pass :func:`restricted_means`, which counts censored
    images at the radius cap, so a model that is rarely flipped is not sorted below the others
    (degenerate models, see :func:`diversity`, last whatever their dz) — and cut into
    consecutive groups: a model joins the group above it only when its sign
    test (Holm-corrected) against *every* member of that group is not significant at
    ``alpha``; otherwise it opens a new group. So "=" always means "no evidence of a
    difference", while ">" between two groups means that some member of the lower group
    differs from some member of the upper one, not necessarily every pair across the cut:
    :func:`letters` shows those overlaps.
    """
    order = _rank_order(names, mean_dz, degenerate)
    different = significant_pairs(pairs, alpha)
    groups: list[list[str]] = []
    for name in order:
        joins = groups and not any(frozenset((g, name)) in different for g in groups[-1])
        if joins and not (name in degenerate and groups[-1][0] not in degenerate):
            groups[-1].append(name)
        else:
            groups.append([name])
    return groups


def restricted_means(dz: dict[str, np.ndarray], cap: float) -> dict[str, float | None]:
    """Per model the mean of its effective dz with censored images (+inf) counted at ``cap`` (the
    radius cap: a lower bound of their dz) and excluded ones (NaN) left out: the censoring-aware
    statistic that orders models in :func:`ranking` and :func:`rank_intervals`."""
    out: dict[str, float | None] = {}
    for name, values in dz.items():
        v = np.asarray(values, dtype=float)
        v = v[~np.isnan(v)]
        out[name] = float(np.where(np.isinf(v), cap, v).mean()) if len(v) else None
    return out


def _rank_order(names: list[str], mean_dz: dict[str, float | None], degenerate) -> list[str]:
    def key(n: str):
        m = mean_dz.get(n)
        return (n in degenerate, -(m if m is not None else -np.inf))

    return sorted(names, key=key)


def significant_pairs(pairs: list[Pair], alpha: float) -> set[frozenset[str]]:
    """The pairs whose Holm-corrected sign test is significant at ``alpha`` (either direction)."""
    return {frozenset((p.a, p.b)) for p in pairs if p.p_holm is not None and p.p_holm < alpha}


_LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZαβγδεζηθικλμνξοπρστυφχψω"


def letters(order: list[str], pairs: list[Pair], alpha: float = 0.05) -> dict[str, str]:
    """Compact letter display: models that share a letter are not significantly different.

    Piepho's insert-and-absorb algorithm (J. Comput. Graph. Stat. 13, 2004): start from one
    letter shared by all models; for every significant pair, split each letter held by both
    into one without the first and one without the second; drop letters whose models are a
    subset of another letter's. Letters are then named in ``order`` (most robust first), so
    the best group is "a". Every non-significant pair shares a letter, no significant pair does.
    """
    if not order:
        return {}
    position = {n: i for i, n in enumerate(order)}
    columns: list[frozenset[str]] = [frozenset(order)]
    for pair in sorted(significant_pairs(pairs, alpha),
                       key=lambda p: sorted(position[n] for n in p)):
        a, b = sorted(pair, key=position.__getitem__)
        split: list[frozenset[str]] = []
        for col in columns:
            split.extend((col - {a}, col - {b}) if a in col and b in col else (col,))
        columns = _absorb(split)
    columns.sort(key=lambda c: sorted(position[n] for n in c))
    names = [_LETTERS[k] if k < len(_LETTERS) else f"[{k + 1}]" for k in range(len(columns))]
    return {n: "".join(letter for letter, col in zip(names, columns) if n in col) for n in order}


def _absorb(columns: list[frozenset[str]]) -> list[frozenset[str]]:
    unique = list(dict.fromkeys(c for c in columns if c))
    return [c for c in unique if not any(c < d for d in unique)]


def rank_intervals(
    dz: dict[str, np.ndarray], degenerate: set[str] | frozenset[str] = frozenset(),
    seed: int = 0, n_boot: int = 1000, cap: float = np.inf,
) -> dict[str, dict[str, int | list[int]]]:
    """Per model its rank by mean dz, censored images counted at ``cap`` (1 = most robust;
    degenerate models last; see :func:`restricted_means`) and a 95% percentile interval of that
    rank from a paired bootstrap over images: each resample draws the same images for every
    model, as leaderboards report ranks."""
    names = list(dz)
    if not names:
        return {}
    # (M, N): +inf censored, NaN excluded
    matrix = np.stack([np.asarray(dz[n], dtype=float) for n in names])
    if np.isfinite(cap):
        matrix = np.where(np.isinf(matrix), cap, matrix)
    observed = np.isfinite(matrix)
    values = np.where(observed, matrix, 0.0)
    penalty = np.array([1e12 if n in degenerate else 0.0 for n in names])
    n_images = matrix.shape[1]

    def ranks_of(sums: np.ndarray, counts: np.ndarray) -> np.ndarray:  # (B, M) -> ranks (B, M)
        with np.errstate(invalid="ignore", divide="ignore"):
            means = np.where(counts > 0, sums / np.maximum(counts, 1), -np.inf)
        key = penalty[None, :] - means  # ascending: most robust first
        order = np.argsort(key, axis=1, kind="stable")
        ranks = np.empty_like(order)
        np.put_along_axis(ranks, order, np.arange(1, len(names) + 1)[None, :], axis=1)
        return ranks

    point = ranks_of(values.sum(1)[None], observed.sum(1)[None])[0]
    out: dict[str, dict[str, int | list[int]]] = {n: {"rank": int(r)} for n, r in zip(names, point)}
    if n_images < 2:
        return out
    rng = np.random.default_rng(seed)
    boot = np.empty((n_boot, len(names)), dtype=int)
    block = max(1, min(n_boot, 2_000_000 // n_images))  # resample counts held at once
    for start in range(0, n_boot, block):
        k = min(block, n_boot - start)
        weights = rng.multinomial(n_images, np.full(n_images, 1.0 / n_images), size=k).astype(float)
        boot[start : start + k] = ranks_of(weights @ values.T, weights @ observed.T.astype(float))
    lo, hi = np.quantile(boot, [0.025, 0.975], axis=0, method="inverted_cdf")
    for n, a, b in zip(names, lo, hi):
        out[n]["rank_ci"] = [int(a), int(b)]
    return out


def gate(
    dz: dict[str, np.ndarray], baseline: str, degenerate: set[str], alpha: float = 0.05,
    figure: str = "dz",
) -> dict[str, object]:
    """Release gate: is any candidate significantly less robust than ``baseline``?

    Each candidate is compared with the baseline by the paired sign test; p-values are
    Holm-corrected across the candidates. A candidate fails when the baseline's dz is
    larger on more images and the corrected p-value is below ``alpha``, or when the
    candidate is degenerate.
    """
    candidates = [n for n in dz if n != baseline]
    tests = [sign_test(dz[baseline], dz[c]) for c in candidates]
    adjusted = holm([t[4] for t in tests])
    checks = []
    for name, (base_larger, cand_larger, ties, _excluded, p), p_adj in zip(candidates, tests,
                                                                           adjusted):
        worse = p_adj is not None and p_adj < alpha and base_larger > cand_larger
        if name in degenerate:
            reason = f"{name} is degenerate: it predicts (nearly) one class for every image"
        elif worse:
            reason = (f"{name} is less robust than {baseline}: the baseline's {figure} is larger "
                      f"on {base_larger} images, the candidate's on {cand_larger} (sign test p = "
                      f"{p_adj:.2g} < {alpha:g})")
        else:
            reason = (f"{name} is not significantly less robust than {baseline} ({base_larger} vs "
                      f"{cand_larger} images, p = {'–' if p_adj is None else f'{p_adj:.2g}'})")
        checks.append({"candidate": name, "baseline_larger": base_larger,
                       "candidate_larger": cand_larger,
                       "ties": ties, "p_value": p, "p_holm": p_adj,
                       "failed": bool(worse or name in degenerate),
                       "reason": reason})
    return {"baseline": baseline, "alpha": alpha, "on": figure,
            "failed": any(c["failed"] for c in checks),
            "checks": checks}
