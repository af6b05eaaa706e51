#!/usr/bin/env bash
# Set up everything the project needs on a fresh machine (Python 3.11, Node 20, git):
# a virtualenv in .venv with the package (and, with --dev, the test tools), and
# bubblewrap when apt is available (the sandbox works without it; tests cover both).
set -euo pipefail
cd "$(dirname "$0")/.."

dev=0
[ "${1:-}" = "--dev" ] && dev=1

if ! command -v bwrap >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  echo "setup: installing bubblewrap" >&2
  (apt-get install -y -q bubblewrap >/dev/null 2>&1 || { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q bubblewrap >/dev/null 2>&1; }) \
    || echo "setup: bubblewrap not installed; the built-in Landlock sandbox will be used" >&2
fi

say() { echo "setup: $*" >&2; }

python=${PYTHON:-python3.11}
command -v "$python" >/dev/null 2>&1 || python=python3
if [ ! -x .venv/bin/python ]; then
  say "creating the virtualenv .venv with $("$python" --version 2>&1)"
  "$python" -m venv .venv
fi
say "updating pip"
.venv/bin/python -m pip install -q --upgrade pip >/dev/null 2>&1 || true
if [ "$dev" = 1 ]; then
  say "installing codex-orchestrator and the test tools into .venv (pip; about 20 s the first time)"
  .venv/bin/python -m pip install -q -e '.[dev]'
else
  say "installing codex-orchestrator into .venv (pip)"
  .venv/bin/python -m pip install -q -e .
fi
if [ "$dev" = 1 ]; then
  if command -v npm >/dev/null 2>&1; then
    say "installing the test peers (the real codex CLI and the reference orchestrator) with npm"
    (cd tests/peers && npm install --no-audit --no-fund --silent >/dev/null) \
      || say "npm install of the test peers failed; tests that need them skip (and fail under CI=true)"
  else
    say "npm not found: tests that need the codex CLI or the reference skip (and fail under CI=true)"
  fi
fi
# Byte-compile once so that every CLI start-up skips compiling (PYTHONDONTWRITEBYTECODE may be set).
say "byte-compiling src/"
.venv/bin/python -m compileall -q src >/dev/null
say "ready: .venv/bin/codex-orchestrator"
