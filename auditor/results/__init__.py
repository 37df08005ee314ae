"""results.json: the contract between a scan, the report and other tools.

    {"auditor_version", "created", "generator": {...}, "data": {...}, "search": {...},
     "models": [{"name", "path", "n_images", "mean_delta_z", "median_delta_z", "n_censored",
                 "reconstruction_agreement", "queries", "letters", "rank", "rank_ci", ...}],
     "pairwise": [{"a", "b", "a_larger", "b_larger", "ties", "excluded", "p_value", "p_holm"}],
     "ranking": [[models of the first group], [the second], ...],
     "instances": [{"file", "z0": [...], "results": {MODEL: {"prediction",
                    "adversary_prediction", "delta_z", "censored",
                    "reconstruction_changed_label", "reconstruction_prediction",
                    "queries", "z_star"}}}]}

Latent vectors (``z0``, ``z_star``) are kept so the report can be drawn again from the
file and the generator alone, without the models.
"""

from __future__ import annotations

import datetime as _dt
import json
import re
from pathlib import Path
from typing import Any

import numpy as np

from . import __version__, stats
from .errors import ResultsError
from .consensus import ASSUMPTION, consensus_accuracy

SCHEMA_VERSION = 2  # 2: ranking groups without significant pairs, letters, ranks, natural-error figures (all additive)
_PNG_URI = re.compile(r"data:image/png;base64,[A-Za-z0-9+/]+={0,2}")


def _num(value: float, digits: int = 6) -> float | None:
    return None if value is None or not np.isfinite(value) else round(float(value), digits)


def _vec(values: np.ndarray) -> list[float] | None:
    if np.isnan(values).any():
        return None
    return [round(float(v), 5) for v in values]


def _rounded(res, n: int):
    """The first n images of a ModelResult, dz and z* rounded as results.json stores them, so
    statistics from a resumed scan equal those of an uninterrupted one."""
    from .search import ModelResult

    return ModelResult(
        prediction=res.prediction[:n],
        reconstruction_prediction=res.reconstruction_prediction[:n],
        adversary_prediction=res.adversary_prediction[:n],
        delta_z=np.round(res.delta_z[:n], 6),
        z_star=np.round(res.z_star[:n], 5),
        queries=res.queries[:n],
    )


