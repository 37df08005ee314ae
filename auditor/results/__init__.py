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

import json
import re
from pathlib import Path
from typing import Any

from ..errors import ResultsError
from .build import SCHEMA_VERSION, _error_figures, build
from .restore import pixel_npz, read_pixel_npz, restore, restore_pixel

__all__ = ["SCHEMA_VERSION", "build", "pixel_npz", "read", "read_pixel_npz", "restore",
           "restore_pixel", "write", "_error_figures"]

_PNG_URI = re.compile(r"data:image/png;base64,[A-Za-z0-9+/]+={0,2}")


def write(path: Path, results: dict[str, Any]) -> Path:
    """Write atomically (a temporary file in the same folder, fsync, rename; see
    :func:`auditor.files.atomic_write`): the previous file stays whole if the write fails."""
    from ..files import atomic_write

    def dump(fh) -> None:  # streamed: no whole-document string in memory
        json.dump({k: v for k, v in results.items() if not k.startswith("_")}, fh, indent=1,
                  allow_nan=False)
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
        raise ResultsError(f"{str(path)!r} is not a file; pass the results.json written by "
                           "`auditor scan`")
    try:
        results = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, ValueError) as err:
        raise ResultsError(f"{path}: not valid JSON ({err})") from err
    if not isinstance(results, dict):
        raise ResultsError(f"{path}: expected a JSON object, got {type(results).__name__}")
    version = results.get("schema_version", SCHEMA_VERSION)
    if not isinstance(version, int) or version > SCHEMA_VERSION:
        raise ResultsError(f"{path}: results schema {version!r} is newer than this auditor reads; "
                           "upgrade auditor")
    for key, kind in REQUIRED.items():
        if not isinstance(results.get(key), kind):
            raise ResultsError(f"{path}: field {key!r} should be a {kind.__name__}, got "
                               f"{type(results.get(key)).__name__}")
    names = []
    for model in results["models"]:
        if not isinstance(model, dict) or not isinstance(model.get("name"), str):
            raise ResultsError(f"{path}: every entry of 'models' needs a string 'name'")
        names.append(model["name"])
    for k, inst in enumerate(results["instances"]):
        if (not isinstance(inst, dict) or not isinstance(inst.get("file"), str)
            or not isinstance(inst.get("results"), dict)):
            raise ResultsError(f"{path}: instance {k} needs 'file' (string) and 'results' (object)")
        for name in names:
            entry = inst["results"].get(name)
            if not isinstance(entry, dict):
                raise ResultsError(f"{path}: instance {k} has no result for model {name!r}")
            for key, kinds, optional in FIELDS:
                if key not in entry and optional:
                    continue
                value = entry.get(key)
                if not (isinstance(value, kinds)
                        and not (isinstance(value, bool) and bool not in kinds)):
                    raise ResultsError(f"{path}: instance {k}, model {name!r}: {key} has the wrong "
                                       f"type ({value!r})")
            if entry.get("z_star") is not None and not _numbers(entry["z_star"]):
                raise ResultsError(f"{path}: instance {k}, model {name!r}: z_star should be a list "
                                   "of numbers")
        png = inst.get("image_png")
        if png is not None and not (isinstance(png, str) and _PNG_URI.fullmatch(png)):
            raise ResultsError(f"{path}: instance {k}: image_png should be an inline PNG "
                               "(data:image/png;base64,...)")
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
    return (isinstance(values, list)
            and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values))
