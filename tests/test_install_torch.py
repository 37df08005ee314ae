"""scripts/install_torch.sh, the set-up's choice of torch build: PyTorch's CPU build where there is no
NVIDIA GPU (from its CPU index, probed first; else from pip's configured indexes; else the default
build), the default build where there is one, and the installed torch kept. Offline and fast: a fake
pip records its arguments, a minimal PATH decides whether `nvidia-smi` exists, and the probe meets a
server that never answers, a closed port, a local folder or a local HTTP server. One test runs the
real pip (a dry run, no dependencies) on the local CPU wheel in /opt/wheels, where there is one."""

from __future__ import annotations

import functools
import http.server
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "install_torch.sh"
WHEEL = Path("/opt/wheels/torch-2.13.0+cpu-cp311-cp311-manylinux_2_28_x86_64.whl")

pytestmark = pytest.mark.skipif(sys.platform == "win32" or shutil.which("bash") is None, reason="a bash script")

FAKE_PIP = """#!/bin/sh
# Records its arguments, one call a line; fails for torch==...+cpu where FAKE_PIP_NO_CPU is set.
echo "$*" >> "$FAKE_PIP_LOG"
case "$*" in *+cpu*) if [ -n "${FAKE_PIP_NO_CPU:-}" ]; then
    echo "ERROR: No matching distribution found for torch==2.13.0+cpu" >&2; exit 1; fi;; esac
exit 0
"""


@pytest.fixture(scope="module")
def bare_python(tmp_path_factory) -> Path:
    """A Python without torch (a venv without pip), like a fresh .venv."""
    venv = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    return venv / "bin" / "python"


class Machine:
    """A minimal PATH (the script's tools, a torch-less `python`, fakes first) and a fake pip."""

    def __init__(self, root: Path, python: Path):
        self.root = root
        self.fakes = root / "fakes"
        self.tools = root / "tools"
        self.fakes.mkdir()
        self.tools.mkdir()
        for tool in ("bash", "mktemp", "rm", "cat", "uname"):
            (self.tools / tool).symlink_to(shutil.which(tool))
        (self.tools / "python").symlink_to(python)
        self.pip_log = root / "pip.log"
        self.pip_log.touch()
        self.fake("fake-pip", FAKE_PIP)
        self.env = {
            "PATH": f"{self.fakes}:{self.tools}",
            "HOME": str(root),
            "LANG": "C.UTF-8",
            "AUDITOR_PIP": str(self.fakes / "fake-pip"),
            "FAKE_PIP_LOG": str(self.pip_log),
        }

    def fake(self, name: str, text: str) -> None:
        path = self.fakes / name
        path.write_text(text)
        path.chmod(0o755)

    def run(self, **env: str) -> tuple[subprocess.CompletedProcess, float]:
        start = time.monotonic()
        proc = subprocess.run(["bash", str(SCRIPT)], env={**self.env, **env}, capture_output=True, text=True,
                              timeout=60)
        return proc, time.monotonic() - start

    @property
    def pip_calls(self) -> list[str]:
        return self.pip_log.read_text().splitlines()


@pytest.fixture
def machine(tmp_path, bare_python) -> Machine:
    return Machine(tmp_path, bare_python)


