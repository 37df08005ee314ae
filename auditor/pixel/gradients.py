"""The white-box view of a model: class scores and their gradients with respect to the pixels,
for the attacks that use them (``fmn``, ``deepfool``).

Gradients come from TorchScript files and ``torch.nn.Module``s that give class scores (N, K).
The model's input preparation (:meth:`auditor.models.InputContract.prepare`: resize, channel
replication, input scale, normalisation, layout) is redone in torch by :func:`prepare`, so the
gradients flow through it to the generator's pixels. ONNX files are not converted (the one
converter, onnx2torch, needs torchvision and has not been released since 2024), scikit-learn
exports and plain functions have no gradients: those models get the black-box attacks.

:class:`GradientOracle` counts every pass per image — a forward over one image is one pass, a
backward over one image one more — against the pair's budget, as :class:`~.common.Oracle` counts
queries, and keeps each pair's closest adversary. The flip is judged on the scores' argmax during
the attack; :meth:`GradientOracle.finish` then asks the model itself (its ``predict``, the path the
scan's labels come from) about every saved adversary, and keeps only those that flip it.
"""

from __future__ import annotations

import numpy as np
import torch

from ..errors import ModelError, first_line
from .common import distance, project

WHITE_BOX_FORMATS = ("torchscript", "torch.nn.Module")
RESERVE = 4  # passes kept back per pair for the final check (1) and its overshoots (3)
OVERSHOOT = (1.001, 1.01, 1.1)  # where the model's own label disagrees with the scores' argmax
REFINE_STEPS = 10  # binary search from x towards the closest adversary: 1/1024 of the way


def why_not(clf) -> str | None:
    """None where ``clf`` gives gradients, else why not (a phrase for a one-line error)."""
    fmt = clf.format
    if fmt in WHITE_BOX_FORMATS and clf.gradient_module is not None:
        if not clf.has_scores:
            return "gives labels only, no class scores to differentiate"
        contract = clf.contract
        if contract.batch is not None or np.dtype(contract.dtype) != np.float32:
            return "takes a fixed batch or a non-float32 input"
        return None
    if fmt.startswith("onnx"):
        return ("is an ONNX model: auditor takes gradients only from TorchScript files and "
                "torch.nn.Modules")
    return f"is a {fmt or type(clf).__name__} model, a black box without gradients"


def probe(clf, shape: tuple[int, ...]) -> str | None:
    """None where a backward pass from ``clf``'s scores reaches the pixels of two grey images,
    else why not."""
    x = torch.full((2, int(np.prod(shape))), 0.5, device=clf.device, requires_grad=True)
    try:
        s = scores(clf, x, shape)
        (g,) = torch.autograd.grad(s[:, 0].sum(), x, allow_unused=True)
    except Exception as err:  # the model's own code: TorchScript raises RuntimeError and more
        return f"fails on a backward pass ({first_line(err, 160)})"
    if g is None or not torch.isfinite(g).all():
        return "gives scores with no gradient with respect to its input"
    return None


def prepare(contract, x: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) in [0, 1] -> the model's input, as InputContract.prepare but in torch."""
    if contract.size is not None and tuple(x.shape[2:]) != tuple(contract.size):
        shrink = contract.size[0] < x.shape[2] or contract.size[1] < x.shape[3]
        x = torch.nn.functional.interpolate(x, size=contract.size, mode="bilinear",
                                            align_corners=False, antialias=shrink).clamp(0.0, 1.0)
    if x.shape[1] != contract.channels:
        x = x.repeat(1, contract.channels, 1, 1) if x.shape[1] == 1 else x.mean(1, keepdim=True)
    if contract.input_scale != 1.0:
        x = x * contract.input_scale
    if contract.mean != (0.0,) or contract.std != (1.0,):
        mean = torch.tensor(contract.mean, dtype=x.dtype, device=x.device).reshape(1, -1, 1, 1)
        std = torch.tensor(contract.std, dtype=x.dtype, device=x.device).reshape(1, -1, 1, 1)
        x = (x - mean) / std
    if contract.layout == "nhwc":
        x = x.permute(0, 2, 3, 1)
    elif contract.layout == "nhw":
        x = x[:, 0]
    elif contract.layout == "flat":
        x = x.reshape(len(x), -1)
    return x.contiguous()


