from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from codex_orchestrator.instructions import InstructionSet, load_instructions


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """An empty $CODEX_HOME, so the user's real one never leaks into a test."""
    path = tmp_path / "codex-home"
    path.mkdir()
    return path


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    path = tmp_path / "repo"
    (path / ".git").mkdir(parents=True)
    return path


@pytest.fixture
def load(home: Path) -> Callable[..., InstructionSet]:
    def run(cwd: Path, **kwargs: object) -> InstructionSet:
        kwargs.setdefault("codex_home", home)
        return load_instructions(cwd, **kwargs)  # type: ignore[arg-type]

    return run
