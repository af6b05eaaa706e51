"""What a caller asks the ToolOrchestrator to run, and what it gets back."""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._record import field, record

if TYPE_CHECKING:  # pragma: no cover
    from ..events.protocol import ApprovalSource, SandboxState, ToolAttempt, ToolComplete, ToolStatus
    from ..exec.buffer import HeadTailBuffer


@record
class ToolRequest:
    tool: str  # "stage", "exec", later "mcp:<name>" ...
    command: str | Sequence[str]  # a shell string, or an argv
    cwd: Path
    env: Mapping[str, str] = field(default_factory=dict)  # overrides on top of the orchestrator's env
    sandbox_mode: str | None = None  # None: the configured mode
    escalate: bool = False  # ask to run outside the sandbox
    justification: str | None = None
    pty: bool = False
    session_id: str | None = None  # run inside this PTY session (created on first use)
    session_reuse: bool = True  # False: a fresh shell even if the session exists
    timeout: float | None = None
    retry_on_exit_codes: tuple[int, ...] = ()  # exit codes the tool declares transient
    log_path: Path | None = None
    stage_id: str | None = None
    capture_stdout: int = 0  # keep up to this many bytes of stdout (e.g. for --output-schema)
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def argv(self) -> list[str]:
        """The argv to spawn in pipes mode: a shell string runs under a login bash (`bash -lc`), as Codex
        runs a command line: the user's profile sets PATH and friends the same way."""
        if isinstance(self.command, str):
            return ["/bin/bash", "-lc", self.command]
        return list(self.command)

    @property
    def display(self) -> str:
        """The command as one shell string: how it is shown, and what a PTY shell runs."""
        return self.command if isinstance(self.command, str) else shlex.join(self.command)


@record
class ToolResult:
    tool_run_id: str
    status: ToolStatus
    exit_code: int | None
    signal: int | None
    duration_ms: float
    retry_count: int
    sandbox_state: SandboxState
    approval_source: ApprovalSource
    attempts: list[ToolAttempt]
    streams: dict[str, HeadTailBuffer]
    record: ToolComplete
    message: str | None = None
    captured_stdout: bytes | None = None  # None when capture was off or stdout exceeded the limit
    escalation_refused: bool = False  # the sandbox denied it and running it outside was not approved

    @property
    def ok(self) -> bool:
        return self.status == "succeeded"

    def tail_text(self, stream: str, limit: int = 32 * 1024) -> str:
        """The last `limit` bytes kept of a stream, as text ("" for a stream that is absent)."""
        buffer = self.streams.get(stream)
        if buffer is None:
            return ""
        data = buffer.tail() if buffer.truncated else buffer.head() + buffer.tail()
        return data[-limit:].decode("utf-8", "replace")