def scores(clf, x: torch.Tensor, shape: tuple[int, ...]) -> torch.Tensor:
    """Log-scores (r, K) of flattened images ``x`` (r, d), differentiable: logits as they are
    (their margins are log-softmax's), probabilities as their log."""
    module = clf.gradient_module  # the unfrozen module: frozen ones have no gradients
    training = module.training
    module.eval()
    try:
        out = module(prepare(clf.contract, x.reshape(len(x), *shape)))
    finally:
        module.train(training)
    items = (out if isinstance(out, (tuple, list)) else list(out.values()) if isinstance(out, dict)
             else [out])
    found = [t for t in items if isinstance(t, torch.Tensor) and t.ndim == 2
             and t.is_floating_point()
             and t.shape[1] > 1]
    if not found:
        raise ModelError(f"{clf.label}: no class scores (N, K) among its outputs to take gradients "
                         "of")
    s = found[0].float()
    with torch.no_grad():
        probabilities = (bool(s.min() >= 0)
                         and bool(torch.allclose(s.sum(1), torch.ones_like(s[:, 0]), atol=1e-3)))
    return torch.log(s.clamp_min(1e-12)) if probabilities else s


class GradientOracle:
    """One model's white box for a batch of images (flattened, float32 in [0, 1]); the
    counterpart of :class:`~.common.Oracle`. ``rows`` name pairs; within one call each pair
    appears at most once."""

    def __init__(self, classifier, x: np.ndarray, labels: np.ndarray, shape: tuple[int, ...],
                 budget: int, norm: str, scores: bool = True) -> None:
        self.clf, self.x, self.labels, self.shape = classifier, x, labels, shape
        self.budget, self.norm = budget, norm
        n = len(x)
        self.queries = np.zeros(n, dtype=np.int64)  # passes
        self.best = np.full(n, np.inf)
        self.best_x = np.full_like(x, np.nan)
        self.best_label = np.full(n, -1, dtype=np.int64)
        self.device = classifier.device
        self.xt = torch.from_numpy(np.ascontiguousarray(x)).to(self.device)  # (n, d)
        self.yt = torch.from_numpy(np.asarray(labels, dtype=np.int64)).to(self.device)

    def left(self, rows: np.ndarray) -> np.ndarray:
        """Passes each pair of ``rows`` may still spend on the attack (the final check's are kept
        back)."""
        return self.budget - RESERVE - self.queries[rows]

    def margin_grad(self, rows: np.ndarray,
                    images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The margin s_y - max_{j != y} s_j at ``images`` (r, d) (below 0: adversarial) and its
        gradient (r, d); 2 passes per image."""
        images = images.detach().requires_grad_(True)
        with torch.enable_grad():
            s = scores(self.clf, images, self.shape)
            margin = class_margin(s, self.yt[rows])
            (grad,) = torch.autograd.grad(margin.sum(), images)
        self.queries[rows] += 2
        self._record(rows, images.detach(), s.detach().argmax(1))
        return margin.detach(), grad

    def jacobian(self, rows: np.ndarray, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Log-scores (r, K) at ``images`` (r, d) and their gradients (r, K, d); 1 + K passes per
        image."""
        images = images.detach().requires_grad_(True)
        with torch.enable_grad():
            s = scores(self.clf, images, self.shape)
            k = s.shape[1]
            grads = [torch.autograd.grad(s[:, j].sum(), images, retain_graph=j < k - 1)[0]
                     for j in range(k)]
        self.queries[rows] += 1 + k
        self._record(rows, images.detach(), s.detach().argmax(1))
        return s.detach(), torch.stack(grads, dim=1)

    def adversarial(self, rows: np.ndarray, images: torch.Tensor) -> np.ndarray:
        """Whether each image flips its pair (by the scores' argmax); 1 pass per image."""
        with torch.no_grad():
            labels = scores(self.clf, images, self.shape).argmax(1)
        self.queries[rows] += 1
        self._record(rows, images, labels)
        return (labels != self.yt[rows]).cpu().numpy()

    def _record(self, rows: np.ndarray, images: torch.Tensor, labels: torch.Tensor) -> None:
        hit = np.flatnonzero((labels != self.yt[rows]).cpu().numpy())
        if not len(hit):
            return
        found = images[hit].float().cpu().numpy()
        owners = rows[hit]
        dist = distance(found - self.x[owners], self.norm)
        closer = dist < self.best[owners]
        owners, found = owners[closer], found[closer]
        self.best[owners], self.best_x[owners] = dist[closer], found
        self.best_label[owners] = labels[hit][closer].cpu().numpy()

    def refine(self, rows: np.ndarray, steps: int = REFINE_STEPS) -> None:
        """Binary search from each pair's clean image towards its closest adversary (L2: along
        the segment, Linf: the radius of the ball): forward passes only."""
        rows = rows[np.isfinite(self.best[rows])]
        x, adv = self.x[rows], self.best_x[rows].copy()
        lo = np.zeros(len(rows))
        hi = (np.ones(len(rows)) if self.norm == "l2"
              else np.abs(adv - x).max(axis=1).astype(np.float64))
        for _ in range(steps):
            k = np.flatnonzero(self.left(rows) >= 1)
            if not len(k):
                return
            mid = (lo[k] + hi[k]) / 2
            hit = self.adversarial(
                rows[k], torch.from_numpy(project(x[k], adv[k], mid, self.norm)).to(self.device))
            hi[k[hit]], lo[k[~hit]] = mid[hit], mid[~hit]

    def finish(self) -> None:
        """Keep only adversaries that flip the model's own label (its ``predict``): where one does
        not (the scores' argmax and the label disagree at the boundary), try it pushed a little
        further from x; where none of those flips either, the pair has no adversary."""
        rows = np.flatnonzero(np.isfinite(self.best))
        if not len(rows):
            return
        x, delta = self.x[rows], self.best_x[rows] - self.x[rows]
        ok = np.zeros(len(rows), dtype=bool)
        for factor in (1.0, *OVERSHOOT):
            todo = np.flatnonzero(~ok)
            if not len(todo):
                break
            candidate = (self.best_x[rows[todo]] if factor == 1.0 else
                         np.clip(x[todo] + np.float32(factor) * delta[todo], 0.0, 1.0)
                         .astype(np.float32))
            labels = self.clf.predict(candidate.reshape(len(todo), *self.shape))
            self.queries[rows[todo]] += 1
            flip = labels != self.labels[rows[todo]]
            if not flip.any():
                continue
            done, pairs = todo[flip], rows[todo[flip]]
            ok[done] = True
            self.best_x[pairs], self.best_label[pairs] = candidate[flip], labels[flip]
            self.best[pairs] = distance(candidate[flip] - self.x[pairs], self.norm)
        failed = rows[~ok]
        self.best[failed], self.best_x[failed], self.best_label[failed] = np.inf, np.nan, -1


def class_margin(s: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """s_y - max_{j != y} s_j, (r,) from log-scores (r, K)."""
    own = s.gather(1, y[:, None])[:, 0]
    others = s.scatter(1, y[:, None], float("-inf"))
    return own - others.max(dim=1).values


def dual(g: torch.Tensor, norm: str) -> torch.Tensor:
    """The dual norm of each row of ``g`` (L2: L2, Linf: L1), kept away from 0."""
    return (g.norm(dim=1) if norm == "l2" else g.abs().sum(dim=1)).clamp_min(1e-12)


def size(delta: torch.Tensor, norm: str) -> torch.Tensor:
    """Row-wise L2 or Linf norm of (r, d) perturbations."""
    return delta.norm(dim=1) if norm == "l2" else delta.abs().amax(dim=1)
