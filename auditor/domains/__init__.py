"""Input domains (images, text): each one module registered in :data:`DOMAINS`, asked by the
scan's pipeline (loading, planning, finishing, the Ray workers) and by the report for
everything that depends on what the inputs are (:mod:`.base` has the protocol).

Add a domain: one module here that registers an object with the :class:`~.base.Domain`
methods (``DOMAINS.register("audio")(AudioDomain())``), plus its import below."""

from __future__ import annotations

from .base import DOMAINS, Domain, InputSet, choose, detect, of_generator, of_results
from . import image, text  # noqa: E402,F401  (registers the domains, in this order)

__all__ = ["DOMAINS", "Domain", "InputSet", "choose", "detect", "of_generator", "of_results"]
