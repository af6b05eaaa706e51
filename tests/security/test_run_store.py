"""The orchestrator's own writes never follow a link (W2-1 item 7): a repository that ships the run store
as symlinks, or a command that swaps the run directory for one, cannot make it write elsewhere."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

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


@pytest.mark.parametrize("name", ["out/default/state.json", "out/default/state.json.lock",
                                  ".runs/default/metrics.json", ".runs/default/metrics.json.lock"])
def test_a_shipped_fifo_in_the_store_is_refused_not_waited_on(repo: Repo, name: str) -> None:
    """A FIFO where a store file should be would block its open until a writer came, past SIGTERM: every
    run of the repository would hang. It is refused at once, naming it."""
    path = repo.root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    os.mkfifo(path)
    result = repo.run("exec", "--jsonl", "--", "true", timeout=30)
    assert result.returncode == 2, result.stderr
    assert "is not a regular file" in result.stderr and name in result.stderr


def test_an_unsandboxed_command_cannot_redirect_the_rest_of_the_run(repo: Repo, outside: Path) -> None:
    """Even outside the sandbox (the user's own choice), swapping the run directory for a link does not
    make the orchestrator write through it: it refuses, naming the path."""
    command = (f'd=$(ls -d .runs/default/cli/* | tail -n1); mv "$d" "$d.moved" && ln -s "{outside}" "$d"')
    result = repo.run("exec", "--jsonl", "--sandbox", "danger-full-access", "--", command)
    assert result.returncode == 2, result.stderr
    assert "never follows a link" in result.stderr
    _untouched(outside)


def test_a_reused_directory_handle_never_writes_through_a_link_swapped_in_later(tmp_path: Path) -> None:
    """Writes reuse the directories they opened link-free (_files._VerifiedDirs); a component replaced by a
    symlink since (the directory moved elsewhere and a link left in its place) is refused, as a fresh
    walk refuses it, instead of writing into the moved directory through the kept descriptor."""
    from codex_orchestrator._files import write_text_atomic

    root = tmp_path / "repo"
    root.mkdir()
    target = root / ".runs" / "task" / "cli" / "run"
    write_text_atomic(target / "manifest.json", "{}\n", within=root)
    write_text_atomic(target / "manifest.json", "{}\n", within=root)  # the second write uses the kept handle
    _swap_task_for_a_link_and_write(tmp_path, root, target, "{}\n")


def _swap_task_for_a_link_and_write(tmp_path: Path, root: Path, run_dir: Path, kept: str) -> None:
    """Move the task's folder away, leave a link to it in its place: a write below it must be refused, and
    the run's manifest left as it was (`kept`)."""
    from codex_orchestrator._files import write_text_atomic
    from codex_orchestrator.errors import UnsafePathError

    moved = tmp_path / "elsewhere"
    (root / ".runs" / "task").rename(moved)
    (root / ".runs" / "task").symlink_to(moved)
    with pytest.raises(UnsafePathError, match="symbolic link"):
        write_text_atomic(run_dir / "manifest.json", '{"swapped": true}\n', within=root)
    assert (moved / "cli" / "run" / "manifest.json").read_text() == kept


def test_a_handle_kept_across_our_own_rename_is_reused_and_still_checked(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """A run directory built under a hidden name and renamed into place (RunStore.publish) keeps its handle
    under the new name, so the next write there opens only its own file; and that handle is checked like
    any other: a component swapped for a link since is refused."""
    from codex_orchestrator import _files
    from codex_orchestrator._files import move_aside, write_text_atomic

    root = tmp_path / "repo"
    root.mkdir()
    staging = root / ".runs" / "task" / "cli" / ".run.creating"
    write_text_atomic(staging / "manifest.json", "{}\n", within=root)
    final = move_aside(staging, "", within=root, to=staging.with_name("run"))
    opened: list[str] = []
    real_open = os.open

    def counting_open(path: Any, *args: Any, **kwargs: Any) -> int:
        opened.append(str(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(_files.os, "open", counting_open)
    write_text_atomic(final / "manifest.json", '{"n": 1}\n', within=root)
    assert len(opened) == 1 and opened[0].endswith(".tmp")  # the temporary file only: no walk from the root
    _swap_task_for_a_link_and_write(tmp_path, root, final, '{"n": 1}\n')
