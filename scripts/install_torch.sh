#!/usr/bin/env bash
# Install torch 2.13.0 into the Python first on PATH (scripts/setup.sh runs it inside .venv), unless a
# torch is installed there already (that one is kept: to choose another build, install it first).
#
#   an NVIDIA GPU (nvidia-smi -L works)  the default build, torch==2.13.0 (CUDA on Linux x86_64)
#   no GPU                               PyTorch's CPU build, torch==2.13.0+cpu, from PyTorch's CPU index,
#                                        probed first (10 s at most); where that index cannot be reached,
#                                        torch==2.13.0+cpu from the indexes pip is configured with; where
#                                        they have none, the default build
#   macOS                                the default build (PyPI's macOS build is the CPU/MPS one)
#
# Prints one line saying which build it installed (or kept) and why.
# Settings (for mirrors and tests):
#   AUDITOR_TORCH_INDEX          PyTorch's CPU index, a PEP 503 index URL (default
#                                https://download.pytorch.org/whl/cpu; a file:// URL works)
#   AUDITOR_TORCH_PROBE_TIMEOUT  seconds the probe of that index may take (default 10)
#   AUDITOR_PIP                  the pip command (default "python -m pip")
set -euo pipefail
version=2.13.0
index=${AUDITOR_TORCH_INDEX:-https://download.pytorch.org/whl/cpu}
index=${index%/}
limit=${AUDITOR_TORCH_PROBE_TIMEOUT:-10}
read -r -a pip <<< "${AUDITOR_PIP:-python -m pip}"
say() { echo "torch: $*"; }

if have=$(python -c 'import torch; print(torch.__version__)' 2>/dev/null); then
    say "kept the installed torch ${have##*$'\n'} (to use another build, install it before the set-up)"
    exit 0
fi

if [ "$(uname -s)" = Darwin ]; then
    "${pip[@]}" install -q "torch==$version"
    say "installed torch==$version, the default build: on macOS it is the CPU (and MPS) build"
    exit 0
fi

if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
    "${pip[@]}" install -q "torch==$version"
    say "installed torch==$version, the default (CUDA) build: an NVIDIA GPU is present (nvidia-smi -L works)"
    exit 0
fi

# No GPU. Probe the CPU index: prints nothing and succeeds when it answers, else prints why not. The
# request runs in a thread so that the limit bounds everything (name lookup included), not each read.
probe() {
    python - "$index/torch/" "$limit" <<'PY'
import os, sys, threading, time, urllib.error, urllib.parse, urllib.request

url, limit = sys.argv[1], float(sys.argv[2])
start, result = time.monotonic(), []


def get():
    try:
        if url.startswith("file:"):
            path = urllib.request.url2pathname(urllib.parse.urlparse(url).path)
            if not os.path.isdir(path):
                raise OSError(f"no folder {path}")
        else:
            # the socket waits longer than the join below, so a silent server always reads as
            # "no answer within LIMIT s" (equal timeouts raced: either message could win)
            with urllib.request.urlopen(url, timeout=limit + 5):
                pass
        result.append("")
    except urllib.error.HTTPError as err:
        result.append(str(err))
    except urllib.error.URLError as err:
        result.append(str(err.reason))
    except Exception as err:
        result.append(str(err) or type(err).__name__)


request = threading.Thread(target=get, daemon=True)
request.start()
request.join(limit)
if result and not result[0]:
    os._exit(0)
print(f"{result[0]}, after {time.monotonic() - start:.1f} s" if result else f"no answer within {limit:g} s", flush=True)
os._exit(1)
PY
}

log=$(mktemp)
trap 'rm -f "$log"' EXIT
attempt() { "${pip[@]}" install -q "$@" >"$log" 2>&1; }   # pip's output is shown only where every attempt fails

nogpu="no NVIDIA GPU (no working nvidia-smi)"
if why=$(probe); then
    if attempt "torch==$version+cpu" --index-url "$index"; then
        say "installed PyTorch's CPU build torch==$version+cpu from $index: $nogpu"
        exit 0
    fi
    why="pip could not install torch==$version+cpu from it"
fi
if attempt "torch==$version+cpu"; then
    say "installed PyTorch's CPU build torch==$version+cpu from pip's configured indexes: $nogpu," \
        "and $index could not be used ($why)"
    exit 0
fi
if attempt "torch==$version"; then
    say "installed torch==$version, the default build (CUDA on Linux x86_64: a .venv of about 5.6 GB): $nogpu, but" \
        "$index could not be used ($why) and pip's configured indexes have no torch==$version+cpu;" \
        "to get the CPU build, install it before the set-up"
    exit 0
fi
cat "$log" >&2
say "could not install torch==$version ($nogpu; $index could not be used: $why)" >&2
exit 1