@pytest.fixture
def silent_server():
    """http://127.0.0.1:PORT that accepts connections (the kernel's backlog) and never answers."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        yield f"http://127.0.0.1:{server.getsockname()[1]}/whl/cpu"


def closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/whl/cpu"  # nothing listens there now: connection refused


def one_line(proc: subprocess.CompletedProcess) -> str:
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert len(lines) == 1 and lines[0].startswith("torch: "), proc.stdout
    return lines[0]


def local_index(root: Path, wheel: Path) -> Path:
    """A PEP 503 index in a folder: simple/torch/index.html links the wheel."""
    project = root / "simple" / "torch"
    project.mkdir(parents=True)
    (project / wheel.name).symlink_to(wheel)
    href = wheel.name.replace("+", "%2B")
    (project / "index.html").write_text(f'<html><body><a href="{href}">{wheel.name}</a></body></html>\n')
    return root / "simple"


def test_no_gpu_silent_index_falls_back_within_the_timeout(machine, silent_server):
    proc, took = machine.run(AUDITOR_TORCH_INDEX=silent_server, AUDITOR_TORCH_PROBE_TIMEOUT="1")
    line = one_line(proc)
    assert took < 1 + 5, took  # the probe's 1 s, bash and two Pythons starting on a busy machine
    assert machine.pip_calls == ["install -q torch==2.13.0+cpu"]  # pip's configured indexes, not the silent one
    assert "CPU build torch==2.13.0+cpu from pip's configured indexes" in line
    assert "no NVIDIA GPU" in line and f"{silent_server} could not be used (no answer within 1 s)" in line


def test_no_gpu_unreachable_index_and_no_cpu_wheel_takes_the_default_build(machine):
    url = closed_port_url()
    proc, took = machine.run(AUDITOR_TORCH_INDEX=url, FAKE_PIP_NO_CPU="1")
    line = one_line(proc)
    assert took < 10 + 5
    assert machine.pip_calls == ["install -q torch==2.13.0+cpu", "install -q torch==2.13.0"]
    assert "installed torch==2.13.0, the default build" in line and "no NVIDIA GPU" in line
    assert f"{url} could not be used (" in line and "Connection refused" in line
    assert "pip's configured indexes have no torch==2.13.0+cpu" in line
    assert "ERROR" not in proc.stdout + proc.stderr  # the failed attempt's pip output stays out of the way


def test_no_gpu_default_index_is_pytorchs_cpu_index(machine):
    """Without AUDITOR_TORCH_INDEX the probe goes to download.pytorch.org (here: a fake `python` that
    records the probe's URL and says the index is unreachable)."""
    real = shutil.which("python", path=machine.env["PATH"])
    machine.fake("python", f"""#!/bin/sh
[ "$1" = - ] && {{ echo "$2 $3" > "{machine.root}/probe"; cat >/dev/null; echo "test: unreachable"; exit 1; }}
exec "{real}" "$@"
""")
    line = one_line(machine.run()[0])
    assert (machine.root / "probe").read_text().split() == ["https://download.pytorch.org/whl/cpu/torch/", "10"]
    assert "https://download.pytorch.org/whl/cpu could not be used (test: unreachable)" in line


def test_no_gpu_reachable_folder_index_gives_the_cpu_build(machine, tmp_path):
    simple = local_index(tmp_path / "index", Path(__file__))  # any file: the fake pip installs nothing
    url = simple.as_uri()
    line = one_line(machine.run(AUDITOR_TORCH_INDEX=url)[0])
    assert machine.pip_calls == [f"install -q torch==2.13.0+cpu --index-url {url}"]
    assert line == f"torch: installed PyTorch's CPU build torch==2.13.0+cpu from {url}: no NVIDIA GPU (no working nvidia-smi)"


def test_no_gpu_reachable_http_index_gives_the_cpu_build(machine, tmp_path):
    simple = local_index(tmp_path / "index", Path(__file__))
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(simple.parent))
    handler.log_message = lambda *args: None
    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler) as server:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        url = f"http://127.0.0.1:{server.server_address[1]}/simple/"
        try:
            line = one_line(machine.run(AUDITOR_TORCH_INDEX=url)[0])
        finally:
            server.shutdown()
    assert machine.pip_calls == [f"install -q torch==2.13.0+cpu --index-url {url.rstrip('/')}"]
    assert "installed PyTorch's CPU build torch==2.13.0+cpu from http://127.0.0.1:" in line


def test_no_gpu_index_without_the_cpu_wheel_falls_back(machine, tmp_path):
    simple = local_index(tmp_path / "index", Path(__file__))
    machine.fake("fake-pip", FAKE_PIP.replace('*+cpu*)', '*+cpu*--index-url*)'))  # only that index lacks it
    line = one_line(machine.run(AUDITOR_TORCH_INDEX=simple.as_uri(), FAKE_PIP_NO_CPU="1")[0])
    assert machine.pip_calls == [f"install -q torch==2.13.0+cpu --index-url {simple.as_uri()}",
                                 "install -q torch==2.13.0+cpu"]
    assert "from pip's configured indexes" in line and "pip could not install torch==2.13.0+cpu from it" in line


def test_nvidia_smi_that_fails_is_no_gpu(machine, tmp_path):
    machine.fake("nvidia-smi", "#!/bin/sh\necho 'NVIDIA-SMI has failed' >&2\nexit 9\n")
    line = one_line(machine.run(AUDITOR_TORCH_INDEX=(tmp_path / "nothing").as_uri())[0])
    assert machine.pip_calls == ["install -q torch==2.13.0+cpu"] and "no NVIDIA GPU" in line


