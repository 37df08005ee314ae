"""Pixel-space robustness, label-free: the smallest perturbation of an image's pixels that
flips a model's label, measured in L2 or Linf (eps), beside the latent search's dz.

x is the image as the generator and the models see it (float32 in [0, 1]); every candidate
x' stays in [0, 1]. The flip is judged on the label the model outputs, against its own label of
x; scores only steer. eps is the measured norm of the closest adversary found, so like dz it is
an upper bound; a pair with no adversary within ``max_eps`` and the query budget is censored.

Attacks (one module each, in :data:`REGISTRY`): white box, where every model gives gradients
(TorchScript files and torch modules with class scores; see :mod:`.gradients`), ``fmn`` (Fast
Minimum-Norm) and ``deepfool``; black box, ``nattack`` (scores: NATTACK) and ``hsj`` (labels:
HopSkipJump). ``auto`` is fmn when every model gives gradients, else nattack when every model gives
scores, else hsj for all, so one scan's eps values come from one attack family and stay
comparable. A black-box attack counts queries against ``queries`` (its budget per image and
model); a white-box attack counts forward and backward passes, one per image each, against it.

Every (image, model) pair has its own random stream keyed by the seed and the image's index, so
a pair's result does not depend on the other images, the other models or the batching (for the
white-box attacks, which use no randomness, up to the float rounding of a batched forward pass).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np

from ..errors import OptionError
from ..registry import Registry
from . import gradients
from .common import Oracle, distance
from .deepfool import DeepFool
from .fmn import FastMinimumNorm
from .hsj import HopSkipJump
from .nattack import NAttack


@runtime_checkable
class PixelAttack(Protocol):
    """One pixel attack (a module each, a line in REGISTRY): ``run`` searches every pair of the
    oracle's batch, recording each adversary through the oracle (which counts the queries, or
    the forward and backward passes, against the budget and keeps the closest flip)."""

    needs_scores: bool  # the oracle must read class scores, not only labels

    def run(self, oracle, rngs: list[np.random.Generator], norm: str) -> None: ...


@dataclass(frozen=True)
class AttackInfo:
    title: str  # how the terminal and the report name it
    paper: str
    box: str  # "white": gradients; "black": scores or labels only
    needs: str  # "gradients", "scores" or "labels"
    make: Callable[[float], PixelAttack]  # the cap (max eps) -> the attack


REGISTRY: Registry[AttackInfo] = Registry("pixel attack")  # the attacks, in --pixel-attack's order
REGISTRY.register("fmn")(AttackInfo("FMN", "Pintor, Roli, Brendel & Biggio, NeurIPS 2021", "white",
                                    "gradients", lambda cap: FastMinimumNorm()))
REGISTRY.register("deepfool")(AttackInfo(
    "DeepFool", "Moosavi-Dezfooli, Fawzi & Frossard, CVPR 2016", "white", "gradients",
    lambda cap: DeepFool()))
REGISTRY.register("nattack")(AttackInfo("NATTACK", "Li, Li, Wang, Zhang & Gong, ICML 2019", "black",
                                        "scores", NAttack))
REGISTRY.register("hsj")(AttackInfo("HopSkipJump", "Chen, Jordan & Wainwright, IEEE S&P 2020",
                                    "black", "labels", lambda cap: HopSkipJump()))
ATTACKS = ("auto", *REGISTRY, "none")
NORMS = ("l2", "linf")
DEFAULT_MAX = {"l2": 10.0, "linf": 0.5}
DEFAULT_QUERIES = 2000
# stable shares reported at these eps
LEVELS = {"l2": (0.5, 1.0, 2.0, 3.0), "linf": (0.05, 0.1, 0.2, 0.3)}
BATCH = 64  # images attacked together
STREAM = 2**61  # offset of the pixel attacks' random streams (the latent search uses 0, 1, 2, ...)


@dataclass(frozen=True)
class PixelSettings:
    attack: str = "none"  # auto, fmn, deepfool, nattack, hsj, none
    norm: str = "l2"
    max_eps: float | None = None  # censoring cap; None: DEFAULT_MAX[norm]
    # budget per image and model: queries (black box) or passes (white box)
    queries: int = DEFAULT_QUERIES
    seed: int = 0

    def validate(self) -> None:
        if self.attack not in ATTACKS:
            raise OptionError(f"--pixel-attack must be one of {', '.join(ATTACKS)}, "
                              f"got {self.attack!r}")
        if self.norm not in NORMS:
            raise OptionError(f"--pixel-norm must be l2 or linf, got {self.norm!r}")
        if self.max_eps is not None and not (np.isfinite(self.max_eps) and self.max_eps > 0):
            raise OptionError(f"--pixel-max must be a positive number, got {self.max_eps}")
        if self.norm == "linf" and self.max_eps is not None and self.max_eps > 1:
            raise OptionError(f"--pixel-max {self.max_eps} is above 1, the largest Linf distance "
                              "between two images in [0, 1]; pass a value in (0, 1]")
        if self.queries < 50:
            raise OptionError("--pixel-queries must be 50 or more (a binary search alone takes "
                              f"~15), got {self.queries}")

    @property
    def cap(self) -> float:
        return self.max_eps if self.max_eps is not None else DEFAULT_MAX[self.norm]


def choose_attack(requested: str, classifiers: Sequence,
                  shape: tuple[int, ...] | None = None) -> str:
    """``auto`` -> fmn when every model gives gradients, else nattack when every model gives
    scores, else hsj; an attack a model cannot take (fmn or deepfool without gradients, nattack
    without scores) is an :class:`OptionError` naming the ones it can. With ``shape`` (C, H, W),
    a backward pass through each model is tried first."""
    if requested in ("auto", "fmn", "deepfool"):
        blind = without_gradients(classifiers, shape)
        if requested == "auto" and not blind:
            return "fmn"
        if requested != "auto" and blind:
            name, reason = next(iter(blind.items()))
            raise OptionError(f"--pixel-attack {requested} needs gradients, and {name} {reason}; "
                              "use --pixel-attack nattack (class scores) or hsj (labels only), or "
                              "auto")
        if requested != "auto":
            return requested
    labels_only = [c.name for c in classifiers if not c.has_scores]
    if requested == "auto":
        return "hsj" if labels_only else "nattack"
    if requested == "nattack" and labels_only:
        raise OptionError(f"--pixel-attack nattack needs class scores; {', '.join(labels_only)} "
                          "give(s) labels only: use --pixel-attack hsj (labels only) or auto")
    return requested


def without_gradients(classifiers: Sequence,
                      shape: tuple[int, ...] | None = None) -> dict[str, str]:
    """The models that give no gradients, each with why not (with ``shape``, after trying a
    backward pass through the others)."""
    blind = {}
    for c in classifiers:
        reason = gradients.why_not(c) or (gradients.probe(c, shape) if shape is not None else None)
        if reason:
            blind[c.label] = reason
    return blind


def describe(attack: str, settings: PixelSettings) -> str:
    """One line for the scan's log: the attack, its paper, white or black box, norm, cap, budget."""
    info = REGISTRY[attack]
    unit = "forward/backward passes" if info.box == "white" else "queries"
    return (f"{attack} ({info.title}, {info.paper}; {info.box} box; {settings.norm}, eps up to "
            f"{settings.cap:g}, {settings.queries} {unit} per image and model)")


