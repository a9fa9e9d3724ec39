#!/usr/bin/env bash
# Set up (first run only) and run the whole test suite, browser tests included.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh test
if [ ! -x /usr/bin/chromium ] && command -v apt-get >/dev/null; then
  echo "==> installing Debian's chromium for the browser tests"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq && $SUDO apt-get install -y -qq chromium >/dev/null
fi
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
.venv/bin/ruff check .
exec .venv/bin/python -m pytest "$@"
