"""The OS sandbox: confine a command to the Codex sandbox modes.

Two backends enforce the same layout (docs/sandbox.md): the built-in one
(user, mount and network namespaces plus Landlock, set up in the forked child)
and bubblewrap. Importing this package is cheap; the backends, and ctypes,
load only when a command is prepared.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_exports

if TYPE_CHECKING:  # pragma: no cover
    from .check import BackendReport, available_backends, check_report
    from .denial import is_likely_denial
    from .policy import SandboxMode, SandboxPolicy
    from .spawn import SandboxedSpawn, default_backend, prepare

# Re-exported lazily: `sandbox check` machinery and the backends load only when used.
_EXPORTS = {
    "BackendReport": "check",
    "available_backends": "check",
    "check_report": "check",
    "is_likely_denial": "denial",
    "SandboxMode": "policy",
    "SandboxPolicy": "policy",
    "SandboxedSpawn": "spawn",
    "default_backend": "spawn",
    "prepare": "spawn",
}


__getattr__ = lazy_exports(__name__, _EXPORTS)


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
