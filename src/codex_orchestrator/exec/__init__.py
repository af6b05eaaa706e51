"""Runtime primitives for running commands: streaming, bounded buffers, process groups, PTY sessions.

Only the standard library is imported, and lazily enough that importing this
package costs little. See docs/exec.md for the design.
"""

from __future__ import annotations

from .buffer import HeadTailBuffer
from .cancel import CancelToken
from .chunker import MAX_CHUNK_BYTES, Chunk, Utf8Chunker
from .env import child_env
from .process import ChunkSink, ProcessOutcome, SpawnError, StreamResult, run_pipes
from .pty_shell import SHELL_ARGV, PtyOutcome, PtyShell, SessionBusyError, SessionClosedError
from .sessions import ExecSessionManager

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
