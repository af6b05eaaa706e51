"""Channels that ask a person (or an SDK) for an approval.

- TtyAsker: a prompt on the controlling terminal.
- StdinAsker: `approval:response` JSON lines on stdin, the channel SDKs use
  (`--approvals stdin`); no answer in time is `timed_out`.
- NoChannel: fail closed, saying how to approve instead.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from typing import Protocol

from .._record import record
from ..events.protocol import ApprovalDecision

OPTIONS: list[ApprovalDecision] = ["approved", "approved_for_session", "approved_always", "denied"]


@record(frozen=True)
class ApprovalQuestion:
    request_id: str
    tool_run_id: str
    command: str
    cwd: str
    reason: str
    sandbox_mode: str


class Asker(Protocol):
    #: False when there is no one to ask: the orchestrator then fails closed.
    available: bool

    def ask(self, question: ApprovalQuestion, timeout: float, cancel: Cancel | None = None) -> ApprovalDecision:
        """The answer; `timed_out` after `timeout` seconds, `abort` as soon as the run is cancelled."""


class Cancel(Protocol):
    """What an asker needs of the run's CancelToken: a flag, and a descriptor that wakes `select`."""

    cancelled: bool

    def fileno(self) -> int: ...


class NoChannel:
    available = False

    def ask(self, question: ApprovalQuestion, timeout: float, cancel: Cancel | None = None) -> ApprovalDecision:
        return "denied"


HOW_TO_APPROVE = (
    "no approval channel: run it on a terminal, pass `--approvals stdin` and answer the approval:request "
    "event, add a prefix_rule(..., decision=\"allow\") in $CODEX_HOME/rules/, answer once with "
    "`approved_always` to store it, or choose another --approval-policy / --sandbox"
)


def printable(text: str) -> str:
    """`text` with every control character escaped (`\\r`, `\\x1b`, ...), for showing to a person.

    A command is chosen by whoever wrote it: `\\r\\x1b[2K` in it would otherwise erase the line on the
    terminal and let a harmless-looking command stand in for the real one in an approval prompt.
    """
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] if ch != "\\" else ch for ch in text)


class TtyAsker:
    available = True

    def __init__(self, tty_path: str = "/dev/tty") -> None:
        self._tty_path = tty_path

    def ask(self, question: ApprovalQuestion, timeout: float, cancel: Cancel | None = None) -> ApprovalDecision:
        import select

        answers: dict[str, ApprovalDecision] = {
            "y": "approved", "s": "approved_for_session", "a": "approved_always", "n": "denied", "": "denied",
        }
        deadline = time.monotonic() + timeout
        # A raw descriptor, not a text file: a terminal is not seekable, and `r+` text files need to be.
        fd = os.open(self._tty_path, os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC)
        try:
            os.write(fd, (
                f"\n\033[1mApproval needed\033[0m\n  command: {printable(question.command)}\n"
                f"  cwd:     {printable(question.cwd)}\n"
                f"  reason:  {printable(question.reason)}\n  sandbox: {printable(question.sandbox_mode)}\n"
                "  [y] approve once  [s] approve for this session  [a] approve always  [n] deny: "
            ).encode())
            while True:
                # Wait for a line, the deadline, or Ctrl-C (which cancels the run, not just the prompt).
                waiting = [fd] if cancel is None else [fd, cancel.fileno()]
                ready, _, _ = select.select(waiting, [], [], max(0.0, deadline - time.monotonic()))
                if cancel is not None and cancel.cancelled:
                    return "abort"
                if not ready:
                    return "timed_out"
                answer = os.read(fd, 1024).decode(errors="replace").strip().lower()[:1]
                if answer in answers:
                    return answers[answer]
                os.write(fd, b"  please answer y, s, a or n: ")
        finally:
            os.close(fd)


class StdinAsker:
    """Reads approval:response lines from stdin on a background thread.

    Lines that are not approval responses are ignored (with a warning), so that
    the same channel can later carry other messages.
    """

    available = True

    def __init__(self, stream_fd: int = 0) -> None:
        self._fd = stream_fd
        self._answers: dict[str, ApprovalDecision] = {}
        self._cond = threading.Condition()
        self._eof = False
        self._thread = threading.Thread(target=self._read, name="approvals-stdin", daemon=True)
        self._thread.start()

    def _read(self) -> None:
        with os.fdopen(os.dup(self._fd), "r", encoding="utf-8", errors="replace") as stream:
            for line in stream:
                self._accept(line)
        with self._cond:
            self._eof = True
            self._cond.notify_all()

    def _accept(self, line: str) -> None:
        line = line.strip()
        if not line:
            return
        try:
            message = json.loads(line)
            if message.get("type") != "approval:response":
                raise ValueError("not an approval:response")
            request_id = message["requestId"]
            decision = message["decision"]
            if decision not in (*OPTIONS, "timed_out", "abort") or not isinstance(request_id, str):
                raise ValueError(f"unknown decision {decision!r}")
        except (ValueError, KeyError, AttributeError, TypeError) as exc:
            print(f"codex-orchestrator: ignoring stdin line: {exc}", file=sys.stderr)
            return
        with self._cond:
            self._answers[request_id] = decision
            self._cond.notify_all()

    def ask(self, question: ApprovalQuestion, timeout: float, cancel: Cancel | None = None) -> ApprovalDecision:
        deadline = time.monotonic() + timeout
        with self._cond:
            while question.request_id not in self._answers:
                if cancel is not None and cancel.cancelled:
                    return "abort"
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._eof:
                    return "timed_out"
                self._cond.wait(min(remaining, 0.1))  # short waits: a cancel is noticed at once
            return self._answers.pop(question.request_id)


def choose_asker(channel: str | None) -> Asker:
    """`--approvals stdin` → StdinAsker; a terminal → TtyAsker; otherwise no channel."""
    if channel == "stdin":
        return StdinAsker()
    if channel in (None, "tty") and sys.stdin.isatty():
        try:
            with open("/dev/tty", "rb"):
                return TtyAsker()
        except OSError:
            pass
    return NoChannel()
