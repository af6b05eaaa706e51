"""One `exec_command` while it lives: its run on a worker thread, and the output the model has not seen yet.

The run itself is an ordinary `run_exec` (manifest, events, approvals, sandbox) that blocks until the
command ends. The job listens to the run's own events (it is a bus subscriber) to learn the run id, when
the command really started (after its approval), and each chunk of output; tool calls wait on it with a
deadline, which is how a call "yields" while the command goes on running.
"""

from __future__ import annotations

import base64
import threading
import time
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any

from ..exec.cancel import CancelToken

if TYPE_CHECKING:  # pragma: no cover
    from ..api.exec import ExecReport
    from ..events.protocol import Envelope

OUTPUT_KEPT = 1 << 20  # output not yet returned, per job: the newest 1 MiB


class Job:
    """A bus subscriber of its own run, and the state tool calls wait on."""

    critical = False

    def __init__(self, session_id: int, command: str, cwd: str, *, tty: bool, pty_session: str | None) -> None:
        self.session_id = session_id
        self.command = command
        self.cwd = cwd
        self.tty = tty
        self.pty_session = pty_session  # the PTY session's name in the server's session manager
        self.cancel = CancelToken()
        self.created = time.time()
        self.run_id: str | None = None
        self.manifest: str | None = None
        self.future: Future[ExecReport] | None = None
        self.began_at: float | None = None  # monotonic time the command started (its approval done)
        self.done_at: float | None = None  # wall clock, for pruning finished jobs nobody polled
        self._cond = threading.Condition()
        self._pending = bytearray()
        self._dropped = 0

    # ------------------------------------------------------------------ the run's events (worker thread)

    def handle(self, event: Envelope, line: str) -> None:
        kind = event["type"]
        if kind == "exec:chunk":
            payload: Any = event["payload"]
            data = payload["data"]
            chunk = base64.b64decode(data) if payload.get("encoding") == "base64" else str(data).encode()
            with self._cond:
                self._pending += chunk
                if len(self._pending) > OUTPUT_KEPT:
                    self._dropped += len(self._pending) - OUTPUT_KEPT
                    del self._pending[:len(self._pending) - OUTPUT_KEPT]
                self._cond.notify_all()
        elif kind == "exec:begin":
            with self._cond:
                if self.began_at is None:
                    self.began_at = time.monotonic()
                self._cond.notify_all()
        elif kind == "run:start":
            payload = event["payload"]
            self.run_id = str(payload["runId"])
            self.manifest = str(payload.get("manifest") or "") or None

    def close(self) -> None:
        pass

    def finished(self, future: Future[ExecReport]) -> None:
        with self._cond:
            self.done_at = time.time()
            self._cond.notify_all()

    # ------------------------------------------------------------------ tool calls (any thread)

    @property
    def done(self) -> bool:
        return self.future is not None and self.future.done()

    def wait_started(self, timeout: float | None = None) -> None:
        """Until the command started or the run ended (an approval may be pending meanwhile)."""
        with self._cond:
            self._cond.wait_for(lambda: self.began_at is not None or self.done, timeout)

    def wait_done(self, until: float) -> bool:
        """Until the run ended or the monotonic time `until`; True if it ended."""
        with self._cond:
            return self._cond.wait_for(lambda: self.done, max(0.0, until - time.monotonic()))

    def take_output(self) -> str:
        """The output since the last call, and a line saying how much was dropped if it was too much."""
        with self._cond:
            data, dropped = bytes(self._pending), self._dropped
            self._pending.clear()
            self._dropped = 0
        text = data.decode("utf-8", "replace")
        return f"[{dropped} bytes of earlier output were dropped]\n{text}" if dropped else text
