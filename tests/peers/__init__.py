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


def codex_home_outside_tmp() -> Path:
    """A fresh CODEX_HOME for the real codex that is not under /tmp: its sandbox helper refuses to start
    from a temporary directory. The caller removes it (shutil.rmtree)."""
    import tempfile

    homes = HERE / ".homes"
    homes.mkdir(exist_ok=True)
    return Path(tempfile.mkdtemp(dir=homes))


def codex_sdk() -> Path:
    """The installed @openai/codex-sdk package directory (its ThreadEvent types and stream reader)."""
    return _need(NODE_MODULES / "@openai" / "codex-sdk", "@openai/codex-sdk")
