#!/usr/bin/env bash
# Create .venv and install the project into it (idempotent: re-runs only when pyproject.toml
# changes). Usage: scripts/bootstrap.sh [extras], e.g. scripts/bootstrap.sh test
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-}"
python="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  echo "==> creating .venv"
  "$python" -m venv .venv
fi
stamp=".venv/.installed-$(sha256sum pyproject.toml | cut -c1-16)-${extras:-base}"
if [ ! -f "$stamp" ]; then
  echo "==> installing (torch pinned to the CPU build 2.13.0)"
  .venv/bin/python -m pip install --quiet --upgrade pip
  # torch is pinned in the same command every time: an unpinned torch pulls a multi-GB CUDA build.
  .venv/bin/python -m pip install --quiet "torch==2.13.0" -e ".${extras:+[$extras]}"
  touch "$stamp"
fi
