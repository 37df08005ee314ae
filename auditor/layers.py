"""Layers of the bundled generators that torch has no thread-count-independent version of."""

from __future__ import annotations

import torch
from torch import nn


class Sigmoid(nn.Module):
    """nn.Sigmoid with the same bits for any thread count. On several threads torch splits an
    elementwise op into one chunk per thread, and each chunk's last few elements take the scalar
    code path instead of the vectorised one; for sigmoid's exp the two round differently, so the
    same batch decoded on 1 and 2 threads differed by 1e-13..3e-8 (odd batch sizes), enough to
    move a Δz in its 5th digit and a scan on Ray workers (fewer threads each) off the one-process
    result. On a CPU this runs the sigmoid on one thread (it is memory-bound: 3.5 ms for 3,400
    images either way here), so its split depends only on the batch. No parameters: bundles
    saved with nn.Sigmoid load unchanged."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        threads = torch.get_num_threads()
        if x.device.type != "cpu" or threads == 1:
            return torch.sigmoid(x)
        torch.set_num_threads(1)
        try:
            return torch.sigmoid(x)
        finally:
            torch.set_num_threads(threads)
