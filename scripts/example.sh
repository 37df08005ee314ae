#!/usr/bin/env bash
# Set up (first run only) and audit the three bundled example models on the example digits.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
auditor scan examples/models/lenet.onnx examples/models/mlp.pt examples/models/rf5.onnx \
    examples/digits --out auditor-report --seed 0 --force "$@"
