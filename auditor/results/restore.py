"""A partial results.json back into the search's and the pixel attack's state (for --resume),
and the pixel adversaries' npz beside it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ResultsError


def restore(results: dict[str, Any], n: int, latent_dim: int):
    """A SearchOutput holding the finished images of a partial results.json (for --resume)."""
    from ..search import empty_output

    names = [m["name"] for m in results["models"]]
    with_errors = "error_pairwise" in results
    error_names = ([m["name"] for m in results["models"] if m.get("error_distance") is not None]
                   if with_errors else None)
    out = empty_output(n, latent_dim, names, errors=error_names)
    for i, inst in enumerate(results["instances"]):
        if inst.get("z0") is not None:
            out.z0[i] = inst["z0"]
        if with_errors:
            out.reference_prediction[i] = inst["reference_prediction"]
        for name in names:
            r = inst["results"][name]
            if with_errors:
                adv = r.get("reference_adversary_prediction")
                out.reference_adversary[name][i] = -1 if adv is None else adv
                if name in out.errors:
                    err = out.errors[name]
                    err.prediction[i], err.reconstruction_prediction[i] = (
                        r["prediction"], r.get("reconstruction_prediction", r["prediction"]))
                    err.delta_z[i] = (np.nan if r.get("error_distance") is None
                                      else r["error_distance"])
                    err.queries[i] = r.get("error_queries", 0)
                    if r.get("z_error") is not None:
                        err.z_star[i] = r["z_error"]
            res = out.results[name]
            res.prediction[i] = r["prediction"]
            res.reconstruction_prediction[i] = r.get("reconstruction_prediction", r["prediction"])
            res.adversary_prediction[i] = (-1 if r["adversary_prediction"] is None
                                           else r["adversary_prediction"])
            res.delta_z[i] = np.nan if r["delta_z"] is None else r["delta_z"]
            if r.get("z_star") is not None:
                res.z_star[i] = r["z_star"]
            res.queries[i] = r["queries"]
    out.n_done = len(results["instances"])
    search = results.get("search", {})
    out.decodes = int(search.get("decodes", 0))
    out.seconds_total = float(search.get("seconds", 0.0))
    out.seconds_generator = float(search.get("seconds_generator", 0.0))
    for name in names:
        out.classifier_seconds[name] = float(search.get("seconds_classifiers", {}).get(name, 0.0))
    return out


def restore_pixel(results: dict[str, Any], n: int, shape: tuple[int, ...],
                  adversaries: dict[str, np.ndarray]):
    """The pixel attack's finished images of a partial results.json and its adversaries' npz
    (see :func:`pixel_npz`), or None where the scan has no pixel results yet."""
    from ..pixel import PixelSettings, empty_output

    record = results.get("pixel")
    if not record:
        return None
    names = [m["name"] for m in results["models"]]
    settings = PixelSettings(attack=record["attack"], norm=record["norm"],
                             max_eps=record["max_eps"],
                             queries=record["queries_budget"])
    out = empty_output(n, shape, names, record["attack"], settings)
    done = record["progress"]["done"]
    for i, inst in enumerate(results["instances"][:done]):
        for name in names:
            r, px = inst["results"][name], out.results[name]
            px.eps[i] = np.nan if r.get("pixel_eps") is None else r["pixel_eps"]
            px.queries[i] = r.get("pixel_queries", 0)
            adv = r.get("pixel_adversary_prediction")
            px.adversary_prediction[i] = -1 if adv is None else adv
    model_names = [str(v) for v in adversaries["models"]]
    for index, model, x in zip(adversaries["index"], adversaries["model"], adversaries["x"]):
        if index < done:
            out.results[model_names[model]].adversary[index] = x
    out.n_done, out.seconds = done, float(record.get("seconds", 0.0))
    return out


def pixel_npz(pixel, n_done: int | None = None) -> bytes:
    """pixel-adversaries.npz: every adversary found (image index, model, x', eps, queries,
    attack)."""
    import io

    names = list(pixel.results)
    n_done = pixel.n_done if n_done is None else n_done
    rows = [(i, k) for k, name in enumerate(names)
            for i in np.flatnonzero(~np.isnan(pixel.results[name].eps[:n_done]))]
    index = np.array([i for i, _ in rows], dtype=np.int64)
    model = np.array([k for _, k in rows], dtype=np.int64)
    first = pixel.results[names[0]].adversary
    x = (np.stack([pixel.results[names[k]].adversary[i] for i, k in rows]) if rows
         else np.zeros((0, *first.shape[1:]), dtype=np.float32))
    eps = np.array([pixel.results[names[k]].eps[i] for i, k in rows], dtype=np.float64)
    queries = np.array([pixel.results[names[k]].queries[i] for i, k in rows], dtype=np.int64)
    buf = io.BytesIO()
    np.savez_compressed(buf, index=index, model=model, models=np.array(names),
                        x=x.astype(np.float32), eps=eps,
                        queries=queries, attack=np.array(pixel.attack), norm=np.array(pixel.norm))
    return buf.getvalue()


def read_pixel_npz(path: Path, sha256: str | None) -> dict[str, np.ndarray]:
    """The arrays of a pixel-adversaries.npz, after checking its SHA-256 against results.json's."""
    import hashlib

    path = Path(path)
    if not path.is_file():
        raise ResultsError(f"{path} is missing: the pixel adversaries of this results.json are "
                           "kept there")
    data = path.read_bytes()
    if sha256 is not None and hashlib.sha256(data).hexdigest() != sha256:
        raise ResultsError(f"{path} does not match the SHA-256 in results.json: it belongs to "
                           "another scan or was changed")
    import io

    with np.load(io.BytesIO(data), allow_pickle=False) as npz:
        return {k: npz[k] for k in npz.files}
