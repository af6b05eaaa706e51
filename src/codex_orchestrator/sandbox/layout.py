"""Turn a policy into the concrete filesystem layout both backends enforce.

A Landlock grant, like a bind mount, covers a whole directory tree. Writing a
repository's `.git` would let a command rewrite hooks or config that later run
outside the sandbox, and `.codex` holds the agent's own settings, so inside
every writable root those stay read-only. They are computed once here so the
built-in and the bubblewrap backend protect exactly the same paths.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from .._record import record

if TYPE_CHECKING:
    from .policy import SandboxPolicy

PROTECTED_NAMES = (".git", ".codex", ".agents")


@record(frozen=True)
class FsLayout:
    writable: tuple[Path, ...]  # existing writable roots, real paths
    read_only: tuple[Path, ...]  # existing paths inside a writable root that must stay read-only
    network: bool


def _inside(path: Path, roots: tuple[Path, ...]) -> bool:
    return any(path == root or path.is_relative_to(root) for root in roots)


def _git_dirs(dot_git: Path) -> list[Path]:
    """The directories a `.git` entry stands for: itself, or the gitdir a `.git` file points to.

    A worktree or submodule has a `.git` *file* ("gitdir: <path>"); its gitdir
    in turn may name the shared repository in a `commondir` file. Both hold
    hooks and config, so both are protected.
    """
    if dot_git.is_dir():
        return [Path(os.path.realpath(dot_git))]
    # The pointer file itself first: rewritten to name a fresh gitdir with `core.fsmonitor`, it would
    # make the user's next `git status` run a command of the sandboxed one's choosing (Codex protects it too).
    pointer = [Path(os.path.realpath(dot_git))] if dot_git.is_file() else []
    try:
        text = dot_git.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    first = text.splitlines()[0] if text else ""
    if not first.startswith("gitdir:"):
        return pointer
    gitdir = Path(os.path.realpath(dot_git.parent / first.partition(":")[2].strip()))
    if not gitdir.is_dir():
        return pointer
    found = [*pointer, gitdir]
    try:
        common = (gitdir / "commondir").read_text(encoding="utf-8", errors="replace").strip()
    except OSError:
        return found
    if common:
        common_dir = Path(os.path.realpath(gitdir / common))
        if common_dir.is_dir():
            found.append(common_dir)
    return found


def build_layout(policy: SandboxPolicy, cwd: Path, env: Mapping[str, str]) -> FsLayout:
    writable = tuple(root for root in policy.resolved_writable_roots(cwd, env) if root.exists())
    roots = [root for root in writable if root.is_dir()]
    dot_gits = [root / ".git" for root in roots]
    # Also the repository the command runs in, found from cwd upwards: when cwd is a subfolder of
    # a repo that lies under another writable root (a checkout in /tmp, say), its `.git` is at no root.
    enclosing = next((folder / ".git" for folder in (cwd, *cwd.parents) if (folder / ".git").exists()), None)
    if enclosing is not None:
        dot_gits.append(enclosing)
    candidates = [path for dot_git in dot_gits for path in _git_dirs(dot_git)]
    candidates += [Path(os.path.realpath(root / name)) for root in roots for name in PROTECTED_NAMES[1:]
                   if (root / name).exists()]
    candidates += [Path(os.path.realpath(path)) for path in policy.protected_paths if os.path.lexists(path)]
    # Outside every writable root a path is read-only already; no mount needed.
    protected = [path for path in dict.fromkeys(candidates) if _inside(path, writable)]
    return FsLayout(writable=writable, read_only=tuple(protected), network=not policy.network_blocked)
