#!/usr/bin/env bash
# Set up (idempotent) and run the main job: the repository's default pipeline
# (the built-in diagnostics when none is configured), with a live view.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --dev  # the repo's own pipeline runs ruff and mypy
exec .venv/bin/codex-orchestrator start "$@"
