#!/usr/bin/env bash
# Set up (first run only) with the dev extra and run the whole test suite.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/setup.sh" dev
python -m pytest "$@"
