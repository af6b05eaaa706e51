"""The orchestrator's own writes never follow a link (W2-1 item 7): a repository that ships the run store
as symlinks, or a command that swaps the run directory for one, cannot make it write elsewhere."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ..conftest import Repo


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    folder = tmp_path / "outside"
    folder.mkdir()
    (folder / "precious").write_text("keep me\n")
    return folder


def _untouched(outside: Path) -> None:
    assert sorted(p.name for p in outside.iterdir()) == ["precious"]
    assert (outside / "precious").read_text() == "keep me\n"


@pytest.mark.parametrize("link", [".runs", ".runs/default", ".runs/default/cli", "out", "out/default"])
def test_a_shipped_symlinked_store_directory_is_refused(repo: Repo, outside: Path, link: str) -> None:
    path = repo.root / link
    path.parent.mkdir(parents=True, exist_ok=True)
    path.symlink_to(outside)
    result = repo.run("exec", "--jsonl", "--", "true")
    assert result.returncode == 2, result.stderr
    assert "never follows a link" in result.stderr and link in result.stderr
    _untouched(outside)


@pytest.mark.parametrize("link", ["out/default/state.json", "out/default/state.json.lock",
                                  ".runs/default/metrics.json", ".runs/default/metrics.json.lock"])
def test_a_shipped_symlinked_store_file_is_refused(repo: Repo, outside: Path, link: str) -> None:
    path = repo.root / link
    path.parent.mkdir(parents=True, exist_ok=True)
    path.symlink_to(outside / "precious")
    result = repo.run("exec", "--jsonl", "--", "true")
    assert result.returncode == 2, result.stderr
    assert "symbolic link" in result.stderr
    _untouched(outside)
    assert os.path.islink(path)


def test_an_unsandboxed_command_cannot_redirect_the_rest_of_the_run(repo: Repo, outside: Path) -> None:
    """Even outside the sandbox (the user's own choice), swapping the run directory for a link does not
    make the orchestrator write through it: it refuses, naming the path."""
    command = (f'd=$(ls -d .runs/default/cli/* | tail -n1); mv "$d" "$d.moved" && ln -s "{outside}" "$d"')
    result = repo.run("exec", "--jsonl", "--sandbox", "danger-full-access", "--", command)
    assert result.returncode == 2, result.stderr
    assert "never follows a link" in result.stderr
    _untouched(outside)
