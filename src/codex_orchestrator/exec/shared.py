"""The PTY sessions of a long-lived caller (the server, the MCP server, the Python API), made on first use.

Importing the session manager loads `pty` and `termios`; a process that never opens a session
should not pay for it, and every caller needs the same lazy, thread-safe holder.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from .sessions import ExecSessionManager


class SharedSessions:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._manager: ExecSessionManager | None = None

    def get(self) -> ExecSessionManager:
        """The manager (made now if needed); sessions live until `close_all`, never closed for being idle."""
        with self._lock:
            if self._manager is None:
                from .sessions import ExecSessionManager

                self._manager = ExecSessionManager(idle_timeout=None)
            return self._manager

    def close_all(self) -> None:
        """End every session shell; a later `get` starts afresh."""
        with self._lock:
            manager, self._manager = self._manager, None
        if manager is not None:
            manager.close_all()
