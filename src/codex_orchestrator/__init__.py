"""codex-orchestrator: one autonomy layer for the commands of coding-agent work.

The public surface is small and re-exported here lazily, so that importing the
package (which the CLI does on every run) costs nothing beyond the version.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = [
    "ConfigError",
    "OrchestratorError",
    "SandboxUnavailableError",
    "UsageError",
    "__version__",
]

if TYPE_CHECKING:  # pragma: no cover
    from .errors import ConfigError, OrchestratorError, SandboxUnavailableError, UsageError

_LAZY = {
    "OrchestratorError": "errors",
    "ConfigError": "errors",
    "UsageError": "errors",
    "SandboxUnavailableError": "errors",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'codex_orchestrator' has no attribute {name!r}")
    from importlib import import_module

    return getattr(import_module(f".{module}", __name__), name)
