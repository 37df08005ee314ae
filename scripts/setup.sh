# Sourced by scripts/example.sh and scripts/test.sh: make .venv and install auditor into it.
# Usage: . scripts/setup.sh [EXTRAS]     e.g. ". scripts/setup.sh dev"
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PY=${PYTHON:-$(command -v python3.11 || command -v python3)}
"$PY" -c 'import sys; assert sys.version_info >= (3, 10), "auditor needs Python 3.10 or newer"'
[ -x .venv/bin/python ] || "$PY" -m venv .venv
. .venv/bin/activate
export PIP_DISABLE_PIP_VERSION_CHECK=1
# A plain `torch` requirement pulls the multi-GB CUDA build on Linux: where no torch is installed yet,
# install torch 2.13.0 first, PyTorch's CPU build where there is no NVIDIA GPU (one line says which).
bash scripts/install_torch.sh
extras=${1:-}
pip install -q -e ".${extras:+[$extras]}"
