"""Images as data: URIs and difference maps: the PNGs the report, the model card and
results.json embed, and the SVG charts the report inlines."""

from __future__ import annotations

import base64
import io

import numpy as np

SCALE = 3  # pixels per image pixel in the gallery


def png_data_uri(image: np.ndarray, scale: int = SCALE) -> str:
    """(C, H, W) in [0, 1] grayscale/RGB, or (H, W, 3) uint8 RGB -> data: URI of a PNG."""
    from PIL import Image

    if image.dtype != np.uint8:
        chw = np.clip(image, 0, 1)
        array = (chw[0] * 255).round().astype(np.uint8) if chw.shape[0] == 1 else (
            chw.transpose(1, 2, 0) * 255
        ).round().astype(np.uint8)
    else:
        array = image
    img = Image.fromarray(array)
    img = img.resize((img.width * scale, img.height * scale), Image.Resampling.NEAREST)
    buf = io.BytesIO()
    img.save(buf, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def image_from_uri(uri: str, scale: int = SCALE) -> np.ndarray:
    """The inverse of :func:`png_data_uri`: (C, H, W) float32 in [0, 1] (exact for 8-bit images)."""
    from PIL import Image

    png = base64.b64decode(uri.split(",", 1)[1])
    img = np.asarray(Image.open(io.BytesIO(png)))[::scale, ::scale]
    chw = img[None] if img.ndim == 2 else img[..., :3].transpose(2, 0, 1)
    return (chw.astype(np.float32) / 255.0).copy()


def difference_map(adversary: np.ndarray, reference: np.ndarray,
                   scaled: bool = False) -> np.ndarray:
    """Blue where the adversary added ink, red where it removed it, white where equal.

    (C, H, W) in [0, 1] -> (H, W, 3) uint8; colour images use the channel mean. ``scaled``: the
    largest change shows at full colour (a photo's natural change is often a few percent).
    """
    d = (adversary - reference).mean(axis=0)
    if scaled and np.abs(d).max() > 0:
        d = d / np.abs(d).max()
    pos, neg = np.clip(d, 0, 1), np.clip(-d, 0, 1)
    rgb = np.stack([1 - pos, 1 - pos - neg, 1 - neg], axis=-1)
    return (np.clip(rgb, 0, 1) * 255).round().astype(np.uint8)


def svg_data_uri(svg: str) -> str:
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode()
