"""Shared by the security suite: the sandbox suite's `backend` fixture (both backends; never a silent skip
in CI), and a folder no writable root covers."""

from __future__ import annotations

from pathlib import Path

import pytest

from ..sandbox.conftest import backend


@pytest.fixture
def outside(tmp_path: Path, isolated_home: Path) -> Path:
    """A folder no writable root covers: the user's config keeps /tmp and $TMPDIR out (the tests live in /tmp)."""
    (isolated_home / ".codex" / "config.toml").write_text(
        "[sandbox_workspace_write]\nexclude_slash_tmp = true\nexclude_tmpdir_env_var = true\n")
    folder = tmp_path / "outside"
    folder.mkdir()
    return folder


__all__ = ["backend", "outside"]
