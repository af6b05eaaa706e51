"""What a sandboxed command may touch: the three Codex sandbox modes, as data.

This module only describes a policy; `layout.py` turns it into concrete paths
and the backends enforce it. It imports nothing heavy so that configuration code
can build a policy without loading the sandbox machinery.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from enum import StrEnum
from pathlib import Path

from .._record import record


class SandboxMode(StrEnum):
    READ_ONLY = "read-only"
    WORKSPACE_WRITE = "workspace-write"
    DANGER_FULL_ACCESS = "danger-full-access"


@record(frozen=True)
class SandboxPolicy:
    mode: SandboxMode
    writable_roots: tuple[Path, ...] = ()  # extra roots besides cwd
    network_access: bool = False
    exclude_tmpdir_env_var: bool = False
    exclude_slash_tmp: bool = False
    # Paths the orchestrator itself writes (the run store) that must stay read-only inside the sandbox
    # even though they lie in a writable root: a command must not forge its own records.
    protected_paths: tuple[Path, ...] = ()

    def resolved_writable_roots(self, cwd: Path, env: Mapping[str, str]) -> list[Path]:
        """The directories a command may write below, absolute, symlinks resolved, without duplicates.

        Symlinks are resolved because both backends act on the real location:
        Landlock follows the path to its inode and a bind mount follows links.
        Only `workspace-write` has writable roots; `danger-full-access` is not
        confined at all, so it has none to list.
        """
        if self.mode is not SandboxMode.WORKSPACE_WRITE:
            return []
        candidates: list[Path] = [cwd, *(cwd / root for root in self.writable_roots)]
        if not self.exclude_slash_tmp:
            candidates.append(Path("/tmp"))
        tmpdir = env.get("TMPDIR")
        if tmpdir and not self.exclude_tmpdir_env_var:
            candidates.append(cwd / tmpdir)
        roots: list[Path] = []
        for candidate in candidates:
            real = Path(os.path.realpath(candidate))
            if real not in roots:
                roots.append(real)
        return roots

    @property
    def network_blocked(self) -> bool:
        """Only workspace-write can open the network; read-only never does, full access always does."""
        if self.mode is SandboxMode.DANGER_FULL_ACCESS:
            return False
        return not (self.mode is SandboxMode.WORKSPACE_WRITE and self.network_access)
