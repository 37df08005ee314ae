"""The text generator backend (a bundle whose manifest says ``"modality": "text"``): the
sentence generator G/I, its reference classifier R for pairs and the decoding rule, behind the
:class:`~auditor.generators.protocol.Generator` protocol. The bundle module
(:mod:`auditor.generators.bundle`) checks the files' checksums before they get here.

Inputs are object arrays: (N,) sentences or (N, 2) [premise, hypothesis] pairs. The latent moves
the sentence (the hypothesis of a pair); a pair's premise stays. Decoding is greedy, so the same
seed gives the same adversaries.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import GeneratorError
from ..files import sha256
from ..generators.backends import GENERATORS
from ..generators.base import DECODINGS, decoding_of
from .reference import TextReferenceClassifier

FILES = ("weights.npz", "vocab.txt", "reference.npz")
FAMILIES = ("sentence-vae-gru",)  # the manifest families this backend loads


def is_text_bundle(manifest: dict[str, Any]) -> bool:
    return manifest.get("modality") == "text"


@dataclass
class TextBundle:
    """G, I and R of a text bundle; inputs are object arrays of sentences or pairs."""

    name: str
    path: Path
    manifest: dict[str, Any]
    model: Any  # auditor.text.vae.SentenceCodec
    reference: TextReferenceClassifier | None
    decoding: str = "edit-preserving"
    modality = "text"
    image_shape = None
    gradients = False  # z0 = I(x) as it is: a discrete decoder has no gradient to refine on

    @property
    def latent_dim(self) -> int:
        return int(self.model.latent_dim)

    def describe_decoding(self) -> str:
        return DECODINGS[self.modality][self.decoding]

    @staticmethod
    def sentences(items: np.ndarray) -> list[str]:
        """The sentences the latent moves: the inputs, or the pairs' hypotheses."""
        items = np.asarray(items, dtype=object)
        return list(items[:, 1] if items.ndim == 2 else items)

    @property
    def vocabulary(self):
        """The decoder's vocabulary (``in``, ``index``: word -> rank by frequency, ``len``)."""
        return self.model.vocab

    def token_nll(self, sentences) -> np.ndarray:
        """The decoder's negative log-likelihood per token of each sentence given its own code."""
        return self.model.token_nll(sentences)

    def encode(self, items: np.ndarray) -> np.ndarray:
        return self.model.encode(self.sentences(items))

    def refine(self, items: np.ndarray, z0: np.ndarray, steps: int) -> np.ndarray:
        return z0

    def decode(self, z: np.ndarray) -> np.ndarray:
        """G(z) as (N,) sentences."""
        out = np.empty(len(z), dtype=object)
        out[:] = self.model.decode(np.asarray(z, dtype=np.float32))
        return out

    def prior(self, z: np.ndarray, like: np.ndarray) -> np.ndarray:
        """Prior samples as inputs shaped like ``like``: sentences, or pairs whose premise is G(0),
        the prior's centre (a typical sentence, the same in every batch and scan)."""
        decoded = self.decode(z)
        if np.asarray(like).ndim == 1:
            return decoded
        out = np.empty((len(z), 2), dtype=object)
        out[:, 0] = self.decode(np.zeros((1, self.latent_dim), dtype=np.float32))[0]
        out[:, 1] = decoded
        return out

    def render(self, z: np.ndarray, x: np.ndarray, base: np.ndarray) -> np.ndarray:
        """The candidate inputs of latents ``z`` for inputs ``x`` whose decodes G(z0) are
        ``base``."""
        from .edits import apply_edit

        decoded = self.decode(z)
        sentences = self.sentences(x)
        if self.decoding == "edit-preserving":
            bases = self.sentences(base)
            decoded[:] = [apply_edit(s, b, d) for s, b, d in zip(sentences, bases, decoded)]
        if np.asarray(x).ndim == 1:
            return decoded
        out = np.array(x, dtype=object, copy=True)
        out[:, 1] = decoded
        return out

    def reconstruction(self, x: np.ndarray, base: np.ndarray) -> np.ndarray:
        """The candidate at z0."""
        return x if self.decoding == "edit-preserving" else self.render_plain(x, base)

    @staticmethod
    def render_plain(x: np.ndarray, base: np.ndarray) -> np.ndarray:
        if np.asarray(x).ndim == 1:
            return base
        out = np.array(x, dtype=object, copy=True)
        out[:, 1] = base
        return out


def load_text_bundle(bundle: Path, manifest: dict[str, Any]) -> TextBundle:
    """G, I and R of a text bundle whose files the bundle module checked."""
    from .reference import TextReference
    from .vae import SentenceCodec

    try:
        model = SentenceCodec.load(bundle)
        ref = TextReference.load(bundle) if "reference.npz" in manifest["files"] else None
    except (OSError, ValueError, KeyError, RuntimeError) as err:
        raise GeneratorError(f"{bundle}: the text generator does not load ({err})") from err
    decoding = decoding_of(manifest, bundle, "text")
    record = manifest.get("reference_classifier") or {}
    reference = TextReferenceClassifier(ref, record) if ref is not None else None
    return TextBundle(name=str(manifest["name"]), path=bundle, manifest=manifest, model=model,
                      reference=reference, decoding=decoding)


@GENERATORS.register(*FAMILIES)
def load_bundle(bundle: Path, manifest: dict[str, Any], device: str | None,
                load_reference=None) -> TextBundle:
    """A text bundle, its files checked against the manifest (its R is its own)."""
    _check_files(bundle, manifest, FILES)
    return load_text_bundle(bundle, manifest)


def _check_files(bundle: Path, manifest: dict[str, Any], files: tuple[str, ...]) -> None:
    """A text bundle's files against the manifest (R's file only where the manifest lists it)."""
    for name in files:
        expected = manifest["files"].get(name)
        if expected is None and name == "reference.npz":
            continue
        path = bundle / name
        if not path.is_file():
            raise GeneratorError(f"{bundle}: {name} is missing; re-create the bundle")
        if sha256(path) != expected:
            raise GeneratorError(f"{path}: checksum does not match the manifest; the file was "
                                 "changed or corrupted")
