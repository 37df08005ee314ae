"""DeepFool (Moosavi-Dezfooli, Fawzi & Frossard, "DeepFool: a simple and accurate method to fool
deep neural networks", CVPR 2016): white box, L2 and Linf.

The model is linearised around the current point x_i: with f_k = s_k - s_y and w_k = grad s_k -
grad s_y (y the model's own label of x), the closest class boundary of the linear model is
l = argmin_{k != y} |f_k| / ||w_k||_q (q = 2 for L2, 1 for Linf) and the step onto it is
    r_i = |f_l| / ||w_l||_2^2 w_l (L2)   or   |f_l| / ||w_l||_1 sign(w_l) (Linf).
The steps add up to r = sum r_i and x_{i+1} = clip(x + (1 + overshoot) r, 0, 1) until the label
flips or MAX_ITER steps; overshoot is the paper's 0.02. Each step costs one forward and K
backward passes (the gradient of every class score). The closest flip is then tightened by a
short binary search towards x (the overshoot is not part of eps).
"""

from __future__ import annotations

import numpy as np
import torch

from .gradients import REFINE_STEPS

MAX_ITER = 50
OVERSHOOT = 0.02


class DeepFool:
    name = "deepfool"
    white_box = True
    needs_scores = True

    def __init__(self, max_iter: int = MAX_ITER) -> None:
        self.max_iter = max_iter

    def run(self, oracle, rngs: list[np.random.Generator], norm: str) -> None:
        x = oracle.xt  # (n, d)
        n = len(x)
        total = torch.zeros_like(x)  # r, (n, d)
        current = x.clone()
        active = np.ones(n, dtype=bool)
        k = int(oracle.clf.n_outputs or 10)
        for _ in range(self.max_iter):
            rows = np.flatnonzero(active)
            rows = rows[oracle.left(rows) >= 1 + k + REFINE_STEPS]
            if not len(rows):
                break
            t = torch.from_numpy(rows).to(x.device)
            s, jac = oracle.jacobian(rows, current[t])  # (r, K), (r, K, d)
            y = oracle.yt[t]
            going = (s.argmax(1) == y).cpu().numpy()
            active[rows[~going]] = False
            if not going.any():
                break
            keep = torch.from_numpy(np.flatnonzero(going)).to(x.device)
            rows, t, s, jac, y = rows[going], t[keep], s[keep], jac[keep], y[keep]
            r = _step(s, jac, y, norm)
            total[t] += r
            current[t] = (x[t] + (1 + OVERSHOOT) * total[t]).clamp(0.0, 1.0)
        oracle.refine(np.arange(n))


def _step(s: torch.Tensor, jac: torch.Tensor, y: torch.Tensor, norm: str) -> torch.Tensor:
    """The step (r, d) onto the closest boundary of the model linearised at the current points."""
    idx = torch.arange(len(s), device=s.device)
    f = s - s[idx, y][:, None]  # (r, K)
    w = jac - jac[idx, y][:, None]  # (r, K, d)
    length = (w.norm(dim=2) if norm == "l2" else w.abs().sum(dim=2)).clamp_min(1e-12)
    ratio = f.abs() / length
    ratio[idx, y] = float("inf")
    closest = ratio.argmin(dim=1)
    fl, wl, nl = f[idx, closest].abs() + 1e-4, w[idx, closest], length[idx, closest]
    if norm == "l2":
        return (fl / nl**2)[:, None] * wl
    return (fl / nl)[:, None] * wl.sign()
