"""Known-safe commands: accepted ones really only read; refused ones really can write or run things."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from codex_orchestrator.tools.approvals.safe_commands import KNOWN_SAFE_PROGRAMS, is_known_safe

SAFE = [
    "ls -la", "cat a.txt", "pwd", "echo hi", "head -n 2 a.txt", "tail -n 1 a.txt", "wc -l a.txt",
    "grep -rn hello .", "which ls", "whoami", "id", "uname -a", "date -u", "true", "false", "stat a.txt",
    "file a.txt", "du -sh .", "df .", "printenv PATH", "env", "sort -r a.txt", "uniq a.txt",
    "cut -c1-3 a.txt",
    "tr a b", "diff a.txt b.txt", "cmp a.txt b.txt", "basename /x/y", "dirname /x/y", "realpath a.txt",
    "readlink -f a.txt", "nl a.txt", "seq 3", "find . -name '*.txt' -type f", "sed -n 1,2p a.txt",
    "sed -n '$p' a.txt", "tree -L 1", "rg hello", "rg -n --hidden hello .",
    "git status", "git --no-pager log --oneline -n 3", "git -C . diff HEAD", "git show HEAD --stat",
    "git branch", "git branch -a -vv", "git branch --list 'feat*'", "git branch --merged main",
    "git rev-parse HEAD", "git ls-files", "git blame a.txt", "git describe --always", "git remote -v",
    "git config --get user.name", "git config --list --show-origin", "git config get user.name",
]

UNSAFE = [
    "rm a.txt", "touch x", "cp a.txt c.txt", "python3 -c 1", "./ls", "/bin/ls", "",
    "find . -delete", "find . -exec rm {} +", "find . -execdir ls ;", "find . -ok rm {} ;",
    "find . -fprint out", "rg --pre cat hello", "rg --pre=cat hello", "rg -z hello", "rg --search-zip hello",
    "sort -o out a.txt", "sort --output=out a.txt", "sort -ro out a.txt", "sort --compress-program=gzip a",
    "uniq a.txt out.txt", "tree -o out", "tree -R -H . ", "env rm a.txt", "env FOO=1 ls", "date -s 2020-1-1",
    "file -C -m magic", "sed -i s/a/b/ a.txt", "sed s/a/b/w out a.txt", "sed -n 1p -i a.txt",
    "sed -n 'e ls' a.txt",
    "git push", "git commit -m x", "git -c core.pager=sh log", "git branch new-branch", "git branch -d main",
    "git branch -D main", "git branch -m a b", "git branch -c a b", "git remote add origin x",
    "git config user.name x", "git config --unset user.name", "git config --get user.name --file=x --add",
    "git diff --output=patch.txt", "git log --output=log.txt", "git diff --ext-diff", "git", "git -C",
    "git checkout main", "xargs rm",
]


@pytest.mark.parametrize("command", SAFE)
def test_known_safe(command: str) -> None:
    assert is_known_safe(shlex.split(command)), command


@pytest.mark.parametrize("command", UNSAFE)
def test_not_known_safe(command: str) -> None:
    assert not is_known_safe(shlex.split(command)), command


@pytest.mark.parametrize(("script", "safe"), [
    ("git status && ls -la | wc -l", True),
    ("cat a.txt | sort | uniq; pwd", True),
    ("ls || echo none", True),
    ("ls && rm a.txt", False),
    ("ls > listing.txt", False),
    ("cat $(echo a.txt)", False),
    ("echo `rm a.txt`", False),
    ("ls; touch x", False),
    ("FOO=1 ls", False),
    ("ls &", False),
])
def test_shell_chains_are_safe_only_if_every_command_is(script: str, safe: bool) -> None:
    assert is_known_safe(["bash", "-lc", script]) is safe
    assert is_known_safe(["sh", "-c", script]) is safe


def _snapshot(root: Path) -> dict[str, tuple[int, bytes]]:
    out = {}
    for path in sorted(root.rglob("*")):
        if ".git" in path.relative_to(root).parts:
            continue  # git may refresh its own index on `status`; the work tree is what matters
        out[str(path.relative_to(root))] = (path.stat().st_mode, path.read_bytes() if path.is_file() else b"")
    return out


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    root = tmp_path / "w"
    root.mkdir()
    (root / "a.txt").write_text("hello\nworld\nhello\n")
    (root / "b.txt").write_text("hello\n")
    if shutil.which("git"):
        env = {**os.environ, "GIT_CONFIG_NOSYSTEM": "1", "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t",
               "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}
        for step in (["init", "-q", "-b", "main"], ["add", "a.txt"], ["commit", "-qm", "init"]):
            subprocess.run(["git", *step], cwd=root, env=env, check=True, capture_output=True)
    return root


def test_accepted_commands_really_leave_the_tree_unchanged(workdir: Path) -> None:
    before = _snapshot(workdir)
    ran = 0
    for command in SAFE:
        argv = shlex.split(command)
        if shutil.which(argv[0]) is None:
            continue
        subprocess.run(argv, cwd=workdir, stdin=subprocess.DEVNULL, capture_output=True, timeout=30)
        ran += 1
        assert _snapshot(workdir) == before, f"{command!r} changed the directory"
    assert ran >= len(SAFE) // 2


@pytest.mark.parametrize("command", [
    "sort -o out a.txt", "uniq a.txt out.txt", "find . -name b.txt -delete", "tree -o out",
    "git diff --output=patch.txt HEAD", "git branch new-branch",
])
def test_refused_options_really_write(workdir: Path, command: str) -> None:
    """Each refusal guards against a real write: prove the refused form does change the tree."""
    argv = shlex.split(command)
    if shutil.which(argv[0]) is None:
        pytest.skip(f"{argv[0]} is not installed here")
    assert not is_known_safe(argv)
    before = _snapshot(workdir)
    branches_before = _branches(workdir)
    subprocess.run(argv, cwd=workdir, stdin=subprocess.DEVNULL, capture_output=True, timeout=30)
    assert _snapshot(workdir) != before or _branches(workdir) != branches_before


def _branches(root: Path) -> list[str]:
    heads = root / ".git" / "refs" / "heads"
    return sorted(p.name for p in heads.iterdir()) if heads.is_dir() else []


def test_the_documented_list_matches_the_code() -> None:
    docs = Path(__file__).resolve().parents[2] / "docs" / "approvals.md"
    text = docs.read_text()
    for program in KNOWN_SAFE_PROGRAMS:
        assert f"`{program}`" in text, program
