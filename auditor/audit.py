"""The result of a scan, as an object: figures per model, sign tests, ranking, release gate,
report files, and a display in notebooks and the REPL.

An :class:`Audit` wraps the results.json document (``to_dict()`` returns exactly it) and the
generator that made it (the report decodes its latent codes). ``auditor.scan`` returns one;
:func:`load` reads one back from a results.json.
"""

from __future__ import annotations

import copy
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .errors import OptionError
from .formats import FORMATS
from .stats import Pair
from .audit_records import PixelFigures, PixelView, ReferenceRecord, Semantics


@dataclass(frozen=True)
class ModelSummary:
    """One model's figures over the scan's images (Δz: larger = more robust)."""

    name: str
    n_images: int
    mean_delta_z: float | None  # over images with a flip; None when there is none
    mean_delta_z_ci: tuple[float, float] | None  # 95% bootstrap interval over images
    median_delta_z: float | None  # censored images count as +inf
    median_delta_z_ci: tuple[float, float] | None
    n_censored: int  # no flip within the radius cap
    n_reconstruction_changed: int  # G(z0) already changed the label: no Δz
    reconstruction_agreement: float | None
    queries_per_image: float | None
    rank: float | None  # 1 = most robust; None with one model
    rank_ci: tuple[int, int] | None
    degenerate: bool  # predicts (nearly) one class: ranked last
    # the natural-error figures, where a reference classifier applies
    error_distance: dict[str, Any] | None = None
    agreement_with_reference: float | None = None
    consensus_accuracy: float | None = None  # Dawid-Skene estimate from the labels (3+ models)
    record: dict[str, Any] = field(default_factory=dict, repr=False)  # its entry in results.json
    semantics: Semantics | None = None  # what R says of its adversaries, where R applies
    natural_out_of_domain: float | None = None  # share of its natural adversaries out of domain
    pixel: PixelFigures | None = None  # its pixel-space figures, where the scan ran a pixel attack

    @classmethod
    def from_record(cls, m: dict[str, Any]) -> ModelSummary:
        def pair(v):
            return None if v is None else tuple(v)

        natural = ((m.get("naturalness") or {}).get("natural") or {}).get("out_of_domain")
        return cls(
            name=m["name"], n_images=m["n_images"], mean_delta_z=m["mean_delta_z"],
            mean_delta_z_ci=pair(m.get("mean_delta_z_ci")), median_delta_z=m["median_delta_z"],
            median_delta_z_ci=pair(m.get("median_delta_z_ci")), n_censored=m["n_censored"],
            n_reconstruction_changed=m["n_reconstruction_changed"],
            reconstruction_agreement=m.get("reconstruction_agreement"),
            queries_per_image=m.get("queries_per_image"), rank=m.get("rank"),
            rank_ci=pair(m.get("rank_ci")), degenerate=bool(m.get("degenerate")),
            error_distance=m.get("error_distance"),
            agreement_with_reference=m.get("agreement_with_reference"),
            consensus_accuracy=m.get("consensus_accuracy"), record=m,
            semantics=Semantics.from_record(m.get("semantics")), natural_out_of_domain=natural,
            pixel=PixelFigures.from_record(m.get("pixel")),
        )


@dataclass
class Comparison(Pair):
    """The paired sign test of two models over the same images: on how many images each one's
    Δz is larger (censored images count as larger than any flip; ties and images without a Δz
    for either model are left out), two-sided p-value raw and Holm-corrected over all pairs."""

    def significant(self, alpha: float = 0.05) -> bool:
        return self.p_holm is not None and self.p_holm < alpha

    def more_robust(self, alpha: float = 0.05) -> str | None:
        """The model significantly more robust at ``alpha`` (Holm), else None."""
        if not self.significant(alpha):
            return None
        return self.a if self.a_larger > self.b_larger else self.b

    def __str__(self) -> str:
        p = "–" if self.p_holm is None else f"{self.p_holm:.2g}"
        return (f"{self.a} vs {self.b}: Δz larger on {self.a_larger} vs {self.b_larger} images, "
                f"{self.ties} ties, p = {p} (sign test, Holm)")


