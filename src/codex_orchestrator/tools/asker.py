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
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from .._record import record

if TYPE_CHECKING:
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
    argv: tuple[str, ...] = ()  # the command as an argv, as in the `approval:request` event


Report = Callable[[str, Any], object]  # bus.publish: an event type and its payload


class Asker(Protocol):
    #: False when there is no one to ask: the orchestrator then fails closed.
    available: bool

    def ask(self, question: ApprovalQuestion, timeout: float, cancel: Cancel | None = None,
            report: Report | None = None) -> ApprovalDecision:
        """The answer; `timed_out` after `timeout` seconds, `abort` as soon as the run is cancelled.

        `report` publishes what the channel has to say meanwhile (`approval:error`, `approval:warning`)."""


class Cancel(Protocol):
    """What an asker needs of the run's CancelToken: a flag, and a descriptor that wakes `select`."""

    cancelled: bool

    def fileno(self) -> int: ...


class NoChannel:
    available = False

    def ask(self, question: ApprovalQuestion, timeout: float, cancel: Cancel | None = None,
            report: Report | None = None) -> ApprovalDecision:
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

    def ask(self, question: ApprovalQuestion, timeout: float, cancel: Cancel | None = None,
            report: Report | None = None) -> ApprovalDecision:
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
    """Reads approval:response lines from stdin on a background thread, and says honestly what happened.

    * End of input is `channel-closed`, at once: nobody is left to answer, so waiting for the
      time-out would only delay the refusal.
    * A line that is not a valid `approval:response` is an `approval:error` event; the run keeps
      waiting for a valid answer.
    * A valid answer for a `requestId` nobody asked about is an `approval:warning` event, and ignored.
    * `timed_out` means only that: no answer within `approval_timeout_seconds`.

    The reader thread only queues what it found; `ask` publishes it, on the run's own thread.
    """

    available = True

    def __init__(self, stream_fd: int = 0) -> None:
        self._fd = stream_fd
        self._answers: dict[str, ApprovalDecision] = {}
        self._problems: list[tuple[str, dict[str, str]]] = []
        self._asked: set[str] = set()
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
            if not isinstance(message, dict) or message.get("type") != "approval:response":
                raise ValueError("not an approval:response object")
            request_id = message["requestId"]
            decision = message["decision"]
            if not isinstance(request_id, str):
                raise ValueError("requestId must be a string")
            if decision not in (*OPTIONS, "abort"):
                raise ValueError(f"unknown decision {decision!r} (expected one of {', '.join(OPTIONS)})")
        except (ValueError, KeyError) as exc:
            error = f"missing {exc}" if isinstance(exc, KeyError) else str(exc)
            with self._cond:
                self._problems.append(("approval:error", {"line": line[:200], "error": error}))
                self._cond.notify_all()
            return
        with self._cond:
            self._answers[request_id] = decision
            self._cond.notify_all()

    def ask(self, question: ApprovalQuestion, timeout: float, cancel: Cancel | None = None,
            report: Report | None = None) -> ApprovalDecision:
        deadline = time.monotonic() + timeout
        with self._cond:
            self._asked.add(question.request_id)
            while question.request_id not in self._answers:
                self._report(report)
                if cancel is not None and cancel.cancelled:
                    return "abort"
                if self._eof:
                    return "channel-closed"
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return "timed_out"
                self._cond.wait(min(remaining, 0.1))  # short waits: a cancel is noticed at once
            return self._answers.pop(question.request_id)

    def _report(self, report: Report | None) -> None:
        """Publish queued problems, and warn about answers to questions nobody asked (lock held)."""
        for request_id in [r for r in self._answers if r not in self._asked]:
            del self._answers[request_id]
            self._problems.append(("approval:warning", {
                "requestId": request_id, "message": f"no approval request {request_id!r} is waiting; ignored"}))
        problems, self._problems = self._problems, []
        for type_, payload in problems:
            if report is not None:
                report(type_, payload)
            else:
                print(f"codex-orchestrator: warning: stdin approval channel: {payload}", file=sys.stderr)


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
