#!/usr/bin/env bash
# Run the README's two commands as a new user would: a fresh clone of this repository's committed
# HEAD in a temporary folder, a fresh .venv, an empty environment (no variables, caches or
# virtualenvs of yours leak in). Exits non-zero if either command fails.
#
#   bash scripts/fresh-check.sh              # both commands
#   PYTHON=python3.11 bash scripts/fresh-check.sh
#
# Python packages come only from what scripts/setup.sh installs. System packages are this machine's:
# run the script on a bare image of your target (a fresh VM or container) to check those too, and
# read `auditor doctor` (printed at the end) for what the machine lacks.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
git clone -q "$repo" "$work/auditor"
mkdir "$work/home"
cd "$work/auditor"
clean=(env -i "HOME=$work/home" "PATH=$PATH" LANG=C.UTF-8 ${PYTHON:+"PYTHON=$PYTHON"})
echo "== fresh clone of $(git rev-parse --short HEAD) in $work/auditor"
start=$SECONDS
"${clean[@]}" bash scripts/example.sh
echo "== example: ok ($((SECONDS - start)) s, set-up included)"
start=$SECONDS
"${clean[@]}" bash scripts/test.sh
echo "== tests: ok ($((SECONDS - start)) s)"
"${clean[@]}" .venv/bin/auditor doctor || true