@dataclass(frozen=True)
class GateCheck:
    """One candidate's verdict against the baseline, with the sign test's counts."""

    candidate: str
    failed: bool
    reason: str
    baseline_larger: int
    candidate_larger: int
    p_holm: float | None


@dataclass(frozen=True)
class Gate:
    """A release gate: is any candidate significantly less robust than the baseline (or
    degenerate)?"""

    baseline: str
    alpha: float
    on: str  # the figure compared: "dz" or "distance to the nearest natural error"
    checks: tuple[GateCheck, ...]

    @property
    def failed(self) -> bool:
        return any(c.failed for c in self.checks)

    @property
    def passed(self) -> bool:
        return not self.failed

    @property
    def summary(self) -> str:
        """One line per candidate: passed or failed, and why."""
        return "\n".join(f"{'FAILED' if c.failed else 'passed'}: {c.reason}" for c in self.checks)

    def __str__(self) -> str:
        return self.summary


class Audit:
    """A finished scan. ``models``, ``ranking``, ``pairwise``, ``compare()``, ``gate()``,
    ``write()``, ``to_dict()``; shows itself in Jupyter and the REPL."""

    def __init__(self, results: dict[str, Any], generator: Any = None,
                 pixel_npz: bytes | None = None) -> None:
        self._results = results
        self.generator = generator
        # report files written by the scan (with ``out``) or ``write()``
        self.written: list[Path] = []
        self.pixel_npz = pixel_npz  # pixel-adversaries.npz of a scan with a pixel attack

    # --- figures ------------------------------------------------------------------------
    @property
    def models(self) -> dict[str, ModelSummary]:
        """Per model, in scan order."""
        return {m["name"]: ModelSummary.from_record(m) for m in self._results["models"]}

    @property
    def names(self) -> list[str]:
        return [m["name"] for m in self._results["models"]]

    @property
    def n_images(self) -> int:
        return int(self._results["data"]["n_images"])

    @property
    def unit(self) -> str:  # what the inputs are: images, sentences, premise-hypothesis pairs
        return str(self._results["data"].get("kind", "images"))

    @property
    def files(self) -> list[str]:
        """The images' names (file paths relative to the folder, ``array[i]``, ``image[i]``)."""
        return [inst["file"] for inst in self._results["instances"]]

    @property
    def ranking(self) -> list[list[str]]:
        """Groups, most robust first; one group's models differ insignificantly (Holm, alpha)."""
        return [list(g) for g in self._results["ranking"]]

    @property
    def pairwise(self) -> list[Comparison]:
        return [Comparison(**{k: p[k] for k in Comparison.__dataclass_fields__})
                for p in self._results["pairwise"]]

    @property
    def complete(self) -> bool:
        return bool(self._results.get("complete", True))

    @property
    def progress(self) -> tuple[int, int]:
        """(images done, images in all): equal once the scan is complete."""
        p = self._results.get("progress") or {}
        return int(p.get("done", self.n_images)), int(p.get("total", self.n_images))

    @property
    def alpha(self) -> float:  # the significance level of the scan's ranking, tests and gate
        return float(self._results.get("alpha", 0.05))

    @property
    def by_rank(self) -> list[str]:
        """Model names from most to least robust (the ranking's order)."""
        from .gallery import ranked

        return ranked(self._results)

    @property
    def generator_name(self) -> str:  # the scan's generator's name
        return str(self._results["generator"]["name"])

    @property
    def reference_classifier(self) -> ReferenceRecord | None:
        """The generator's reference classifier R, where the scan used it."""
        record = self._results["generator"].get("reference_classifier")
        return ReferenceRecord.from_record(record)

    @property
    def error_ranking(self) -> list[list[str]]:
        """Groups by the distance to the nearest natural error (R's figures), largest first."""
        return [list(g) for g in self._results.get("error_ranking") or []]

    @property
    def pixel(self) -> PixelView | None:
        """The pixel attack's view, where the scan ran one (per model: ``models[n].pixel``)."""
        return PixelView.from_record(self._results.get("pixel"))

    @property
    def release_gate(self) -> Gate | None:
        """The gate the scan ran (``baseline=``), as :meth:`gate` returns it; None without one."""
        g = self._results.get("gate")
        if not g:
            return None
        checks = tuple(GateCheck(c["candidate"], c["failed"], c["reason"], c["baseline_larger"],
                                 c["candidate_larger"], c["p_holm"]) for c in g["checks"])
        return Gate(g["baseline"], g["alpha"], g["on"], checks)

    def delta_z(self, model: str) -> np.ndarray:
        """Per image Δz of ``model``: +inf where censored, NaN where the reconstruction changed
        its label."""
        self._check_name(model)
        out = np.full(len(self._results["instances"]), np.nan)
        for i, inst in enumerate(self._results["instances"]):
            r = inst["results"][model]
            out[i] = np.inf if r["censored"] else np.nan if r["delta_z"] is None else r["delta_z"]
        return out

    def compare(self, a: str, b: str) -> Comparison:
        """The paired sign test of ``a`` against ``b`` (Holm-corrected among the scan's pairs)."""
        self._check_name(a)
        self._check_name(b)
        if a == b:
            raise OptionError(f"compare needs two different models, got {a!r} twice")
        for p in self.pairwise:
            if (p.a, p.b) == (a, b):
                return p
            if (p.a, p.b) == (b, a):
                return Comparison(a, b, p.b_larger, p.a_larger, p.ties, p.excluded, p.p_value,
                                  p.p_holm)
        # every pair is tested:
        raise OptionError(f"no sign test of {a} and {b} in these results")  # pragma: no cover

    def gate(self, baseline: str, alpha: float | None = None, on: str = "dz") -> Gate:
        """Release gate against ``baseline``: a candidate fails when its Δz (``on="dz"``) or its
        distance to the nearest natural error (``on="error-distance"``) is significantly smaller
        on the same images (sign tests, Holm-corrected at ``alpha``, default the scan's), or when
        it is degenerate. The same test as ``auditor scan --baseline B --fail-if-worse``."""
        from . import stats

        self._check_name(baseline)
        if len(self.names) < 2:
            raise OptionError("a gate needs two or more models: the baseline and a candidate")
        alpha = self._results.get("alpha", 0.05) if alpha is None else alpha
        if not 0 < alpha < 1:
            raise OptionError(f"alpha must be between 0 and 1, got {alpha}")
        degenerate = {m["name"] for m in self._results["models"] if m.get("degenerate")}
        if on == "dz":
            dz, figure = {n: self.delta_z(n) for n in self.names}, "dz"
        elif on == "error-distance":
            dz, figure = self._error_distances(), "distance to the nearest natural error"
            if baseline not in dz or len(dz) < len(self.names):
                raise OptionError("on='error-distance' needs the natural-error figures for every "
                                  f"model; this scan has them for: {', '.join(dz) or 'none'}")
        else:
            raise OptionError(f"on must be 'dz' or 'error-distance', got {on!r}")
        result = stats.gate(dz, baseline, degenerate, alpha, figure=figure)
        checks = tuple(GateCheck(c["candidate"], c["failed"], c["reason"], c["baseline_larger"],
                                 c["candidate_larger"], c["p_holm"]) for c in result["checks"])
        return Gate(baseline, alpha, figure, checks)

    def _error_distances(self) -> dict[str, np.ndarray]:
        from . import stats

        out = {}
        names = [m["name"] for m in self._results["models"] if m.get("error_distance") is not None]
        for name in names:
            values = [inst["results"][name].get("error_distance")
                      for inst in self._results["instances"]]
            dz = np.array([np.nan if v is None else v for v in values], dtype=float)
            # NaN: no natural error within the cap (censored)
            out[name] = stats.effective(dz, np.isnan(dz))
        return out

    def _check_name(self, name: str) -> None:
        if name not in self.names:
            raise OptionError(f"no model named {name!r} in this audit; models: "
                              f"{', '.join(self.names)}")

    # --- documents ----------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """The results.json document (a copy)."""
        return copy.deepcopy(self._results)

    def write(self, folder: str | os.PathLike, formats: str | tuple[str, ...] | list[str] = FORMATS,
              wait: float = 0.0) -> list[Path]:
        """Write ``formats`` into ``folder``: html (index.html), pdf (report.pdf), md
        (model-card.md + card/), json (results.json); returns the paths. The folder is locked
        while writing (``wait`` seconds for another auditor process). Where an output fails,
        the others are written and :class:`~auditor.errors.OutputError` lists them."""
        from . import results as results_mod
        from .files import FolderLock, check_writable, remove_stale_temporaries, write_bytes
        from .formats import parse_formats

        joined = formats if isinstance(formats, str) else ",".join(formats)
        wanted = parse_formats(joined) if isinstance(formats, str) or formats else ()
        folder = Path(folder)
        check_writable(folder)
        with FolderLock(folder, wait):  # re-entrant: a scan writes its report through here
            remove_stale_temporaries(folder)
            self.written = []
            if "json" in wanted:  # first: results.json never names a file that is not there
                if self.pixel_npz is not None:
                    npz = folder / "pixel-adversaries.npz"
                    self.written.append(write_bytes(npz, self.pixel_npz))
                self.written.append(results_mod.write(folder / "results.json", self._results))
            self.written = self._write_reports(folder, wanted) + self.written
        return self.written

    def _write_reports(self, folder: Path, wanted: tuple[str, ...]) -> list[Path]:
        from . import report
        from .errors import OutputError

        if self.generator is None:
            raise OptionError("this audit has no generator to draw the report with: load it with "
                              "auditor.load(path, generator=...)")
        reports = tuple(f for f in wanted if f != "json")
        try:
            return list(report.write_outputs(self._results, self.generator, folder, reports))
        except OutputError as err:  # the others are written: say which
            self.written = [Path(p) for p in err.written] + self.written
            raise

    # --- display ------------------------------------------------------------------------
    def __repr__(self) -> str:
        from .gallery import ranked

        r = self._results
        unfinished = ("" if self.complete else
                      f", UNFINISHED ({r['progress']['done']} of {r['progress']['total']})")
        head = (f"<Audit: {len(self.names)} model(s) on {self.n_images} images, generator "
                f"{r['generator']['name']}, {r['search']['algorithm']} search, "
                f"seed {r['search']['seed']}{unfinished}>")
        rows = [("model", "mean Δz [95% CI]", "median Δz", "censored", "rank [95% CI]")]
        models = self.models
        for name in ranked(r):
            m = models[name]
            ci = (f" [{m.mean_delta_z_ci[0]:.2f}, {m.mean_delta_z_ci[1]:.2f}]"
                  if m.mean_delta_z_ci else "")
            rank_ci = f" [{m.rank_ci[0]}–{m.rank_ci[1]}]" if m.rank_ci else ""
            rank = "–" if m.rank is None else f"{m.rank:g}" + rank_ci
            rows.append((name + (" (degenerate)" if m.degenerate else ""),
                         _fmt(m.mean_delta_z) + ci,
                         _fmt(m.median_delta_z), str(m.n_censored), rank))
        widths = [max(len(row[k]) for row in rows) for k in range(len(rows[0]))]
        lines = [head] + ["  " + "  ".join(c.ljust(w) if k == 0 else c.rjust(w) for k, (c, w) in
                                           enumerate(zip(row, widths))) for row in rows]
        if len(self.names) > 1:
            lines.append(f"  ranking (p < {r.get('alpha', 0.05):g}, Holm): "
                         + " > ".join(" = ".join(g) for g in self.ranking))
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        """Jupyter: the verdict, the summary with intervals, the ranking and a small gallery."""
        from .report import render_notebook

        return render_notebook(self._results, self.generator)


def load(path: str | os.PathLike, generator: str | None = None, device: str = "cpu") -> Audit:
    """An :class:`Audit` from a results.json written by a scan; ``generator`` where the scan's
    has moved."""
    from . import report, results
    from .generators import load_generator

    path = Path(path)
    res = results.read(path)
    bundle = generator or res["generator"].get("path") or res["generator"]["name"]
    gen = load_generator(bundle, device=device)
    report.check_generator(res, gen)
    pixel, npz = res.get("pixel"), None
    if pixel and pixel.get("adversaries_file"):
        path_npz = path.parent / pixel["adversaries_file"]
        results.read_pixel_npz(path_npz, pixel.get("adversaries_sha256"))  # the scan's own
        npz = path_npz.read_bytes()
    return Audit(res, gen, pixel_npz=npz)


def _fmt(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}"
