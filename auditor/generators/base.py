"""What the image generator backends share: the decoding rules that turn a latent into a
candidate image (plain, detail-preserving) and the protocol's defaults for images."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dataclasses import dataclass

import numpy as np

from ..errors import GeneratorError

# The decoding rules (a candidate input of a latent), per modality, the first the default; and
# the manifest words that name one of them.
DECODINGS: dict[str, dict[str, str]] = {
    "image": {
        "plain": "a candidate image is the generator's decode G(z)",
        "detail-preserving": "a candidate image is clip(x + G(z) - G(z0), 0, 1): the photo plus "
                             "the change the latent move makes, so the reconstruction is the "
                             "photo itself",
    },
    "text": {
        "edit-preserving": ("a candidate sentence is the input with the word edits that the "
                            "latent move makes, G(z0) -> G(z), applied to it, so the "
                            "reconstruction is the input itself"),
        "plain": "a candidate sentence is the greedy decode G(z)",
    },
}
DECODING_ALIASES = {"greedy": "edit-preserving"}  # a text manifest's word for the decoder's search


class ImageGenerator:
    """The image half of the :class:`~auditor.generators.protocol.Generator` protocol: a
    backend gives ``encode``, ``decode``, ``refine`` and the data fields (``decoding`` among
    them); the candidate rules are these."""

    modality = "image"
    decoding: str

    def decode(self, z: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def describe_decoding(self) -> str:
        return DECODINGS[self.modality][self.decoding]

    def render(self, z: np.ndarray, x: np.ndarray, base: np.ndarray) -> np.ndarray:
        """The candidate image of latent ``z`` for image ``x`` whose reconstruction is ``base``
        = G(z0).

        ``plain``: G(z). ``detail-preserving``: clip(x + G(z) - G(z0), 0, 1), the photo plus the
        change the latent move makes, so that z0 renders x itself (a blurry decoder's blur is
        never part of a candidate) and a candidate differs from x only by what G expresses."""
        decoded = self.decode(z)
        if self.decoding == "plain":
            return decoded
        return np.clip(x + decoded - base, 0.0, 1.0, out=decoded)

    def reconstruction(self, x: np.ndarray, base: np.ndarray) -> np.ndarray:
        """The candidate at z0: G(z0) under the plain rule, the image itself under
        detail-preserving."""
        return x if self.decoding == "detail-preserving" else base

    def prior(self, z: np.ndarray, like: np.ndarray) -> np.ndarray:
        """Candidates of prior samples ``z`` (decoded plainly), as inputs shaped like ``like``."""
        return self.decode(z)



@dataclass
class BundleGenerator(ImageGenerator):
    """The data every image bundle's generator holds, whatever its backend: G and its inverter
    (``decoder``, ``encoder``) and where they run."""

    name: str
    path: Path
    manifest: dict[str, Any]
    latent_dim: int
    image_shape: tuple[int, int, int]
    encoder: Any
    decoder: Any
    device: str
    batch_size: int = 4096
    reference: Any = None  # the bundle's reference classifier R (auditor.reference), if any


def decoding_of(manifest: dict[str, Any], bundle: Path, modality: str = "image") -> str:
    """The bundle's decoding rule (DECODINGS of its modality), the modality's first where the
    manifest names none."""
    rules = DECODINGS[modality]
    rule = str(manifest.get("decoding", next(iter(rules))))
    rule = DECODING_ALIASES.get(rule, rule)
    if rule not in rules:
        raise GeneratorError(f"{bundle}: decoding rule {rule!r} is unknown; expected one of "
                             f"{', '.join(rules)} (a newer auditor may read it)")
    return rule
