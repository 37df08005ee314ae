"""auditor: label-free robustness audits of image classifiers via natural adversaries.

Implements Zhao, Dua & Singh, "Generating Natural Adversarial Examples" (ICLR 2018).

    import auditor
    audit = auditor.scan({"v1": "v1.onnx", "v2": model_v2}, "images/", seed=0)
    audit.ranking, audit.models["v2"].mean_delta_z, audit.compare("v2", "v1")
    audit.gate(baseline="v1").passed
    audit.write("report/")

The command line (``auditor scan ...``) is a thin layer over :func:`scan`.
"""

from __future__ import annotations

import os as _os
from typing import TYPE_CHECKING, Any

# Intel MKL (torch's CPU matrix products) splits a product over threads differently for each
# thread count and rounds each split differently (z differs by 1e-5 between 1 and 2 threads), so
# a scan's results would depend on its process's thread count and a scan over Ray workers (fewer
# threads each) would not equal the same scan in one process. MKL's strict conditional numerical
# reproducibility mode gives the same bits for any thread count, at no cost measured here
# (docs/scaling.md). It must be set before torch first calls MKL; a value already set is kept.
_os.environ.setdefault("MKL_CBWR", "AUTO,STRICT")

from ._version import __version__

__all__ = [
    "Audit", "AuditorError", "ClusterError", "Comparison", "DataError", "Gate", "GateCheck",
    "GeneratorError", "Interrupted", "ModelError", "ModelSummary", "OptionError", "OutputError",
    "ResultsError", "load", "scan", "__version__",
]

if TYPE_CHECKING:
    from .audit import Audit, Comparison, Gate, GateCheck, ModelSummary, load
    from .errors import (AuditorError, ClusterError, DataError, GeneratorError, Interrupted,
                         ModelError, OptionError, OutputError, ResultsError)
    from .scanning import scan

_HOMES = {
    "Audit": "audit", "Comparison": "audit", "Gate": "audit", "GateCheck": "audit",
    "ModelSummary": "audit", "load": "audit", "scan": "scanning",
    **{name: "errors" for name in ("AuditorError", "ClusterError", "DataError", "GeneratorError",
                                   "Interrupted", "ModelError", "OptionError", "OutputError",
                                   "ResultsError")},
}


def __getattr__(name: str) -> Any:
    """Public names are imported on first use: ``import auditor`` stays fast (the CLI's
    start-up)."""
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'auditor' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f".{home}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
