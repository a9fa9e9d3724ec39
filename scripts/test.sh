#!/usr/bin/env bash
# Set up (first run only), lint (scripts/lint.sh), then run the whole test suite, browser
# tests included. Arguments go to pytest, e.g. scripts/test.sh -m "not slow" for the fast loop.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh test
if [ ! -x /usr/bin/chromium ] && command -v apt-get >/dev/null; then
  echo "==> installing Debian's chromium for the browser tests"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq && $SUDO apt-get install -y -qq chromium >/dev/null
fi
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
scripts/lint.sh
exec .venv/bin/python -m pytest "$@"
