"""A model's input contract: how the generator's images (N, C, H, W) in [0, 1] become the
model's input (layout, fixed or dynamic batch, channels, size, scale, normalisation), the
user's options that set it, and reading it from a declared input shape.

Layouts: (N, C, H, W), (N, H, W, C), (N, H, W) or flattened (N, C*H*W); a model fixed at batch
B is fed in chunks of B; pixels in [0, 1] times ``input_scale``, then ``(x - mean) / std``; a
model of another image size gets bilinear resizes of the candidates.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import ModelError

LAYOUTS = ("nchw", "nhwc", "nhw", "flat")


@dataclass
class InputContract:
    """How the generator's images (N, C, H, W) in [0, 1] are turned into the model's input."""

    layout: str  # one of LAYOUTS
    batch: int | None  # fixed batch size, or None for a dynamic batch
    channels: int  # channels the model takes (1 -> 3 replicates a grayscale image)
    input_scale: float = 1.0
    mean: tuple[float, ...] = (0.0,)
    std: tuple[float, ...] = (1.0,)
    dtype: Any = np.float32
    # (H, W) the model takes where it differs from the generator's images
    size: tuple[int, int] | None = None
    resample: str = "bilinear"  # the resize's filter: bilinear, bicubic or nearest
    crop: tuple[int, int] | None = None  # (H, W) cut from the centre after the resize

    def describe(self) -> str:
        batch = "dynamic batch" if self.batch is None else f"batch fixed at {self.batch}"
        norm = (f", resized ({self.resample}) to {self.size[0]}x{self.size[1]}" if self.size
                else "")
        if self.crop:
            norm += f", centre crop {self.crop[0]}x{self.crop[1]}"
        if self.input_scale != 1.0:
            norm += f", pixels x {self.input_scale:g}"
        if self.mean != (0.0,) or self.std != (1.0,):
            norm += f", normalised by mean {self.mean} std {self.std}"
        return f"{self.layout.upper()}, {self.channels} channel(s), {batch}{norm}"

    def prepare(self, images: np.ndarray) -> np.ndarray:
        """(N, C, H, W) in [0, 1] -> the model's input array."""
        x = images
        if self.size is not None and tuple(x.shape[2:]) != self.size:
            x = resize(x, self.size, self.resample)
        if self.crop is not None and tuple(x.shape[2:]) != self.crop:
            top = max(0, (x.shape[2] - self.crop[0]) // 2)
            left = max(0, (x.shape[3] - self.crop[1]) // 2)
            x = x[:, :, top : top + self.crop[0], left : left + self.crop[1]]
        if x.shape[1] != self.channels:
            x = np.repeat(x, self.channels, axis=1) if x.shape[1] == 1 else x.mean(1, keepdims=True)
        if self.input_scale != 1.0:
            x = x * np.float32(self.input_scale)
        if self.mean != (0.0,) or self.std != (1.0,):
            mean = np.asarray(self.mean, dtype=np.float32).reshape(1, -1, 1, 1)
            std = np.asarray(self.std, dtype=np.float32).reshape(1, -1, 1, 1)
            x = (x - mean) / std
        if self.layout == "nhwc":
            x = x.transpose(0, 2, 3, 1)
        elif self.layout == "nhw":
            x = x[:, 0]
        elif self.layout == "flat":
            x = x.reshape(len(x), -1)
        return np.ascontiguousarray(x, dtype=self.dtype)


def resize(images: np.ndarray, size: tuple[int, int], mode: str = "bilinear") -> np.ndarray:
    """(N, C, H, W) -> (N, C, *size), bilinear (or ``mode``: bicubic, nearest; antialiased when
    shrinking), values kept in [0, 1]."""
    import torch

    x = torch.from_numpy(np.ascontiguousarray(images, dtype=np.float32))
    shrink = size[0] < x.shape[2] or size[1] < x.shape[3]
    smooth = mode in ("bilinear", "bicubic")
    out = torch.nn.functional.interpolate(
        x, size=size, mode=mode, **({"align_corners": False, "antialias": shrink} if smooth
                                    else {}))
    return out.clamp_(0.0, 1.0).numpy()


@dataclass(frozen=True)
class ModelOptions:
    """The user's say on how a model is fed and where it runs (``auditor scan``'s options).

    These fields are part of a scan's identity (its resume key). A process's thread count is
    not: it travels as ``threads`` to :func:`~auditor.models.loading.load_classifier`."""

    input_scale: float = 1.0
    normalize: tuple[float, ...] | None = None  # (mean, std) or (means..., stds...)
    layout: str | None = None  # force a layout instead of reading/probing it
    device: str | None = None  # "cpu" or "cuda"; None picks CUDA when a GPU is present
    # --class-names: (model name or "*", names of its labels 0, 1, ...) pairs
    class_names: tuple[tuple[str, tuple[str, ...]], ...] = ()


def normalisation(options: ModelOptions,
                  channels: int) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """(means, stds) from ``--normalize``: one pair for every channel, or one per channel."""
    if options.normalize is None:
        return (0.0,), (1.0,)
    values = tuple(float(v) for v in options.normalize)
    if len(values) == 2:
        mean, std = values[:1], values[1:]
    elif len(values) == 2 * channels:
        mean, std = values[:channels], values[channels:]
    else:
        raise ModelError(
            f"--normalize expects MEAN,STD or {channels} means then {channels} stds, got "
            f"{len(values)} values"
        )
    if min(std) <= 0:
        raise ModelError(f"--normalize: standard deviations must be positive, got {std}")
    return mean, std


def contract_from_shape(
    model: str, shape: list[Any], image_shape: tuple[int, int, int], options: ModelOptions,
    dtype: Any,
) -> InputContract:
    """Read layout and batch from a declared input shape like ['batch', 1, 28, 28]."""
    c, h, w = image_shape
    dims = [d if isinstance(d, int) and d > 0 else None for d in shape]
    batch = dims[0] if dims else None
    layout = options.layout
    channels = c
    rank = len(dims)

    def mismatch(found: str) -> ModelError:
        return ModelError(
            f"{model}: the model expects {found} images but the generator makes {c}x{h}x{w}; "
            "pass --generator with a generator of the model's domain (make one with "
            "`auditor train-generator`)"
        )

    if layout is None:
        if rank == 4:
            if dims[1] in (1, 3) and (dims[3] not in (1, 3) or dims[2:] == [h, w]):
                layout = "nchw"
            elif dims[3] in (1, 3):
                layout = "nhwc"
            elif dims[1] is None and dims[3] is None:
                layout = "nchw"
            else:
                raise mismatch("x".join(str(d or "?") for d in dims[1:]))
        elif rank == 3:
            layout = "nhw"
        elif rank == 2:
            layout = "flat"
        else:
            raise ModelError(
                f"{model}: cannot read the input layout from shape {shape}; pass --layout "
                "nchw, nhwc, nhw or flat"
            )
    if layout == "nchw" and rank == 4:
        channels = dims[1] or c
        spatial = dims[2:]
    elif layout == "nhwc" and rank == 4:
        channels = dims[3] or c
        spatial = dims[1:3]
    elif layout == "nhw" and rank == 3:
        channels = 1
        spatial = dims[1:]
    elif layout == "flat" and rank == 2:
        spatial = []
        if dims[1] is not None and dims[1] != c * h * w:
            if dims[1] == h * w * 3 and c == 1:
                channels = 3
            else:
                raise mismatch(f"{dims[1]} flattened values per image (the generator's make "
                               f"{c * h * w})")
    else:
        raise ModelError(f"{model}: --layout {layout} does not fit the model's input shape {shape}")
    size = None
    if any(s is not None and s != t for s, t in zip(spatial, (h, w))):
        found = f"{channels}x{'x'.join(str(s or '?') for s in spatial)}"
        if None in spatial or channels != c:
            raise mismatch(found)
        # another size, the same domain: candidates are resized to it
        size = (int(spatial[0]), int(spatial[1]))
    if channels not in (1, 3) or (channels == 1 and c == 3):
        raise mismatch(f"{channels}-channel")
    mean, std = normalisation(options, channels)
    return InputContract(layout, batch, channels, options.input_scale, mean, std, dtype, size)

