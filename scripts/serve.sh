#!/usr/bin/env bash
# Set up (first run only) and serve the demo articles on http://127.0.0.1:8000.
# With an empty index, qa-serve indexes the bundled demo articles first (about a minute on 2 cores).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
exec .venv/bin/qa-serve "$@"
