"""`_paths.resolve` is `Path.resolve()`, asked of the kernel: the same answer for every kind of path."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from codex_orchestrator._paths import resolve


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    (tmp_path / "real" / "deep" / "er").mkdir(parents=True)
    (tmp_path / "real" / "file").write_text("x")
    (tmp_path / "link").symlink_to(tmp_path / "real")
    (tmp_path / "real" / "up").symlink_to("..")
    (tmp_path / "rel").symlink_to("real/deep")
    (tmp_path / "chain").symlink_to("link")
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    (tmp_path / "loop").symlink_to("loop")
    (tmp_path / "real" / "named (deleted)").mkdir()
    return tmp_path


CASES = [
    ".", "real", "real/deep/er", "real/file", "link", "link/deep", "link/deep/..", "chain/deep/er/../..",
    "rel", "rel/..", "real/up", "real/up/real/up", "link/../real", "missing", "missing/child", "link/missing",
    "dangling", "dangling/child", "real/file/..", "real/file/x", "loop", "real/named (deleted)",
]


@pytest.mark.parametrize("name", CASES)
def test_the_same_answer_as_path_resolve(tree: Path, name: str) -> None:
    path = tree / name
    try:
        expected = path.resolve()
    except (OSError, RuntimeError) as exc:  # a loop: both refuse it the same way
        with pytest.raises(type(exc)):
            resolve(path)
        return
    assert resolve(path) == expected


def test_a_relative_path_is_taken_from_the_working_folder(tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tree / "link")
    assert resolve(Path("deep")) == Path("deep").resolve() == tree.resolve() / "real" / "deep"
    assert resolve(Path("")) == tree.resolve() / "real"


def test_a_folder_removed_while_it_is_the_working_folder(tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The kernel names it `<path> (deleted)`; that is not a path, so the slow walk answers, as it would."""
    gone = tree / "gone"
    gone.mkdir()
    monkeypatch.chdir(gone)
    os.rmdir(gone)
    with pytest.raises(FileNotFoundError):
        Path(".").resolve()
    with pytest.raises(FileNotFoundError):
        resolve(Path("."))
