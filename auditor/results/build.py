"""results.json's document: a scan's figures assembled from its search output and metadata
(:func:`build`), per model, per pair of models and per input."""

from __future__ import annotations

import datetime as _dt
from typing import Any

import numpy as np

from .. import stats
from .._version import __version__
from ..consensus import ASSUMPTION, consensus_accuracy

# 2: ranking groups without significant pairs, letters, ranks, natural-error figures (all additive)
SCHEMA_VERSION = 2


def _num(value: float, digits: int = 6) -> float | None:
    return None if value is None or not np.isfinite(value) else round(float(value), digits)


def _vec(values: np.ndarray) -> list[float] | None:
    if np.isnan(values).any():
        return None
    return [round(float(v), 5) for v in values]


def _rounded(res, n: int):
    """The first n images of a ModelResult, dz and z* rounded as results.json stores them, so
    statistics from a resumed scan equal those of an uninterrupted one."""
    from ..search import ModelResult

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
    per_input: dict[str, np.ndarray] | None = None,
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
    rounded = {m["name"]: _rounded(output.results[m["name"]], n_done) for m in models}
    model_entries, effective = _model_entries(models, rounded, n_done, intervals)
    applies = (generator.get("reference_classifier") or {}).get("models")
    errors = _error_figures(output, models, n_done, intervals, applies)
    consensus = consensus_accuracy({m["name"]: rounded[m["name"]].prediction for m in models})
    for entry in model_entries:
        entry["consensus_accuracy"] = (None if consensus is None
                                       else _num(consensus[entry["name"]], 4))
    pairs = stats.pairwise(effective)
    largest = stats.p_largest(effective)
    for entry in model_entries:
        entry["p_largest"] = _num(largest.get(entry["name"]))  # type: ignore[arg-type]
    cap = float(search.get("max_radius") or np.inf)
    # censored images count at the cap: they are robust
    mean = stats.restricted_means(effective, cap)
    degenerate = {e["name"] for e in model_entries if e["degenerate"]}
    groups = stats.ranking([e["name"] for e in model_entries], mean, pairs, alpha=alpha,
                           degenerate=degenerate)
    letters = stats.letters([n for g in groups for n in g], pairs, alpha)
    ranks = stats.rank_intervals(effective, degenerate, cap=cap) if intervals else {}
    pixel_record = None
    if pixel is not None:
        from ..pixel.figures import figures as pixel_figures

        pixel_record = (pixel_figures(pixel, effective, len(names), alpha, degenerate, cap)
                        | (pixel_extra or {}))
    for entry in model_entries:
        _attach_figures(entry, errors, letters, ranks, search_error, naturalness, pixel_record)
    instances = [_instance(i, name, models, rounded, output, errors, naturalness, pixel,
                           pixel_extra, per_input) for i, name in enumerate(names[:n_done])]
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
        "consensus": (None if consensus is None
                      else {"method": "Dawid-Skene", "assumption": ASSUMPTION,
                            "n_models": len(models)}),
        "pairwise": [p.__dict__ for p in pairs],
        "friedman": stats.friedman(effective),
        "alpha": alpha,
        "ranking": groups,
        "gate": (None if not baseline else stats.gate(effective, baseline, degenerate, alpha)
                 if gate_on == "dz"
                 else stats.gate(errors["effective"], baseline, degenerate, alpha,
                                 figure="distance to the nearest natural error")),
        **({"error_pairwise": [p.__dict__ for p in errors["pairs"]],
            "error_ranking": stats.ranking(list(errors["effective"]),
                                           stats.restricted_means(errors["effective"], cap),
                                           errors["pairs"], alpha=alpha,
                                           degenerate=degenerate & set(errors["effective"]))}
           if output.errors is not None else {}),
        **({"search_error": {k: v for k, v in search_error.items() if k != "models"}}
           if search_error else {}),
        **({"pixel": {k: v for k, v in pixel_record.items()
                      if k not in ("models", "_flags", "_models")}}
           if pixel_record is not None else {}),
        "instances": instances,
    }


def _model_entries(models: list[dict[str, Any]], rounded: dict, n: int, intervals: bool):
    """Each model's Δz figures (its metadata first), and its effective Δz for the statistics."""
    effective, entries = {}, []
    for meta in models:
        res = rounded[meta["name"]]
        changed, censored = res.reconstruction_changed, res.censored
        effective[meta["name"]] = stats.effective(res.delta_z, censored)
        summary = stats.summary(res.delta_z, censored)
        entries.append(dict(
            meta,
            n_images=n,
            mean_delta_z=_num(summary["mean_delta_z"]),
            median_delta_z=_num(summary["median_delta_z"]),
            mean_delta_z_ci=(stats.bootstrap_ci(res.delta_z, censored, "mean") if intervals
                             else None),
            median_delta_z_ci=(stats.bootstrap_ci(res.delta_z, censored, "median") if intervals
                               else None),
            n_observed=summary["n_observed"],
            n_censored=int(censored.sum()),
            n_reconstruction_changed=int(changed.sum()),
            reconstruction_agreement=_num(1.0 - changed.mean()) if n else None,
            queries=int(res.queries.sum()),
            queries_per_image=_num(res.queries.mean(), 1) if n else None,
            **stats.diversity(res.prediction),
        ))
    return entries, effective


