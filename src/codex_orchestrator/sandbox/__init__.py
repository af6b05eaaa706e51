"""The OS sandbox: confine a command to the Codex sandbox modes.

Two backends enforce the same layout (docs/sandbox.md): the built-in one
(user, mount and network namespaces plus Landlock, set up in the forked child)
and bubblewrap. Importing this package is cheap; the backends, and ctypes,
load only when a command is prepared.
"""

from __future__ import annotations

from .check import BackendReport, available_backends, check_report
from .denial import is_likely_denial
from .policy import SandboxMode, SandboxPolicy
from .spawn import SandboxedSpawn, default_backend, prepare

__all__ = [
    "BackendReport",
    "SandboxMode",
    "SandboxPolicy",
    "SandboxedSpawn",
    "available_backends",
    "check_report",
    "default_backend",
    "is_likely_denial",
    "prepare",
]
