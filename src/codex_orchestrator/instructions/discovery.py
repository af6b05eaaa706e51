"""Find the AGENTS.md files that apply to a working directory, and read them safely.

The walk is the Codex CLI's, plus the two files of this project's layout:

1. global: `$CODEX_HOME/AGENTS.override.md`, else `$CODEX_HOME/AGENTS.md`;
2. repo: each folder from the git root down to the working directory, taking the
   first of `AGENTS.override.md`, `AGENTS.md`, then the configured fallback names;
   `docs/AGENTS.md` at the git root counts as part of the root folder's guidance;
3. project: `.agent/AGENTS.md` of the nearest folder, from the working directory
   up to the git root, that has one.

A file that cannot be used (a directory, a FIFO, a dangling symlink, a symlink
loop, a read error) is reported and the folder's next name is tried: a bad file
must never cost the user the guidance next to it, nor crash a run. Outside a git
repository the working directory stands in for the root.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from .._record import record

if TYPE_CHECKING:
    from .model import Scope

OVERRIDE_NAME = "AGENTS.override.md"
DEFAULT_NAME = "AGENTS.md"
REPO_DOC = ("docs", "AGENTS.md")
PROJECT_DOC = (".agent", "AGENTS.md")


@record(frozen=True)
class Candidate:
    """One place that contributes at most one file: the first usable path of `paths`."""

    paths: tuple[Path, ...]
    scope: Scope


@record(frozen=True)
class Document:
    path: Path
    scope: Scope
    label: str  # how the composed text names the file: relative to the root, or under $CODEX_HOME
    data: bytes  # the file's bytes, whole
    text: str  # decoded, with invalid bytes replaced


def find_git_root(start: Path) -> Path | None:
    """The nearest folder holding a `.git` directory, or a `.git` file (worktrees, submodules)."""
    for folder in (start, *start.parents):
        marker = folder / ".git"
        if marker.is_dir() or marker.is_file():
            return folder
    return None


def folder_names(fallback_names: Iterable[str], warnings: list[str]) -> tuple[str, ...]:
    """The names tried in each repo folder, in order; a fallback that is not a plain name is refused."""
    names = [OVERRIDE_NAME, DEFAULT_NAME]
    for name in fallback_names:
        if not name or name in (".", "..") or "/" in name or "\0" in name:
            warnings.append(f"project_doc_fallback_filenames: {name!r} is not a file name; ignored")
        elif name not in names:
            names.append(name)
    return tuple(names)


def candidates(
    cwd: Path,
    root: Path,
    *,
    codex_home: Path,
    fallback_names: Sequence[str],
    include_repo: bool,
    warnings: list[str],
) -> list[Candidate]:
    """Every place to look, in composition order (global, root to leaf, project).

    `root` is the git root of `cwd`, or `cwd` itself outside a repository.
    """
    found = [Candidate((codex_home / OVERRIDE_NAME, codex_home / DEFAULT_NAME), "global")]
    if not include_repo:
        return found
    names = folder_names(fallback_names, warnings)
    chain: list[Path] = []
    for folder in (cwd, *cwd.parents):
        chain.append(folder)
        if folder == root:
            break
    chain.reverse()
    for folder in chain:
        found.append(Candidate(tuple(folder / name for name in names), "repo"))
        if folder == root:
            found.append(Candidate((root.joinpath(*REPO_DOC),), "repo"))
    for folder in reversed(chain):
        project_doc = folder.joinpath(*PROJECT_DOC)
        if os.path.lexists(project_doc):
            found.append(Candidate((project_doc,), "project"))
            break
    return found


def label(path: Path, scope: Scope, root: Path) -> str:
    if scope == "global":
        return f"$CODEX_HOME/{path.name}"
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return str(path)


def read_documents(places: Sequence[Candidate], *, root: Path, warnings: list[str]) -> list[Document]:
    """The file each place contributes. The same file (by device and inode, so symlinks and
    hard links count) is never read twice: a place whose file was already used contributes nothing."""
    seen: set[tuple[int, int]] = set()
    documents: list[Document] = []
    for place in places:
        for path in place.paths:
            if not os.path.lexists(path):
                continue
            result = _read(path)
            if isinstance(result, str):
                warnings.append(f"{path}: skipped: {result}")
                continue
            data, identity = result
            if identity in seen:
                break
            text = _decode(path, data, warnings)
            if not text.strip():
                continue  # empty: the next name in this folder may still have something to say
            seen.add(identity)
            name = label(path, place.scope, root)
            documents.append(Document(path, place.scope, name, data, text))
            break
    return documents


def _read(path: Path) -> tuple[bytes, tuple[int, int]] | str:
    """The file's bytes and identity, or why it cannot be used.

    O_NONBLOCK keeps a FIFO named AGENTS.md from hanging the run; it is then
    refused as not a regular file before anything is read.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        return _reason(exc)
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            return "is a directory"
        if not stat.S_ISREG(info.st_mode):
            return "not a regular file"
        chunks = []
        while chunk := os.read(fd, 1 << 16):
            chunks.append(chunk)
        return b"".join(chunks), (info.st_dev, info.st_ino)
    except OSError as exc:
        return _reason(exc)
    finally:
        os.close(fd)


def _reason(exc: OSError) -> str:
    if exc.errno == errno.ELOOP:
        return "symlink loop"
    if exc.errno == errno.ENOENT:
        return "dangling symlink"
    if exc.errno in (errno.EACCES, errno.EPERM):
        return "permission denied"
    return f"cannot read: {exc.strerror or exc}"


def _decode(path: Path, data: bytes, warnings: list[str]) -> str:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        warnings.append(
            f"{path}: not valid UTF-8 (first bad byte at offset {exc.start}); "
            "invalid bytes replaced with U+FFFD"
        )
        text = data.decode("utf-8", "replace")
    return text.removeprefix("\ufeff")
