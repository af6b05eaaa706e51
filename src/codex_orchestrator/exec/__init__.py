"""Runtime primitives for running commands: streaming, bounded buffers, process groups, PTY sessions.

Only the standard library is imported, and lazily enough that importing this
package costs little. See docs/exec.md for the design.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_exports

if TYPE_CHECKING:  # pragma: no cover
    from .buffer import HeadTailBuffer
    from .cancel import CancelToken
    from .chunker import MAX_CHUNK_BYTES, Chunk, Utf8Chunker
    from .env import child_env
    from .process import ChunkSink, ProcessOutcome, SpawnError, StreamResult, run_pipes
    from .pty_shell import SHELL_ARGV, PtyOutcome, PtyShell, SessionBusyError, SessionClosedError
    from .sessions import ExecSessionManager

# Re-exported lazily: the CLI imports single modules (e.g. `exec.cancel`) and
# must not pay for the PTY and process machinery it does not use.
_EXPORTS = {
    "HeadTailBuffer": "buffer",
    "CancelToken": "cancel",
    "MAX_CHUNK_BYTES": "chunker",
    "Chunk": "chunker",
    "Utf8Chunker": "chunker",
    "child_env": "env",
    "ChunkSink": "process",
    "ProcessOutcome": "process",
    "SpawnError": "process",
    "StreamResult": "process",
    "run_pipes": "process",
    "SHELL_ARGV": "pty_shell",
    "PtyOutcome": "pty_shell",
    "PtyShell": "pty_shell",
    "SessionBusyError": "pty_shell",
    "SessionClosedError": "pty_shell",
    "ExecSessionManager": "sessions",
}


__getattr__ = lazy_exports(__name__, _EXPORTS)


__all__ = [
    "MAX_CHUNK_BYTES",
    "SHELL_ARGV",
    "CancelToken",
    "Chunk",
    "ChunkSink",
    "ExecSessionManager",
    "HeadTailBuffer",
    "ProcessOutcome",
    "PtyOutcome",
    "PtyShell",
    "SessionBusyError",
    "SessionClosedError",
    "SpawnError",
    "StreamResult",
    "Utf8Chunker",
    "child_env",
    "run_pipes",
]