def _attach_figures(entry: dict, errors, letters, ranks, search_error, naturalness,
                    pixel_record) -> None:
    """A model entry's figures beyond Δz: natural errors, ranking, search error, naturalness,
    the pixel view."""
    name = entry["name"]
    entry.update(errors["models"].get(name, {}))
    entry["letters"] = letters.get(name, "")
    entry["rank"] = ranks.get(name, {}).get("rank")
    entry["rank_ci"] = ranks.get(name, {}).get("rank_ci")
    if search_error is not None:
        entry["search_error"] = search_error["models"].get(name)
    if naturalness is not None:
        entry["naturalness"] = {"natural": naturalness["models"][name]}
    if pixel_record is not None:
        entry["pixel"] = (pixel_record["models"][name]
                          | pixel_record.get("_models", {}).get(name, {}))


def _instance(i: int, name: str, models, rounded, output, errors, naturalness, pixel, pixel_extra,
              per_input) -> dict[str, Any]:
    """results.json's record of input ``i``: its latent code and every model's figures on it."""
    per_model = {}
    for meta in models:
        res = rounded[meta["name"]]
        adv = res.adversary_prediction[i]
        per_model[meta["name"]] = {
            "prediction": int(res.prediction[i]),
            "reconstruction_prediction": int(res.reconstruction_prediction[i]),
            "adversary_prediction": None if adv < 0 else int(adv),
            "delta_z": _num(res.delta_z[i]),
            "censored": bool(res.censored[i]),
            "reconstruction_changed_label": bool(res.reconstruction_changed[i]),
            "queries": int(res.queries[i]),
            "z_star": _vec(res.z_star[i]),
        }
    if naturalness is not None:
        for meta in models:
            flag = bool(naturalness["flags"][meta["name"]][i])
            per_model[meta["name"]]["natural_out_of_domain"] = flag
    if output.errors is not None:
        for meta in models:
            record = per_model[meta["name"]]
            ref_adv = int(output.reference_adversary[meta["name"]][i])
            record["reference_adversary_prediction"] = None if ref_adv < 0 else ref_adv
            err = errors["rounded"].get(meta["name"])
            if err is not None:
                record["error_distance"] = _num(err.delta_z[i])
                record["error_queries"] = int(err.queries[i])
                record["z_error"] = _vec(err.z_star[i])
    if pixel is not None and i < pixel.n_done:
        flags = (pixel_extra or {}).get("_flags", {})
        for meta in models:
            px = pixel.results[meta["name"]]
            adv = px.adversary_prediction[i]
            per_model[meta["name"]].update(
                pixel_eps=_num(px.eps[i]), pixel_queries=int(px.queries[i]),
                pixel_adversary_prediction=None if adv < 0 else int(adv),
                **{key: bool(values[meta["name"]][i]) for key, values in flags.items()})
    entry: dict[str, Any] = {"file": name, "z0": _vec(output.z0[i]), "results": per_model}
    if output.reference_prediction is not None:
        entry["reference_prediction"] = int(output.reference_prediction[i])
    # the fit check's per-input figures: recon_mse, fit_score (distance / threshold), in_domain
    for key, values in (per_input or {}).items():
        entry[key] = bool(values[i]) if values.dtype == bool else _num(values[i])
    return entry


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
            "n_kept_class": kept, "n_changed_class": changed, "n_disagrees": int(disagrees.sum()),
            "n_images": considered,
        }, "agreement_with_reference": _num(1.0 - disagrees.mean(), 4) if n else None}
        # R's classes are not the model's
        if name not in (output.errors if applies is None else applies):
            out["models"][name] = {"error_distance": None, "semantics": None,
                                   "agreement_with_reference": None}
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
            "queries": int(err.queries.sum()),
            "queries_per_image": _num(err.queries.mean(), 1) if n else None,
        }
        out["models"][name] = entry
        out["rounded"][name] = err
        out["effective"][name] = stats.effective(err.delta_z, censored)
        out["means"][name] = entry["error_distance"]["mean"]
    out["pairs"] = stats.pairwise(out["effective"])
    return out


def _share(k: int, n: int) -> float | None:
    return _num(k / n, 4) if n else None