def test_gpu_present_takes_the_default_build(machine, silent_server):
    machine.fake("nvidia-smi", "#!/bin/sh\necho 'GPU 0: NVIDIA H200 (UUID: GPU-0)'\nexit 0\n")
    proc, took = machine.run(AUDITOR_TORCH_INDEX=silent_server, AUDITOR_TORCH_PROBE_TIMEOUT="5")
    assert one_line(proc) == ("torch: installed torch==2.13.0, the default (CUDA) build: an NVIDIA GPU is present "
                              "(nvidia-smi -L works)")
    assert machine.pip_calls == ["install -q torch==2.13.0"]  # no CPU index, no probe:
    assert took < 5


def test_macos_takes_the_default_build(machine):
    machine.fake("uname", "#!/bin/sh\necho Darwin\n")
    assert "on macOS it is the CPU (and MPS) build" in one_line(machine.run()[0])
    assert machine.pip_calls == ["install -q torch==2.13.0"]


def test_installed_torch_is_kept(machine, tmp_path):
    fake_torch = tmp_path / "site" / "torch"
    fake_torch.mkdir(parents=True)
    (fake_torch / "__init__.py").write_text("__version__ = '2.11.0+cu128'\n")
    line = one_line(machine.run(PYTHONPATH=str(tmp_path / "site"))[0])
    assert line == "torch: kept the installed torch 2.11.0+cu128 (to use another build, install it before the set-up)"
    assert machine.pip_calls == []


def test_every_attempt_failing_shows_pips_error(machine):
    machine.fake("fake-pip", "#!/bin/sh\necho \"$*\" >> \"$FAKE_PIP_LOG\"\necho 'ERROR: no network' >&2\nexit 1\n")
    proc, _ = machine.run(AUDITOR_TORCH_INDEX=closed_port_url())
    assert proc.returncode == 1 and len(machine.pip_calls) == 2
    assert "ERROR: no network" in proc.stderr and "torch: could not install torch==2.13.0" in proc.stderr


# --- the real pip, on the local CPU wheel ------------------------------------------------------------

def real_pip(machine: Machine, python: Path, report: Path) -> dict[str, str]:
    """Settings that make the script's pip the real one, as on a user's machine (no pip configuration of
    this machine's), dry-running into the torch-less Python and reporting what it would install."""
    return {
        "AUDITOR_PIP": f"{sys.executable} -m pip --python {python}",
        "PIP_CONFIG_FILE": os.devnull, "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        "PIP_DRY_RUN": "1", "PIP_NO_DEPS": "1", "PIP_REPORT": str(report), "PIP_NO_CACHE_DIR": "1",
    }


def would_install(report: Path) -> list[tuple[str, str, str]]:
    return [(item["metadata"]["name"], item["metadata"]["version"], item["download_info"]["url"])
            for item in json.loads(report.read_text())["install"]]


needs_wheel = pytest.mark.skipif(not WHEEL.exists() or sys.version_info[:2] != (3, 11) or sys.platform != "linux",
                                 reason=f"needs {WHEEL} (and Python 3.11 on Linux x86_64)")


@needs_wheel
def test_real_pip_chooses_the_cpu_build_from_a_local_index(machine, bare_python, tmp_path):
    simple = local_index(tmp_path / "index", WHEEL)
    report = tmp_path / "report.json"
    proc, _ = machine.run(AUDITOR_TORCH_INDEX=simple.as_uri(), **real_pip(machine, bare_python, report))
    assert "installed PyTorch's CPU build torch==2.13.0+cpu from file://" in one_line(proc)
    ((name, version, url),) = would_install(report)
    assert (name, version) == ("torch", "2.13.0+cpu") and url.endswith(WHEEL.name.replace("+", "%2B"))


@needs_wheel
def test_real_pip_finds_the_cpu_build_through_find_links_when_the_index_is_unreachable(machine, bare_python, tmp_path):
    """This machine's case: download.pytorch.org unreachable, pip configured with find-links /opt/wheels."""
    report = tmp_path / "report.json"
    proc, _ = machine.run(AUDITOR_TORCH_INDEX=closed_port_url(), PIP_NO_INDEX="1", PIP_FIND_LINKS=str(WHEEL.parent),
                          **real_pip(machine, bare_python, report))
    assert "CPU build torch==2.13.0+cpu from pip's configured indexes" in one_line(proc)
    ((name, version, _),) = would_install(report)
    assert (name, version) == ("torch", "2.13.0+cpu")
