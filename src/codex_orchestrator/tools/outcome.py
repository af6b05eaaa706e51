"""One mapping from how a tool run ended to a run/stage status and an exit code.

`exec`, pipeline stages and `start`/`resume` all end the same way, so the rule
lives here once (docs/cli.md, "Exit codes"): the command's own code when it ran
to its end, 124 when it timed out (as `timeout(1)`), 128+N when the run was
cancelled by signal N, 77 when it was not allowed to run or to leave the sandbox.
"""

from __future__ import annotations

import signal as signals
from typing import TYPE_CHECKING, Literal

from ..errors import EXIT_DENIED, EXIT_INTERNAL, EXIT_TIMEOUT

if TYPE_CHECKING:
    from ..events.protocol import AttemptStatus, ToolStatus
    from .request import ToolResult

Finished = Literal["succeeded", "failed", "cancelled"]


def finished_status(tool_status: str) -> Finished:
    """The stage/run status for a tool status: only success and cancellation are not failures."""
    if tool_status == "succeeded":
        return "succeeded"
    if tool_status == "cancelled":
        return "cancelled"
    return "failed"


def attempt_status(status: ToolStatus) -> AttemptStatus:
    """An attempt's status for a tool status: not approved or denied by a sandbox is a failed attempt."""
    return "failed" if status in ("rejected", "denied") else status  # type: ignore[return-value]


def cancel_exit_code(signum: int | None) -> int:
    return 128 + (signum or signals.SIGINT)


def cancel_detail(signum: int | None, reason: str | None = None) -> str:
    """Why a cancelled run stopped: the canceller's reason, a signal, or (SIGPIPE) the reader of stdout
    going away."""
    if reason:
        return reason
    if signum == signals.SIGPIPE:
        return "output-closed: the reader of stdout closed it, so the run was stopped (as in a shell pipeline)"
    return f"stopped by {signals.Signals(signum or signals.SIGINT).name}"


def exit_code(result: ToolResult, cancel_signum: int | None) -> int:
    """The exit code a tool run stands for (see the module docstring)."""
    if result.status == "rejected" or result.escalation_refused:
        return EXIT_DENIED
    if result.status == "cancelled":
        return cancel_exit_code(cancel_signum)
    if result.status == "timed_out":
        return EXIT_TIMEOUT
    return result.exit_code if result.exit_code is not None else EXIT_INTERNAL
