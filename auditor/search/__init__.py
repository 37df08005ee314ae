"""Black-box search for the nearest natural adversary of every image, for every model:
settings and results (types.py), the registry of algorithms (registry.py, one module each),
the driver they share (driver.py), and the search-error estimate (estimate.py)."""

from __future__ import annotations

from .driver import search
from .registry import ALGORITHMS, LatentSearch
from .types import (ModelResult, SearchContext, SearchOutput, SearchSettings, batch_size,
                    empty_output, radius_cap)

__all__ = ["ALGORITHMS", "LatentSearch", "ModelResult", "SearchContext", "SearchOutput",
           "SearchSettings", "batch_size", "empty_output", "radius_cap", "search"]
