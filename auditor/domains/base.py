"""The input-domain seam: what a scan asks of a kind of input (images, text), so that no module
outside ``auditor/domains/`` (and a domain's own package, ``auditor/text/``) branches on the
input's modality. A domain is one object registered in :data:`DOMAINS` under the modality name
that generator manifests and results.json carry (``"image"``, ``"text"``)."""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np

from ..registry import Registry


class InputSet(Protocol):
    """A scan's inputs once read: what every domain's reader returns."""

    items: np.ndarray  # what the search and the models get: (N, C, H, W) pixels, or (N,) texts
    names: list[str]  # one per input: its file (and row), or its place in memory
    skipped: list[tuple[str, str]]  # (name, reason) of inputs left out
    ignored: list[tuple[str, str]]  # (name, reason) of what was read but is no input
    labels: np.ndarray | None  # labels where the data carries them (never used by a scan)

    @property
    def kind(self) -> str:
        """What the inputs are, in the words every message uses: "images", "sentences", ..."""

    @property
    def one(self) -> str:
        """One input, in a word: "image", "sentence", "pair"."""

    @property
    def rule(self) -> str:
        """The stated conversion rule every input went through."""

    def identity(self) -> bytes:
        """The bytes that identify the inputs (for the scan key)."""


class Domain(Protocol):
    """One kind of input, end to end: reading it, the generator fit, the user's models as
    classifiers, the views it supports, its additions to results.json and its report rows."""

    name: str  # the modality name manifests and results.json carry
    unit: str  # the inputs' word before they are read ("images", "texts")
    fallback: bool  # the domain of inputs no other domain claims (images)
    views_left_out: str | None  # the views it does not support, and why (None: all)

    def claims(self, source: Any) -> bool:
        """Whether ``source`` (a path, an array, a list) holds this domain's inputs."""

    def check(self, config: Any, source: Any) -> None:
        """Refuse, in one line, the options this domain cannot honour (before anything loads)."""

    def wrong_generator(self, generator: str) -> str:
        """The one-line refusal of a generator of another domain for this domain's inputs."""

    def load(self, source: Any, named: dict[str, Any], config: Any) -> Any:
        """The generator, the inputs, their fit, the classifiers: a ``loading.Loaded``. A model
        that does not take this domain's inputs is refused before any set-up line is logged."""

    def worker_classifier(self, gen: Any, path: Any, name: str, options: Any, threads: int,
                          kind: str) -> Any:
        """A model file as a classifier in a search worker (distributed.py)."""

    def labelled(self, gen: Any, path: Any, limit: int | None, labels: str,
                 models: list) -> tuple[Any, Any]:
        """validate-generator's labelled inputs (an InputSet with ``labels``) and a function
        that loads the ``models`` to rank as classifiers."""

    def generator_record(self) -> dict[str, Any]:
        """What results.json's ``generator`` record says of the domain."""

    def data_record(self, inputs: InputSet) -> dict[str, Any]:
        """results.json's ``data`` fields this domain's inputs add."""

    def naturalness(self, loaded: Any, output: Any) -> Any:
        """The pixel-space naturalness view of the adversaries, or None where it does not apply."""

    def complete(self, res: dict[str, Any], loaded: Any, output: Any, pixel: Any,
                 gallery: int) -> None:
        """Add what the report needs from the inputs and the models to results ``res`` (the
        gallery's originals, the strips' labels, adversaries as inputs) before it is written;
        ``output`` is the search's, or None where a finished scan is redrawn from ``res``."""

    def gallery_rows(self, results: dict[str, Any], generator: Any) -> list[dict[str, Any]]:
        """The report gallery's rows, from results.json (and the generator's decodes)."""

    def strip_rows(self, results: dict[str, Any], generator: Any) -> list[dict[str, Any]]:
        """The report's interpolation strips, from results.json."""

    def template_flags(self, results: dict[str, Any]) -> dict[str, bool]:
        """The switches the report templates read (``text``, ``pairs``)."""


DOMAINS: Registry[Domain] = Registry("input domain")


def detect(source: Any) -> Domain:
    """The domain of ``source``: the first registered domain that claims it, else the fallback."""
    fallback = next(d for d in DOMAINS.values() if d.fallback)
    return next((d for d in DOMAINS.values() if not d.fallback and d.claims(source)), fallback)


def choose(source: Any, generator: str, config: Any) -> Domain:
    """The domain of a scan's inputs: the first registered domain that claims them, else the
    fallback; refuses a named generator of another domain and the options the domain cannot
    honour, each in one line, before anything is loaded."""
    from ..errors import GeneratorError, OptionError
    from ..generators import modality_of, read_manifest, resolve

    domain = detect(source)
    if generator != "auto":
        try:
            bundle = resolve(generator)
        except GeneratorError:
            bundle = None  # loading names what is wrong with it
        if bundle is not None and modality_of(read_manifest(bundle)) != domain.name:
            raise OptionError(domain.wrong_generator(generator))
    domain.check(config, source)
    return domain


def of_results(results: dict[str, Any]) -> Domain:
    """The domain a results document was scanned in."""
    return DOMAINS[results["generator"].get("modality", "image")]


def of_generator(generator: Any) -> Domain:
    """The domain of a generator's inputs."""
    return DOMAINS[getattr(generator, "modality", "image")]
