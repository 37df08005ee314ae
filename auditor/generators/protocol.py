"""The generator seam: the :class:`Generator` protocol every generator backend implements (the
torch VAEs, imported ONNX graphs, the text bundles). The searches, the fit check and a scan
read a generator only through these members.

Inputs are what the generator's domain holds: images (N, C, H, W) float32 in [0, 1], or for
text object arrays of sentences (N,) or [premise, hypothesis] pairs (N, 2); latents are
float32 (N, d).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class Generator(Protocol):
    """G: z -> x and its inverter I: x -> z, with the rule that makes a latent's candidate."""

    name: str
    path: Path  # the bundle folder
    manifest: dict[str, Any]  # the bundle's manifest.json
    modality: str  # "image" or "text"
    latent_dim: int  # d
    image_shape: tuple[int, int, int] | None  # (C, H, W); None for text
    reference: Any  # the bundle's reference classifier R (a Classifier), or None
    gradients: bool  # refine() differentiates through G; False: z0 = I(x) is used as it is
    decoding: str  # the rule that makes a latent's candidate (the manifest's "decoding")

    def describe_decoding(self) -> str:
        """The decoding rule in one sentence, for the scan's log and the report."""
        ...

    def encode(self, inputs: np.ndarray) -> np.ndarray:
        """I(x): inputs (N, ...) -> latents (N, d)."""
        ...

    def decode(self, z: np.ndarray) -> np.ndarray:
        """G(z): latents (N, d) -> inputs (N, ...)."""
        ...

    def refine(self, inputs: np.ndarray, z0: np.ndarray, steps: int) -> np.ndarray:
        """z0 improved by ``steps`` gradient steps on ||G(z) - x|| (z0 itself without
        ``gradients``)."""
        ...

    def render(self, z: np.ndarray, x: np.ndarray, base: np.ndarray) -> np.ndarray:
        """The candidate inputs of latents ``z`` for inputs ``x`` whose reconstructions G(z0)
        are ``base``."""
        ...

    def reconstruction(self, x: np.ndarray, base: np.ndarray) -> np.ndarray:
        """The candidate at z0 for inputs ``x`` whose decodes G(z0) are ``base``."""
        ...

    def prior(self, z: np.ndarray, like: np.ndarray) -> np.ndarray:
        """Candidates of prior samples ``z`` (decoded plainly), as inputs shaped like ``like``."""
        ...
