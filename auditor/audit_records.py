"""The optional parts of a scan as typed objects: the natural-error check of the generator's
reference classifier R, how natural the adversaries are, and the pixel-space view. Read from
results.json by :class:`~auditor.audit.ModelSummary` and :class:`~auditor.audit.Audit`, which
hand them out; nothing here computes a figure.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Semantics:
    """What R says of one model's natural adversaries (shares of the images; None: no data)."""

    kept_class: float | None  # the adversary keeps R's class: a natural error of the model
    changed_class: float | None  # the adversary changes R's class too: no error shown
    disagrees_with_reference: float | None  # the model already disagrees with R on the image

    @classmethod
    def from_record(cls, record: dict[str, Any] | None) -> Semantics | None:
        if not record:
            return None
        return cls(record.get("kept_class"), record.get("changed_class"),
                   record.get("disagrees_with_reference"))


@dataclass(frozen=True)
class ReferenceRecord:
    """The generator's reference classifier R, as the scan used it."""

    accuracy: float | None  # on the labelled hold-out its bundle records; None where unmeasured
    class_names: tuple[str, ...]
    record: dict[str, Any] = field(default_factory=dict, repr=False)  # results.json's record

    @classmethod
    def from_record(cls, record: dict[str, Any] | None) -> ReferenceRecord | None:
        if not record:
            return None
        return cls(record.get("accuracy"), tuple(record.get("class_names") or ()), record)


@dataclass(frozen=True)
class PixelFigures:
    """One model's pixel-space figures: the smallest perturbation ε that flips its label."""

    median_eps: float | None  # censored images count as +inf
    median_eps_ci: tuple[float, float] | None  # 95% bootstrap interval over images
    n_censored: int  # no adversary within the attack's cap
    stable: dict[str, float | None]  # per level (as "0.5"): share of images with ε above it
    spearman_dz_images: float | None  # ρ(Δz, ε) over images
    natural_out_of_domain: float | None  # natural adversaries outside the images' domain
    pixel_out_of_domain: float | None  # pixel adversaries outside it
    pixel_repaired: float | None  # pixel adversaries whose label G(I(·)) puts back
    natural_repaired: float | None  # the same for natural adversaries (a control)
    has_naturalness: bool  # the scan measured the out-of-domain shares

    @classmethod
    def from_record(cls, p: dict[str, Any] | None) -> PixelFigures | None:
        if not p:
            return None
        nat, rep = p.get("naturalness") or {}, p.get("repair") or {}
        ci = p.get("median_eps_ci")
        return cls(
            median_eps=p["median_eps"], median_eps_ci=None if ci is None else tuple(ci),
            n_censored=p["n_censored"], stable=dict(p["stable"]),
            spearman_dz_images=p.get("spearman_dz_images"),
            natural_out_of_domain=(nat.get("natural") or {}).get("out_of_domain"),
            pixel_out_of_domain=(nat.get("pixel") or {}).get("out_of_domain"),
            pixel_repaired=(rep.get("pixel") or {}).get("repaired"),
            natural_repaired=(rep.get("natural") or {}).get("repaired"),
            has_naturalness=bool(p.get("naturalness")),
        )


@dataclass(frozen=True)
class PixelView:
    """The scan's pixel attack and its ranking by ε (per model: :class:`PixelFigures`)."""

    attack: str  # its key: fmn, deepfool, nattack, hsj
    title: str  # its name, e.g. "Fast Minimum-Norm"
    paper: str | None
    norm: str  # l2 or linf
    box: str  # white or black
    budget_unit: str  # "forward/backward passes" or "queries"
    queries_budget: int  # per image and model
    levels: tuple[float, ...]  # the ε of the "stable" shares
    ranking: list[list[str]]  # groups by ε, most robust first
    spearman_dz_models: float | None  # ρ(mean Δz, mean ε) over models

    @classmethod
    def from_record(cls, px: dict[str, Any] | None) -> PixelView | None:
        if not px:
            return None
        title = px.get("attack_name") or ("NATTACK" if px["attack"] == "nattack" else "HopSkipJump")
        passes = px.get("budget_unit") == "passes"
        return cls(
            attack=px["attack"], title=title, paper=px.get("paper") or None, norm=px["norm"],
            box=px.get("box", "black"),
            budget_unit="forward/backward passes" if passes else "queries",
            queries_budget=px["queries_budget"], levels=tuple(px["levels"]),
            ranking=[list(g) for g in px["ranking"]],
            spearman_dz_models=px.get("spearman_dz_models"),
        )