def build(
    *,
    generator: dict[str, Any],
    data: dict[str, Any],
    search: dict[str, Any],
    models: list[dict[str, Any]],
    names: list[str],
    output,
    fit: dict[str, Any] | None = None,
    recon_mse: np.ndarray | None = None,
    scan_key: str = "",
    baseline: str | None = None,
    alpha: float = 0.05,
    gate_on: str = "dz",
    pixel=None,
    pixel_extra: dict[str, Any] | None = None,
    search_error: dict[str, Any] | None = None,
    expects_pixel: bool = False,
    expects_search_error: bool = False,
    naturalness: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Assemble results.json from a :class:`~auditor.search.SearchOutput` and metadata.

    ``models`` holds per-model metadata (name, path, format, ...) in scan order. Only the
    first ``output.n_done`` images are included; while the scan is unfinished
    (``complete`` false) the costly bootstrap intervals are left out. A scan that ``expects_pixel``
    or ``expects_search_error`` is complete only once that part is there too (so ``--resume`` of a
    scan stopped after the latent search still runs it).
    """
    n_done = output.n_done
    complete = (n_done == len(names)
                and (pixel.n_done == len(names) if pixel is not None else not expects_pixel)
                and (search_error is not None or not expects_search_error))
    intervals = n_done == len(names)  # the latent figures' intervals: their images are all done
    effective = {}
    model_entries = []
    rounded = {m["name"]: _rounded(output.results[m["name"]], n_done) for m in models}
    for meta in models:
        res = rounded[meta["name"]]
        n = n_done
        changed = res.reconstruction_changed
        censored = res.censored
        effective[meta["name"]] = stats.effective(res.delta_z, censored)
        summary = stats.summary(res.delta_z, censored)
        model_entries.append(
            dict(
                meta,
                n_images=n,
                mean_delta_z=_num(summary["mean_delta_z"]),
                median_delta_z=_num(summary["median_delta_z"]),
                mean_delta_z_ci=stats.bootstrap_ci(res.delta_z, censored, "mean") if intervals else None,
                median_delta_z_ci=stats.bootstrap_ci(res.delta_z, censored, "median") if intervals else None,
                n_observed=summary["n_observed"],
                n_censored=int(censored.sum()),
                n_reconstruction_changed=int(changed.sum()),
                reconstruction_agreement=_num(1.0 - changed.mean()) if n else None,
                queries=int(res.queries.sum()),
                queries_per_image=_num(res.queries.mean(), 1) if n else None,
                **stats.diversity(res.prediction),
            )
        )
    applies = (generator.get("reference_classifier") or {}).get("models")
    errors = _error_figures(output, models, n_done, intervals, applies)
    consensus = consensus_accuracy({m["name"]: rounded[m["name"]].prediction for m in models})
    for entry in model_entries:
        entry["consensus_accuracy"] = None if consensus is None else _num(consensus[entry["name"]], 4)
    pairs = stats.pairwise(effective)
    largest = stats.p_largest(effective)
    for entry in model_entries:
        entry["p_largest"] = _num(largest.get(entry["name"]))  # type: ignore[arg-type]
    cap = float(search.get("max_radius") or np.inf)
    mean = stats.restricted_means(effective, cap)  # censored images count at the cap: they are robust
    degenerate = {e["name"] for e in model_entries if e["degenerate"]}
    groups = stats.ranking([e["name"] for e in model_entries], mean, pairs, alpha=alpha, degenerate=degenerate)
    letters = stats.letters([n for g in groups for n in g], pairs, alpha)
    ranks = stats.rank_intervals(effective, degenerate, cap=cap) if intervals else {}
    pixel_record = None
    if pixel is not None:
        from .pixel.figures import figures as pixel_figures

        pixel_record = pixel_figures(pixel, effective, len(names), alpha, degenerate, cap) | (pixel_extra or {})
    for entry in model_entries:
        entry.update(errors["models"].get(entry["name"], {}))
        entry["letters"] = letters.get(entry["name"], "")
        entry["rank"] = ranks.get(entry["name"], {}).get("rank")
        entry["rank_ci"] = ranks.get(entry["name"], {}).get("rank_ci")
        if search_error is not None:
            entry["search_error"] = search_error["models"].get(entry["name"])
        if naturalness is not None:
            entry["naturalness"] = {"natural": naturalness["models"][entry["name"]]}
        if pixel_record is not None:
            entry["pixel"] = pixel_record["models"][entry["name"]] | pixel_record.get("_models", {}).get(entry["name"], {})
    instances = []
    for i, name in enumerate(names[:n_done]):
        per_model = {}
        for meta in models:
            res = rounded[meta["name"]]
            per_model[meta["name"]] = {
                "prediction": int(res.prediction[i]),
                "reconstruction_prediction": int(res.reconstruction_prediction[i]),
                "adversary_prediction": None if res.adversary_prediction[i] < 0 else int(res.adversary_prediction[i]),
                "delta_z": _num(res.delta_z[i]),
                "censored": bool(res.censored[i]),
                "reconstruction_changed_label": bool(res.reconstruction_changed[i]),
                "queries": int(res.queries[i]),
                "z_star": _vec(res.z_star[i]),
            }
        if naturalness is not None:
            for meta in models:
                per_model[meta["name"]]["natural_out_of_domain"] = bool(naturalness["flags"][meta["name"]][i])
        if output.errors is not None:
            for meta in models:
                ref_adv = int(output.reference_adversary[meta["name"]][i])
                per_model[meta["name"]]["reference_adversary_prediction"] = None if ref_adv < 0 else ref_adv
                err = errors["rounded"].get(meta["name"])
                if err is not None:
                    per_model[meta["name"]]["error_distance"] = _num(err.delta_z[i])
                    per_model[meta["name"]]["error_queries"] = int(err.queries[i])
                    per_model[meta["name"]]["z_error"] = _vec(err.z_star[i])
        if pixel is not None and i < pixel.n_done:
            flags = (pixel_extra or {}).get("_flags", {})
            for meta in models:
                px = pixel.results[meta["name"]]
                per_model[meta["name"]].update(
                    pixel_eps=_num(px.eps[i]), pixel_queries=int(px.queries[i]),
                    pixel_adversary_prediction=None if px.adversary_prediction[i] < 0 else int(px.adversary_prediction[i]),
                    **{key: bool(values[meta["name"]][i]) for key, values in flags.items()})
        entry: dict[str, Any] = {"file": name, "z0": _vec(output.z0[i]), "results": per_model}
        if output.reference_prediction is not None:
            entry["reference_prediction"] = int(output.reference_prediction[i])
        if recon_mse is not None:
            entry["recon_mse"] = _num(recon_mse[i])
        instances.append(entry)
    return {
        "schema_version": SCHEMA_VERSION,
        "auditor_version": __version__,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "complete": complete,
        "progress": {"done": n_done, "total": len(names)},
        "scan_key": scan_key,
        "generator": generator,
        "generator_fit": fit or {"verdict": "unknown"},
        "data": data,
        "search": search,
        "models": model_entries,
        **({"naturalness": naturalness["record"]} if naturalness is not None else {}),
        "consensus": None if consensus is None else {"method": "Dawid-Skene", "assumption": ASSUMPTION,
                                                     "n_models": len(models)},
        "pairwise": [p.__dict__ for p in pairs],
        "friedman": stats.friedman(effective),
        "alpha": alpha,
        "ranking": groups,
        "gate": (None if not baseline else stats.gate(effective, baseline, degenerate, alpha) if gate_on == "dz"
                 else stats.gate(errors["effective"], baseline, degenerate, alpha, figure="distance to the nearest natural error")),
        **({"error_pairwise": [p.__dict__ for p in errors["pairs"]],
            "error_ranking": stats.ranking(list(errors["effective"]), stats.restricted_means(errors["effective"], cap),
                                           errors["pairs"], alpha=alpha,
                                           degenerate=degenerate & set(errors["effective"]))}
           if output.errors is not None else {}),
        **({"search_error": {k: v for k, v in search_error.items() if k != "models"}} if search_error else {}),
        **({"pixel": {k: v for k, v in pixel_record.items() if k not in ("models", "_flags", "_models")}}
           if pixel_record is not None else {}),
        "instances": instances,
    }


def _error_figures(output, models: list[dict[str, Any]], n: int, complete: bool,
                   applies: list[str] | None = None) -> dict[str, Any]:
    """The natural-error figures (a reference classifier R was used) of the models R applies to
    (``applies``; None: those searched): per model R's agreement with it, the semantics check of
    its natural adversaries x* — kept its class (R(x*) = R(x): a natural error), changed class (the
    model was right to flip), or the model already disagrees with R on x — and, where it was
    searched, the distance to the nearest natural error (0 where f and R already disagree; NaN
    censored) with its summaries."""
    out: dict[str, Any] = {"models": {}, "rounded": {}, "effective": {}, "means": {}, "pairs": []}
    if output.errors is None:
        return out
    r_x = output.reference_prediction[:n]
    for meta in models:
        name = meta["name"]
        res = output.results[name]
        disagrees = res.prediction[:n] != r_x
        has_adversary = ~np.isnan(res.delta_z[:n]) & ~disagrees
        r_adv = output.reference_adversary[name][:n]
        kept = int((has_adversary & (r_adv == r_x)).sum())
        changed = int((has_adversary & (r_adv != r_x)).sum())
        considered = kept + changed + int(disagrees.sum())
        entry: dict[str, Any] = {"semantics": {
            "kept_class": _share(kept, considered), "changed_class": _share(changed, considered),
            "disagrees_with_reference": _share(int(disagrees.sum()), considered),
            "n_kept_class": kept, "n_changed_class": changed, "n_disagrees": int(disagrees.sum()), "n_images": considered,
        }, "agreement_with_reference": _num(1.0 - disagrees.mean(), 4) if n else None}
        if name not in (output.errors if applies is None else applies):  # R's classes are not the model's
            out["models"][name] = {"error_distance": None, "semantics": None, "agreement_with_reference": None}
            continue
        if name not in output.errors:  # R applies, but the error distance was not searched
            out["models"][name] = entry | {"error_distance": None}
            continue
        err = _rounded(output.errors[name], n)
        censored = np.isnan(err.delta_z)
        summary = stats.summary(err.delta_z, censored)
        entry["error_distance"] = {
            "mean": _num(summary["mean_delta_z"]), "median": _num(summary["median_delta_z"]),
            "mean_ci": stats.bootstrap_ci(err.delta_z, censored, "mean") if complete else None,
            "median_ci": stats.bootstrap_ci(err.delta_z, censored, "median") if complete else None,
            "n_zero": int((err.delta_z == 0).sum()), "n_censored": int(censored.sum()),
            "queries": int(err.queries.sum()), "queries_per_image": _num(err.queries.mean(), 1) if n else None,
        }
        out["models"][name] = entry
        out["rounded"][name] = err
        out["effective"][name] = stats.effective(err.delta_z, censored)
        out["means"][name] = entry["error_distance"]["mean"]
    out["pairs"] = stats.pairwise(out["effective"])
    return out


def _share(k: int, n: int) -> float | None:
    return _num(k / n, 4) if n else None


def restore(results: dict[str, Any], n: int, latent_dim: int):
    """A SearchOutput holding the finished images of a partial results.json (for --resume)."""
    from .search import empty_output

    names = [m["name"] for m in results["models"]]
    with_errors = "error_pairwise" in results
    error_names = [m["name"] for m in results["models"] if m.get("error_distance") is not None] if with_errors else None
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
                    err.prediction[i], err.reconstruction_prediction[i] = r["prediction"], r.get("reconstruction_prediction", r["prediction"])
                    err.delta_z[i] = np.nan if r.get("error_distance") is None else r["error_distance"]
                    err.queries[i] = r.get("error_queries", 0)
                    if r.get("z_error") is not None:
                        err.z_star[i] = r["z_error"]
            res = out.results[name]
            res.prediction[i] = r["prediction"]
            res.reconstruction_prediction[i] = r.get("reconstruction_prediction", r["prediction"])
            res.adversary_prediction[i] = -1 if r["adversary_prediction"] is None else r["adversary_prediction"]
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


def restore_pixel(results: dict[str, Any], n: int, shape: tuple[int, ...], adversaries: dict[str, np.ndarray]):
    """The pixel attack's finished images of a partial results.json and its adversaries' npz
    (see :func:`pixel_npz`), or None where the scan has no pixel results yet."""
    from .pixel import PixelSettings, empty_output

    record = results.get("pixel")
    if not record:
        return None
    names = [m["name"] for m in results["models"]]
    settings = PixelSettings(attack=record["attack"], norm=record["norm"], max_eps=record["max_eps"],
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
    """pixel-adversaries.npz: every adversary found (image index, model, x', eps, queries, attack)."""
    import io

    names = list(pixel.results)
    n_done = pixel.n_done if n_done is None else n_done
    rows = [(i, k) for k, name in enumerate(names) for i in np.flatnonzero(~np.isnan(pixel.results[name].eps[:n_done]))]
    index = np.array([i for i, _ in rows], dtype=np.int64)
    model = np.array([k for _, k in rows], dtype=np.int64)
    first = pixel.results[names[0]].adversary
    x = (np.stack([pixel.results[names[k]].adversary[i] for i, k in rows]) if rows
         else np.zeros((0, *first.shape[1:]), dtype=np.float32))
    eps = np.array([pixel.results[names[k]].eps[i] for i, k in rows], dtype=np.float64)
    queries = np.array([pixel.results[names[k]].queries[i] for i, k in rows], dtype=np.int64)
    buf = io.BytesIO()
    np.savez_compressed(buf, index=index, model=model, models=np.array(names), x=x.astype(np.float32), eps=eps,
                        queries=queries, attack=np.array(pixel.attack), norm=np.array(pixel.norm))
    return buf.getvalue()


def read_pixel_npz(path: Path, sha256: str | None) -> dict[str, np.ndarray]:
    """The arrays of a pixel-adversaries.npz, after checking its SHA-256 against results.json's."""
    import hashlib

    path = Path(path)
    if not path.is_file():
        raise ResultsError(f"{path} is missing: the pixel adversaries of this results.json are kept there")
    data = path.read_bytes()
    if sha256 is not None and hashlib.sha256(data).hexdigest() != sha256:
        raise ResultsError(f"{path} does not match the SHA-256 in results.json: it belongs to another scan "
                           "or was changed")
    import io

    with np.load(io.BytesIO(data), allow_pickle=False) as npz:
        return {k: npz[k] for k in npz.files}


def write(path: Path, results: dict[str, Any]) -> Path:
    """Write atomically (a temporary file in the same folder, fsync, rename; see
    :func:`auditor.files.atomic_write`): the previous file stays whole if the write fails."""
    from .files import atomic_write

    def dump(fh) -> None:  # streamed: no whole-document string in memory
        json.dump({k: v for k, v in results.items() if not k.startswith("_")}, fh, indent=1, allow_nan=False)
        fh.write("\n")

    return atomic_write(Path(path), dump)


REQUIRED = {
    "auditor_version": str,
    "generator": dict,
    "search": dict,
    "models": list,
    "instances": list,
}


def read(path: Path) -> dict[str, Any]:
    """Read and check a results.json; raises :class:`ResultsError` with what is wrong."""
    path = Path(path)
    if not path.is_file():
        raise ResultsError(f"{str(path)!r} is not a file; pass the results.json written by `auditor scan`")
    try:
        results = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, ValueError) as err:
        raise ResultsError(f"{path}: not valid JSON ({err})") from err
    if not isinstance(results, dict):
        raise ResultsError(f"{path}: expected a JSON object, got {type(results).__name__}")
    version = results.get("schema_version", SCHEMA_VERSION)
    if not isinstance(version, int) or version > SCHEMA_VERSION:
        raise ResultsError(f"{path}: results schema {version!r} is newer than this auditor reads; upgrade auditor")
    for key, kind in REQUIRED.items():
        if not isinstance(results.get(key), kind):
            raise ResultsError(f"{path}: field {key!r} should be a {kind.__name__}, got {type(results.get(key)).__name__}")
    names = []
    for model in results["models"]:
        if not isinstance(model, dict) or not isinstance(model.get("name"), str):
            raise ResultsError(f"{path}: every entry of 'models' needs a string 'name'")
        names.append(model["name"])
    for k, inst in enumerate(results["instances"]):
        if not isinstance(inst, dict) or not isinstance(inst.get("file"), str) or not isinstance(inst.get("results"), dict):
            raise ResultsError(f"{path}: instance {k} needs 'file' (string) and 'results' (object)")
        for name in names:
            entry = inst["results"].get(name)
            if not isinstance(entry, dict):
                raise ResultsError(f"{path}: instance {k} has no result for model {name!r}")
            for key, kinds, optional in FIELDS:
                if key not in entry and optional:
                    continue
                value = entry.get(key)
                if not (isinstance(value, kinds) and not (isinstance(value, bool) and bool not in kinds)):
                    raise ResultsError(f"{path}: instance {k}, model {name!r}: {key} has the wrong type ({value!r})")
            if entry.get("z_star") is not None and not _numbers(entry["z_star"]):
                raise ResultsError(f"{path}: instance {k}, model {name!r}: z_star should be a list of numbers")
        png = inst.get("image_png")
        if png is not None and not (isinstance(png, str) and _PNG_URI.fullmatch(png)):
            raise ResultsError(f"{path}: instance {k}: image_png should be an inline PNG (data:image/png;base64,...)")
        if inst.get("z0") is not None and not _numbers(inst["z0"]):
            raise ResultsError(f"{path}: instance {k}: z0 should be a list of numbers")
    return results


# (field, accepted types, may be absent) of each instance's per-model result
FIELDS = [
    ("prediction", (int,), False),
    ("delta_z", (int, float, type(None)), False),
    ("adversary_prediction", (int, type(None)), True),
    ("censored", (bool,), True),
    ("reconstruction_changed_label", (bool,), True),
    ("reconstruction_prediction", (int,), True),
    ("queries", (int,), True),
    ("z_star", (list, type(None)), True),
]


def _numbers(values: Any) -> bool:
    return isinstance(values, list) and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
