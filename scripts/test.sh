#!/usr/bin/env bash
# Set up (idempotent) and run every test: the Python suite with pytest, and the
# Node SDK's tests with `node --test` once the SDK exists.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --dev
.venv/bin/python -m pytest "$@"
if [ -f sdk/node/package.json ]; then
  (cd sdk/node && npm install --no-audit --no-fund --silent && npm test)
fi
