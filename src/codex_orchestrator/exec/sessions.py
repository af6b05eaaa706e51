"""The set of live PTY sessions, bounded like Codex's unified exec.

Each session is a shell process and a terminal, so their number is capped. When
the cap is reached the least recently used session is closed, except that the
few most recently *created* ones are never evicted: an agent that just opened a
session is about to use it, and evicting it would break the very next call.
Idle sessions are closed by `reap_idle`, which the caller runs from time to time.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .pty_shell import PtyShell
    from .snapshot import ShellSnapshots

MAX_SESSIONS = 64
PROTECTED_NEWEST = 8
IDLE_TIMEOUT = 1800.0


class ExecSessionManager:
    def __init__(self, max_sessions: int = MAX_SESSIONS, protected_newest: int = PROTECTED_NEWEST,
                 idle_timeout: float | None = IDLE_TIMEOUT) -> None:
        if max_sessions < 1:
            raise ValueError("max_sessions must be at least 1")
        self.max_sessions = max_sessions
        self.protected_newest = protected_newest
        self.idle_timeout = idle_timeout
        self._lock = threading.Lock()
        self._sessions: dict[str, PtyShell] = {}  # in creation order
        self._snapshots: ShellSnapshots | None = None

    @property
    def snapshots(self) -> ShellSnapshots:
        """The shell snapshots of the same long-lived caller (exec/snapshot.py): the caller that keeps
        sessions across calls is the one whose many `bash -lc` commands are worth a snapshot."""
        with self._lock:
            if self._snapshots is None:
                from .snapshot import ShellSnapshots

                self._snapshots = ShellSnapshots()
            return self._snapshots

    def __len__(self) -> int:
        with self._lock:
            return len(self._sessions)

    def get(self, session_id: str) -> PtyShell | None:
        """The live session with this id; a session whose shell has exited is forgotten."""
        with self._lock:
            shell = self._sessions.get(session_id)
            if shell is not None and not shell.alive:
                del self._sessions[session_id]
                return None
            return shell

    def open(self, session_id: str, factory: Callable[[], PtyShell]) -> PtyShell:
        """Reuse the live session `session_id`, or start one with `factory`, evicting if full."""
        with self._lock:
            shell = self._sessions.get(session_id)
            if shell is not None:
                if shell.alive:
                    return shell
                del self._sessions[session_id]
            self._forget_dead()
            while len(self._sessions) >= self.max_sessions:
                self._evict_one()
            shell = factory()
            self._sessions[session_id] = shell
            return shell

    def ids(self) -> list[str]:
        with self._lock:
            return list(self._sessions)

    def close(self, session_id: str) -> bool:
        """Close and forget a session; False if there was none."""
        with self._lock:
            shell = self._sessions.pop(session_id, None)
        if shell is None:
            return False
        shell.close()
        return True

    def close_all(self) -> None:
        with self._lock:
            shells = list(self._sessions.values())
            self._sessions.clear()
        for shell in shells:
            shell.close()

    def reap_idle(self, now: float | None = None) -> list[str]:
        """Close sessions unused for `idle_timeout` seconds (and forget dead ones); returns the closed ids."""
        now = time.time() if now is None else now
        with self._lock:
            self._forget_dead()
            if self.idle_timeout is None:
                return []
            idle = [sid for sid, shell in self._sessions.items()
                    if now - shell.last_used >= self.idle_timeout]
            shells = [self._sessions.pop(sid) for sid in idle]
        for shell in shells:
            shell.close()
        return idle

    def _forget_dead(self) -> None:
        for sid in [sid for sid, shell in self._sessions.items() if not shell.alive]:
            del self._sessions[sid]

    def _evict_one(self) -> None:
        """Close the least recently used session outside the protected newest ones."""
        order = list(self._sessions)  # creation order
        candidates = order[: max(0, len(order) - self.protected_newest)] or order
        victim = min(candidates, key=lambda sid: self._sessions[sid].last_used)
        self._sessions.pop(victim).close()
