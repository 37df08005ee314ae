"""`auditor doctor`: what this machine can do, checked rather than assumed.

Each check returns a dict {"name", "ok", "required", "detail", "fix"}; ``required`` checks
decide whether a default scan (all four outputs, the bundled generator) will work. Nothing
here prints: the CLI does.
"""

from __future__ import annotations

import platform
import shutil
import subprocess
import sys
import time
from typing import Any, Callable

from ._version import __version__

PDF_PACKAGES = {  # what WeasyPrint needs from the system, per package manager
    "apt": "apt-get install libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz0b fonts-dejavu-core",
    "dnf": "dnf install pango harfbuzz dejavu-sans-fonts",
    "brew": "brew install pango",
}
SUBSET_PACKAGES = {"apt": "apt-get install libharfbuzz-subset0", "dnf": "dnf install harfbuzz",
                   "brew": "brew install harfbuzz"}
FONT_PACKAGES = {"apt": "apt-get install fonts-dejavu-core", "dnf": "dnf install dejavu-sans-fonts",
                 "brew": "brew install --cask font-dejavu"}


def _package_manager() -> str:
    for tool in ("apt-get", "dnf", "brew"):
        if shutil.which(tool):
            return tool.split("-")[0]
    return "apt"


def _check(name: str, required: bool,
           probe: Callable[[], tuple[bool, str, str | None]]) -> dict[str, Any]:
    try:
        ok, detail, fix = probe()
    except Exception as err:  # a probe that breaks is a finding, not a crash
        from .errors import first_line

        ok, detail, fix = False, f"{type(err).__name__}: {first_line(err, 200)}", None
    return {"name": name, "ok": bool(ok), "required": required, "detail": detail, "fix": fix}


def _python():
    ok = sys.version_info >= (3, 10)
    return (ok, f"{platform.python_version()} ({sys.executable})",
            None if ok else "install Python 3.10 or newer")


def _torch():
    import torch

    if torch.cuda.is_available():
        names = ", ".join(torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count()))
        where = f"CUDA {torch.version.cuda}: {names}; generators and TorchScript models run on cuda"
    else:
        where = "no CUDA device; generators and TorchScript models run on cpu"
    return True, f"{torch.__version__} · {where} · {torch.get_num_threads()} threads", None


def _onnxruntime():
    import onnxruntime as ort

    from .models import cuda_present

    available = ort.get_available_providers()
    chosen = ("CUDAExecutionProvider" if cuda_present() and "CUDAExecutionProvider" in available
              else "CPUExecutionProvider")
    fix = None
    if cuda_present() and chosen != "CUDAExecutionProvider":
        fix = "a GPU is present but ONNX Runtime has no CUDA provider: pip install onnxruntime-gpu"
    return True, f"{ort.__version__} · providers {', '.join(available)} · a scan uses {chosen}", fix


def _pdf():
    """Render a one-page PDF with WeasyPrint, as a scan does."""
    from .report import import_weasyprint

    manager = _package_manager()
    try:
        weasyprint = import_weasyprint()
    except OSError as err:  # a system library (Pango) is missing
        return (False,
                f"WeasyPrint cannot load its system libraries ({str(err).splitlines()[0][:160]})",
                f"{PDF_PACKAGES[manager]}; or scan with --format html,md,json")
    start = time.perf_counter()
    pdf = weasyprint.HTML(string="<h1>auditor doctor</h1><p>Δz ‖z* − z₀‖</p>").write_pdf()
    seconds = time.perf_counter() - start
    ok = pdf[:5] == b"%PDF-"
    detail = (f"WeasyPrint {weasyprint.__version__} renders a one-page PDF "
              f"({len(pdf) / 1024:.0f} KB, {seconds:.1f} s)")
    from weasyprint.text import ffi

    if ffi.harfbuzz_subset is None:
        detail += ("; HarfBuzz-Subset missing: fonts are subset with fontTools "
                   "(same PDF, a few KB larger)")
        return ok, detail, f"optional: {SUBSET_PACKAGES[manager]}" if ok else PDF_PACKAGES[manager]
    return ok, detail + "; fonts subset with HarfBuzz", None if ok else PDF_PACKAGES[manager]


def _fonts():
    fc = shutil.which("fc-list")
    if not fc:
        return True, "fc-list not found: fonts not listed (the PDF check above renders text)", None
    families = subprocess.run([fc, ":", "family"], capture_output=True, text=True,
                              timeout=30).stdout.splitlines()
    families = sorted({f.split(",")[0].strip() for f in families if f.strip()})
    if not families:
        return (False, "no fonts installed: the PDF's text would be missing",
                FONT_PACKAGES[_package_manager()])
    shown = (", ".join(families[:4])
             + (f" and {len(families) - 4} more" if len(families) > 4 else ""))
    return True, f"{len(families)} font families ({shown})", None


def _generators():
    from .generators import bundled_names, read_manifest, resolve, sha256

    lines, broken = [], []
    for name in bundled_names():
        bundle = resolve(name)
        manifest = read_manifest(bundle)
        expected = manifest["files"].get("weights.npz")
        actual = sha256(bundle / "weights.npz") if (bundle / "weights.npz").is_file() else None
        if actual != expected:
            broken.append(name)
        domain = ("text" if "image_shape" not in manifest
                  else "×".join(map(str, manifest["image_shape"])))
        lines.append(f"{name} {domain} sha256 {(actual or 'missing')[:12]}"
                     f"{' ok' if actual == expected else ' MISMATCH'}")
    if not lines:
        return (False, "no bundled generator found",
                "reinstall auditor: pip install --force-reinstall auditor")
    fix = f"the weights of {', '.join(broken)} are damaged: reinstall auditor" if broken else None
    return not broken, "; ".join(lines), fix


def run() -> dict[str, Any]:
    """Every check, and whether a default scan will work (``ok``)."""
    checks = [
        _check("python", True, _python),
        {"name": "auditor", "ok": True, "required": True, "detail": __version__, "fix": None},
        _check("torch", True, _torch),
        _check("onnxruntime", True, _onnxruntime),
        _check("pdf", True, _pdf),
        _check("fonts", False, _fonts),
        _check("generators", True, _generators),
    ]
    return {"ok": all(c["ok"] for c in checks if c["required"]), "platform": platform.platform(),
            "checks": checks}
