"""Fixtures for the codex stage tests: the real `codex` binary, a fake model on loopback, a CODEX_HOME.

The CODEX_HOME is made outside /tmp (the real Codex cannot sandbox commands from one under /tmp) and
points Codex at the fake model; the environment given to the CLI names the binary through the trusted
CODEX_ORCHESTRATOR_CODEX_BIN.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ..fakemodel import FakeModel, codex_home_dir
from ..peers import codex_bin


@pytest.fixture
def model() -> Iterator[FakeModel]:
    with FakeModel() as fake:
        yield fake


@pytest.fixture
def codex_home(model: FakeModel) -> Iterator[Path]:
    for path in codex_home_dir():
        model.codex_home(path)
        yield path


@pytest.fixture
def codex_env(codex_home: Path) -> dict[str, str]:
    return {"CODEX_HOME": str(codex_home), "CODEX_ORCHESTRATOR_CODEX_BIN": str(codex_bin())}
