"""The one place ONNX Runtime sessions are opened: for model files, imported generators and
reference classifiers alike.

Every session gets the same settings: ONNX Runtime's own log quiet (errors are ours to word),
all graph optimisations, ``threads`` intra-op threads (0: ONNX Runtime's default, every core),
idle threads that do not spin, and the CUDA execution provider only where an NVIDIA GPU is
really there (an installed ``onnxruntime-gpu`` alone is not enough), with a retry on the CPU
where a session fails to start on the GPU. :func:`read_graph` parses a file's graph for what a
session does not expose (its nodes' attributes).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable


def cuda_present() -> bool:
    """True only when an NVIDIA GPU and driver are really there."""
    return os.path.exists("/dev/nvidiactl") or os.path.exists("/dev/nvidia0")


def wants_cuda(device: str | None) -> bool:
    """Whether ``device`` ("cpu", "cuda" or None: the GPU where one is present) asks for CUDA."""
    return device == "cuda" or (device is None and cuda_present())


def open_session(path: Path | str, device: str | None = None, threads: int = 0,
                 error: Callable[[BaseException], Exception] | None = None) -> Any:
    """An ``onnxruntime.InferenceSession`` of the file ``path``.

    ``device``: "cpu", "cuda" or None (CUDA where a GPU is present and ONNX Runtime has the
    provider). ``threads``: intra-op threads, 0 for ONNX Runtime's default (a Ray worker passes
    its share of its machine's cores). A file that fails to load raises ``error(err)`` (from the
    first failure), or ONNX Runtime's own exception where ``error`` is None.
    """
    import onnxruntime as ort

    ort.set_default_logger_severity(3)
    so = ort.SessionOptions()
    so.log_severity_level = 3
    if threads > 0:
        so.intra_op_num_threads = threads
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # ONNX Runtime's idle threads spin after each run, and a scan alternates its calls with the
    # generator's torch threads: spinning took the cores from torch (a text decode ran 15x slower)
    so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    providers = ["CPUExecutionProvider"]
    if wants_cuda(device) and "CUDAExecutionProvider" in ort.get_available_providers():
        providers.insert(0, "CUDAExecutionProvider")
    try:
        return ort.InferenceSession(str(path), so, providers=providers)
    except Exception as err:  # onnxruntime raises its own Fail/InvalidGraph/... types
        if len(providers) > 1:
            try:
                return ort.InferenceSession(str(path), so, providers=providers[-1:])
            except Exception:
                pass
        if error is None:
            raise
        raise error(err) from err


def read_graph(path: Path | str, marker: bytes) -> Any:
    """The graph of the ONNX file ``path`` where its bytes hold ``marker`` (looked up first, so
    that a network's weights are not parsed for nothing), else None; None too where ``onnx``
    cannot read it."""
    import mmap

    try:
        with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
            if data.find(marker) < 0:
                return None
        import onnx

        return onnx.load(str(path), load_external_data=False).graph
    except Exception:  # an empty or unreadable file, or one onnx cannot parse
        return None
