"""The reference classifier's networks: a strided CNN for the grayscale bundles and a narrow
ResNet-9 for the photo bundles, and running one over images in batches."""

from __future__ import annotations

import numpy as np

REFERENCE_FILE = "reference.npz"
# conv5x5/2 (16) conv5x5/2 (32) fc(128) fc(K). R labels every decode of the error search, so its
# cost is the scan's: strided convolutions instead of pooled ones cost 8x less per image on CPU
# (81 against 670 us in a 4,096 batch, 2 cores; the MLP decoder: 23 us), at no measured loss of
# accuracy.
ARCHITECTURE = "cnn-strided-v1"
# The photo bundles' R: a ResNet-9 (Page 2018's layout: conv, conv+pool, residual block, conv+pool,
# conv+pool, residual block, global max pool) at a quarter of its width (16-32-64-128 channels),
# batch-normalised. A 2-layer strided CNN reached 54% on CIFAR-10 where the models it judges reach
# 81-84%; this one is trained with crops and flips by scripts/cifar10_reference.py.
RESNET = "resnet9-w16-v1"
ARCHITECTURES = (ARCHITECTURE, RESNET)


def build_reference(image_shape: tuple[int, int, int], n_classes: int,
                    architecture: str = ARCHITECTURE):
    """R's untrained network for images of ``image_shape`` (C, H, W) and ``n_classes``."""
    from torch import nn

    c, h, w = image_shape
    if architecture == RESNET:
        return _resnet9(c, n_classes, 16)
    return nn.Sequential(
        nn.Conv2d(c, 16, 5, stride=2, padding=2), nn.ReLU(),
        nn.Conv2d(16, 32, 5, stride=2, padding=2), nn.ReLU(),
        nn.Flatten(), nn.Linear(32 * ((h + 3) // 4) * ((w + 3) // 4), 128), nn.ReLU(),
        nn.Dropout(0.3), nn.Linear(128, n_classes),
    )


def _resnet9(channels: int, n_classes: int, width: int):
    from torch import nn

    def conv(ci: int, co: int) -> nn.Sequential:
        return nn.Sequential(nn.Conv2d(ci, co, 3, padding=1, bias=False), nn.BatchNorm2d(co),
                             nn.ReLU())

    class Residual(nn.Module):
        def __init__(self, c: int):
            super().__init__()
            self.a, self.b = conv(c, c), conv(c, c)

        def forward(self, x):
            return x + self.b(self.a(x))

    w = width
    return nn.Sequential(
        conv(channels, w), conv(w, 2 * w), nn.MaxPool2d(2), Residual(2 * w),
        conv(2 * w, 4 * w), nn.MaxPool2d(2), conv(4 * w, 8 * w), nn.MaxPool2d(2), Residual(8 * w),
        nn.AdaptiveMaxPool2d(1), nn.Flatten(), nn.Linear(8 * w, n_classes),
    )


def predict_with(net, images: np.ndarray, device: str = "cpu", batch: int = 4096) -> np.ndarray:
    """The network's labels (N,) of images (N, C, H, W), in batches."""
    import torch

    out = []
    with torch.inference_mode():
        for start in range(0, len(images), batch):
            x = torch.from_numpy(np.ascontiguousarray(images[start : start + batch])).to(device)
            out.append(net(x).argmax(1).cpu().numpy())
    return np.concatenate(out) if out else np.zeros(0, dtype=np.int64)


def logits_with(net, images: np.ndarray, device: str = "cpu", batch: int = 4096) -> np.ndarray:
    """The network's scores (N, K) of images (N, C, H, W), in batches."""
    import torch

    out = []
    with torch.inference_mode():
        for start in range(0, len(images), batch):
            x = torch.from_numpy(np.ascontiguousarray(images[start : start + batch])).to(device)
            out.append(net(x).float().cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0, 0), dtype=np.float32)