@dataclass
class PixelResult:
    """One model's pixel attack over N images."""

    eps: np.ndarray  # (N,) measured norm of the closest adversary; NaN: censored (or not attacked)
    adversary: np.ndarray  # (N, C, H, W) float32, NaN where none
    adversary_prediction: np.ndarray  # (N,) -1 where none
    queries: np.ndarray  # (N,) int64

    @property
    def censored(self) -> np.ndarray:
        return np.isnan(self.eps)


@dataclass
class PixelOutput:
    attack: str
    norm: str
    cap: float
    budget: int
    results: dict[str, PixelResult]
    n_done: int = 0
    seconds: float = 0.0
    extra: dict = field(default_factory=dict)


def empty_output(n: int, shape: tuple[int, ...], names: Sequence[str], attack: str,
                 settings: PixelSettings) -> PixelOutput:
    return PixelOutput(attack, settings.norm, settings.cap, settings.queries, {
        name: PixelResult(np.full(n, np.nan), np.full((n, *shape), np.nan, dtype=np.float32),
                          np.full(n, -1, dtype=np.int64), np.zeros(n, dtype=np.int64))
        for name in names})


def pixel_attack(classifiers: Sequence, images: np.ndarray, predictions: dict[str, np.ndarray],
                 settings: PixelSettings, attack: str, resume: PixelOutput | None = None,
                 on_chunk: Callable[[PixelOutput], None] | None = None,
                 progress: Callable[[int], None] | None = None) -> PixelOutput:
    """Attack every image under every model. ``predictions``: each model's label of each clean
    image (the label to flip). ``attack`` is one of :data:`REGISTRY` (see :func:`choose_attack`)."""
    n, shape = len(images), images.shape[1:]
    names = [c.name for c in classifiers]
    out = resume if resume is not None else empty_output(n, shape, names, attack, settings)
    if progress and out.n_done:
        progress(out.n_done * len(classifiers))
    started = time.perf_counter() - out.seconds
    method = REGISTRY[attack].make(settings.cap)
    oracle_type = gradients.GradientOracle if REGISTRY[attack].box == "white" else Oracle
    for start in range(out.n_done, n, BATCH):
        stop = min(start + BATCH, n)
        x = images[start:stop].reshape(stop - start, -1).astype(np.float32)
        for clf in classifiers:
            rngs = [np.random.default_rng([settings.seed, STREAM + i]) for i in range(start, stop)]
            oracle = oracle_type(clf, x, predictions[clf.name][start:stop], shape,
                                 settings.queries, settings.norm, scores=method.needs_scores)
            method.run(oracle, rngs, settings.norm)
            oracle.finish()  # white box: every adversary kept flips the model's own label
            res = out.results[clf.name]
            within = oracle.best <= settings.cap
            # to 6 decimals as results.json keeps it (so a resumed scan's figures equal an
            # uninterrupted one's), rounded up: eps stays an upper bound on the saved adversary's
            # measured distance
            best = np.asarray(oracle.best, dtype=np.float64)
            res.eps[start:stop] = np.where(within, np.ceil(best * 1e6) / 1e6, np.nan)
            res.adversary[start:stop] = np.where(within[:, None], oracle.best_x,
                                                 np.nan).reshape(stop - start, *shape)
            res.adversary_prediction[start:stop] = np.where(within, oracle.best_label, -1)
            res.queries[start:stop] = oracle.queries
            if progress:
                progress(stop - start)
        out.n_done = stop
        out.seconds = time.perf_counter() - started
        if on_chunk:
            on_chunk(out)
    return out


__all__ = ["ATTACKS", "LEVELS", "NORMS", "REGISTRY", "PixelAttack", "PixelOutput", "PixelResult",
           "PixelSettings", "choose_attack", "describe", "distance", "pixel_attack"]
