"""codex-orchestrator: one autonomy layer for the commands of coding-agent work.

The public surface is small and re-exported here lazily, so that importing the
package (which the CLI does on every run) costs nothing beyond the version.
"""

from __future__ import annotations

from ._lazy import lazy_exports

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (mypy knows the name)

__version__ = "0.1.0"

__all__ = [
    "ApprovalRequest",
    "AsyncOrchestrator",
    "ConfigError",
    "ExecResult",
    "Orchestrator",
    "OrchestratorError",
    "RunResult",
    "SandboxUnavailableError",
    "Session",
    "UsageError",
    "__version__",
]

if TYPE_CHECKING:  # pragma: no cover
    from .api.client import ApprovalRequest, AsyncOrchestrator, ExecResult, Orchestrator, RunResult, Session
    from .errors import ConfigError, OrchestratorError, SandboxUnavailableError, UsageError

_EXPORTS = {
    "Orchestrator": "api.client",
    "AsyncOrchestrator": "api.client",
    "ExecResult": "api.client",
    "RunResult": "api.client",
    "ApprovalRequest": "api.client",
    "Session": "api.client",
    "OrchestratorError": "errors",
    "ConfigError": "errors",
    "UsageError": "errors",
    "SandboxUnavailableError": "errors",
}


__getattr__ = lazy_exports(__name__, _EXPORTS)
