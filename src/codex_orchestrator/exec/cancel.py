"""A cancellation flag that a select loop can wait on.

The runner spends its life blocked in `select()` on the command's pipes. A plain
flag would only be noticed at the next read or timeout; the self-pipe makes the
cancellation itself a readable event, so the loop wakes at once. `cancel` only
sets two attributes and writes one byte, without taking a lock, so it is safe to
call from a signal handler (for example on Ctrl-C) or from another thread.
"""

from __future__ import annotations

import contextlib
import os
import signal


class CancelToken:
    def __init__(self) -> None:
        self._read_fd, self._write_fd = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self.cancelled = False
        self.signum: int | None = None
        self.reason: str | None = None  # said in the run's status detail instead of the signal's name

    def cancel(self, signum: int = signal.SIGTERM, reason: str | None = None) -> None:
        """Request cancellation; `signum` records why (SIGINT for Ctrl-C) for the caller's exit status,
        and `reason`, when given, is what the run's status detail says."""
        self.signum = signum
        self.reason = self.reason or reason
        self.cancelled = True
        # The pipe only needs to be readable; a full pipe (many cancels) is just as readable.
        with contextlib.suppress(BlockingIOError, OSError):
            os.write(self._write_fd, b"x")

    def wait(self, timeout: float) -> bool:
        """Sleep up to `timeout` seconds; returns True (at once) if cancelled meanwhile."""
        import select

        if not self.cancelled:
            select.select([self._read_fd], [], [], timeout)
        return self.cancelled

    def fileno(self) -> int:
        """Read end of the self-pipe: readable once `cancel` was called (it stays readable)."""
        return self._read_fd

    def close(self) -> None:
        for fd in (self._read_fd, self._write_fd):
            with contextlib.suppress(OSError):
                os.close(fd)
        self._read_fd = self._write_fd = -1

    def __enter__(self) -> CancelToken:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        if getattr(self, "_read_fd", -1) >= 0:
            self.close()
