"""Which files are found, in what order, and what a bad file does."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path

import pytest
from instr_util import write

from codex_orchestrator.instructions import InstructionSet

Load = Callable[..., InstructionSet]


def paths(result: InstructionSet) -> list[tuple[str, str]]:
    return [(source.scope, source.path) for source in result.sources]


def test_order_across_all_levels(repo: Path, home: Path, load: Load) -> None:
    write(home / "AGENTS.md", "global\n")
    write(repo / "AGENTS.md", "root\n")
    write(repo / "docs" / "AGENTS.md", "repo docs\n")
    write(repo / "svc" / "AGENTS.md", "svc\n")
    write(repo / "svc" / "api" / "AGENTS.md", "api\n")
    write(repo / "svc" / ".agent" / "AGENTS.md", "project\n")
    write(repo / "elsewhere" / "AGENTS.md", "not on the path\n")

    result = load(repo / "svc" / "api")

    assert paths(result) == [
        ("global", str(home / "AGENTS.md")),
        ("repo", str(repo / "AGENTS.md")),
        ("repo", str(repo / "docs" / "AGENTS.md")),
        ("repo", str(repo / "svc" / "AGENTS.md")),
        ("repo", str(repo / "svc" / "api" / "AGENTS.md")),
        ("project", str(repo / "svc" / ".agent" / "AGENTS.md")),
    ]
    assert result.text == (
        "<!-- AGENTS.md: $CODEX_HOME/AGENTS.md (global) -->\nglobal\n\n"
        "<!-- AGENTS.md: AGENTS.md (repo) -->\nroot\n\n"
        "<!-- AGENTS.md: docs/AGENTS.md (repo) -->\nrepo docs\n\n"
        "<!-- AGENTS.md: svc/AGENTS.md (repo) -->\nsvc\n\n"
        "<!-- AGENTS.md: svc/api/AGENTS.md (repo) -->\napi\n\n"
        "<!-- AGENTS.md: svc/.agent/AGENTS.md (project) -->\nproject\n"
    )
    assert result.warnings == ()


def test_project_file_of_the_working_directory_beats_an_ancestors(repo: Path, load: Load) -> None:
    write(repo / ".agent" / "AGENTS.md", "repo-wide project\n")
    write(repo / "svc" / ".agent" / "AGENTS.md", "svc project\n")
    assert paths(load(repo / "svc")) == [("project", str(repo / "svc" / ".agent" / "AGENTS.md"))]
    assert paths(load(repo / "lib")) == [("project", str(repo / ".agent" / "AGENTS.md"))]


def test_override_files_beat_plain_ones(repo: Path, home: Path, load: Load) -> None:
    write(home / "AGENTS.md", "plain global\n")
    write(home / "AGENTS.override.md", "override global\n")
    write(repo / "AGENTS.md", "plain root\n")
    write(repo / "AGENTS.override.md", "override root\n")

    result = load(repo)

    assert [Path(p).name for _, p in paths(result)] == ["AGENTS.override.md", "AGENTS.override.md"]
    assert "plain" not in result.text
    assert "override global" in result.text and "override root" in result.text


def test_fallback_names_are_tried_after_agents_md(repo: Path, load: Load) -> None:
    write(repo / "CLAUDE.md", "root fallback\n")
    write(repo / "sub" / "AGENTS.md", "sub agents\n")
    write(repo / "sub" / "CLAUDE.md", "sub fallback\n")
    write(repo / "sub" / "deep" / "GUIDE.md", "deep second fallback\n")

    result = load(repo / "sub" / "deep", fallback_names=["CLAUDE.md", "GUIDE.md", "../escape.md"])

    assert [Path(p).relative_to(repo).as_posix() for _, p in paths(result)] == [
        "CLAUDE.md", "sub/AGENTS.md", "sub/deep/GUIDE.md",
    ]
    assert any("'../escape.md' is not a file name" in w for w in result.warnings)
    assert "CLAUDE.md" not in [Path(p).name for _, p in paths(load(repo / "sub" / "deep"))]


def test_empty_files_are_skipped_and_the_next_name_is_tried(repo: Path, load: Load) -> None:
    write(repo / "AGENTS.override.md", "  \n\t\n")
    write(repo / "AGENTS.md", "the real guidance\n")
    write(repo / "sub" / "AGENTS.md", "")
    result = load(repo / "sub")
    assert paths(result) == [("repo", str(repo / "AGENTS.md"))]
    assert result.warnings == ()


def test_outside_a_git_repository_only_the_working_directory_counts(tmp_path: Path, load: Load) -> None:
    write(tmp_path / "AGENTS.md", "parent, not a repo\n")
    work = tmp_path / "work"
    write(work / "AGENTS.md", "here\n")
    write(work / "docs" / "AGENTS.md", "docs here\n")
    result = load(work)
    assert [p for _, p in paths(result)] == [str(work / "AGENTS.md"), str(work / "docs" / "AGENTS.md")]


def test_a_git_file_marks_the_root_of_a_worktree(tmp_path: Path, load: Load) -> None:
    write(tmp_path / "AGENTS.md", "above the worktree\n")
    tree = tmp_path / "tree"
    write(tree / ".git", "gitdir: /somewhere/.git/worktrees/tree\n")
    write(tree / "AGENTS.md", "worktree root\n")
    write(tree / "pkg" / "AGENTS.md", "pkg\n")
    result = load(tree / "pkg")
    assert [p for _, p in paths(result)] == [str(tree / "AGENTS.md"), str(tree / "pkg" / "AGENTS.md")]


def test_the_same_file_is_never_included_twice(repo: Path, home: Path, load: Load) -> None:
    write(repo / "AGENTS.md", "root\n")
    (repo / "sub").mkdir()
    (repo / "sub" / "AGENTS.md").symlink_to(repo / "AGENTS.md")
    os.link(repo / "AGENTS.md", home / "AGENTS.md")  # a hard link is the same file too
    result = load(repo / "sub")
    assert paths(result) == [("global", str(home / "AGENTS.md"))]
    assert result.text.count("root") == 1


def test_a_symlinked_working_directory_is_resolved(repo: Path, tmp_path: Path, load: Load) -> None:
    write(repo / "AGENTS.md", "root\n")
    write(repo / "sub" / "AGENTS.md", "sub\n")
    link = tmp_path / "link"
    link.symlink_to(repo / "sub")
    assert paths(load(link)) == paths(load(repo / "sub"))


# Bad files: a warning naming the file, never an exception, and the next name still counts.


def test_invalid_utf8_is_replaced_and_reported(repo: Path, load: Load) -> None:
    write(repo / "AGENTS.md", b"use \xff\xfe tabs\n")
    result = load(repo)
    assert "use \ufffd\ufffd tabs" in result.text
    assert result.sources[0].bytes == len(b"use \xff\xfe tabs\n")
    assert result.warnings == (
        f"{repo / 'AGENTS.md'}: not valid UTF-8 (first bad byte at offset 4); "
        "invalid bytes replaced with U+FFFD",
    )


def test_a_directory_named_agents_md_falls_through(repo: Path, load: Load) -> None:
    (repo / "AGENTS.md").mkdir()
    write(repo / "CLAUDE.md", "fallback\n")
    result = load(repo, fallback_names=["CLAUDE.md"])
    assert paths(result) == [("repo", str(repo / "CLAUDE.md"))]
    assert result.warnings == (f"{repo / 'AGENTS.md'}: skipped: is a directory",)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads a chmod 000 file; the read-error test covers root")
def test_an_unreadable_file_is_reported(repo: Path, load: Load) -> None:
    path = write(repo / "AGENTS.md", "secret\n")
    path.chmod(0)
    try:
        result = load(repo)
    finally:
        path.chmod(stat.S_IRUSR | stat.S_IWUSR)
    assert result.sources == ()
    assert result.warnings == (f"{path}: skipped: permission denied",)


def test_a_file_that_fails_to_read_is_reported(repo: Path, load: Load) -> None:
    # /proc/self/mem opens as a regular file but reading offset 0 fails (EIO), even for root.
    (repo / "AGENTS.md").symlink_to("/proc/self/mem")
    write(repo / "sub" / "AGENTS.md", "sub\n")
    result = load(repo / "sub")
    assert paths(result) == [("repo", str(repo / "sub" / "AGENTS.md"))]
    assert len(result.warnings) == 1
    assert result.warnings[0].startswith(f"{repo / 'AGENTS.md'}: skipped: ")


def test_a_fifo_does_not_hang(repo: Path, load: Load) -> None:
    os.mkfifo(repo / "AGENTS.md")
    result = load(repo)
    assert result.warnings == (f"{repo / 'AGENTS.md'}: skipped: not a regular file",)


def test_symlink_loop_and_dangling_symlink(repo: Path, load: Load) -> None:
    (repo / "AGENTS.override.md").symlink_to("AGENTS.override.md")
    (repo / "AGENTS.md").symlink_to(repo / "missing.md")
    write(repo / "GUIDE.md", "still here\n")
    result = load(repo, fallback_names=["GUIDE.md"])
    assert paths(result) == [("repo", str(repo / "GUIDE.md"))]
    assert result.warnings == (
        f"{repo / 'AGENTS.override.md'}: skipped: symlink loop",
        f"{repo / 'AGENTS.md'}: skipped: dangling symlink",
    )


def test_a_missing_codex_home_and_working_directory_are_fine(tmp_path: Path, load: Load) -> None:
    result = load(tmp_path / "not-here", codex_home=tmp_path / "no-home")
    assert (result.text, result.sources, result.warnings) == ("", (), ())
