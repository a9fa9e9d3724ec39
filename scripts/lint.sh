#!/usr/bin/env bash
# The one lint command: ruff (lint and format), mypy on qa, indexer and web, import contracts.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=.venv/bin
"$bin/ruff" check .
"$bin/ruff" format --check .
"$bin/mypy"
