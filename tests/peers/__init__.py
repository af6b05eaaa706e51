"""Where the test peers live: the real `codex` CLI and the reference orchestrator, from npm.

`scripts/setup.sh --dev` installs both into `tests/peers/node_modules` (pinned in
`tests/peers/package.json`). Tests that need one call `codex_bin()` / `reference_package()`;
under `CI=true` a missing peer is a failure, elsewhere the test skips with the reason.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
NODE_MODULES = HERE / "node_modules"


def _need(path: Path, what: str) -> Path:
    if path.exists():
        return path
    reason = f"{what} is not installed at {path}: run `bash scripts/setup.sh --dev`"
    if os.environ.get("CI") == "true":
        pytest.fail(reason)
    pytest.skip(reason)


def codex_bin() -> Path:
    """The real `codex` binary (npm @openai/codex, version pinned in package.json)."""
    return _need(NODE_MODULES / ".bin" / "codex", "@openai/codex")


def reference_package() -> Path:
    """The installed reference orchestrator package directory (@kbediako/codex-orchestrator)."""
    return _need(NODE_MODULES / "@kbediako" / "codex-orchestrator", "@kbediako/codex-orchestrator")
