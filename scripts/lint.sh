#!/usr/bin/env bash
# The one lint command: ruff (lint and format), mypy on core, qa, indexer and web, and the
# import contracts of pyproject.toml (layers run one way).
set -euo pipefail
cd "$(dirname "$0")/.."
bin=.venv/bin
"$bin/ruff" check .
"$bin/ruff" format --check .
"$bin/mypy"
"$bin/lint-imports"
