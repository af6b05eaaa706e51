"""Codex's JSONL events, turned into ours as they arrive.

Every line of `codex exec --json` is published unchanged as a `codex:event`
(with the stage and thread it belongs to); on top of that, the items we account
for become our own records, so a codex stage reads like any other in the
manifest and the metrics:

* `command_execution` -> `tool:start` / `tool:complete` with `source: "codex"`,
  its command, exit code, status and output tail (a tool run of the manifest);
* `mcp_tool_call` -> the same, with the command `server/tool`;
* `agent_message` -> the stage summary (the last one wins);
* `turn.failed` / `error` -> the message the stage fails with;
* `thread.started` -> the thread id (the recorder writes it to the stage at once).

File changes and token usage are read by the recorder from the `codex:event`
itself (runs/recorder.py), so they are written exactly once.
"""

from __future__ import annotations

import json
import os
import shlex
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..tools.outcome import attempt_status

if TYPE_CHECKING:
    from ..events.bus import EventBus
    from ..events.protocol import SandboxState, ToolComplete, ToolStart, ToolStatus

OUTPUT_TAIL = 2048
MAX_LINE = 8 * 1024 * 1024  # a longer line (a huge aggregated output) is dropped from the events, not parsed


class CodexTranslator:
    """Consumes Codex's stdout bytes; publishes our events. One per codex stage run."""

    def __init__(self, bus: EventBus, *, stage_id: str, index: int, cwd: Path, sandbox_mode: str,
                 network_blocked: bool, thread_id: str | None = None) -> None:
        self.bus = bus
        self.stage_id = stage_id
        self.index = index
        self.cwd = cwd
        self.sandbox_mode = sandbox_mode
        self.network_blocked = network_blocked
        self.thread_id = thread_id
        self.final_message: str | None = None
        self.failure: str | None = None
        self.turns_completed = 0
        self.dropped_lines = 0
        self._pending = bytearray()
        self._open: dict[str, tuple[str, float]] = {}  # Codex item id -> (our tool run id, start time)

    # ------------------------------------------------------------------ input

    def feed(self, data: bytes) -> None:
        self._pending.extend(data)
        while True:
            end = self._pending.find(b"\n")
            if end < 0:
                if len(self._pending) > MAX_LINE:
                    self._pending.clear()
                    self.dropped_lines += 1
                return
            line = bytes(self._pending[:end])
            del self._pending[: end + 1]
            self._line(line)

    def close(self) -> None:
        """Codex has exited: a last line without newline still counts; items never completed end cancelled."""
        if self._pending.strip():
            self._line(bytes(self._pending))
        self._pending.clear()
        for item_id in list(self._open):
            self._complete({"id": item_id, "type": "command_execution", "status": "in_progress"}, "cancelled")

    def _line(self, line: bytes) -> None:
        if len(line) > MAX_LINE:
            self.dropped_lines += 1
            return
        try:
            event = json.loads(line)
        except ValueError:
            return  # not an event (Codex writes its warnings to stderr; the log keeps every byte anyway)
        if isinstance(event, dict) and isinstance(event.get("type"), str):
            self.handle(event)

    # ------------------------------------------------------------------ events

    def handle(self, event: dict[str, Any]) -> None:
        kind = event["type"]
        if kind == "thread.started" and isinstance(event.get("thread_id"), str):
            self.thread_id = event["thread_id"]
        self.bus.publish("codex:event", {"stageId": self.stage_id, "index": self.index, "threadId": self.thread_id,
                                         "event": event})
        if kind == "turn.completed":
            self.turns_completed += 1
            self.failure = None  # an error before a turn that then completed was recovered from
        elif kind == "turn.failed":
            self.failure = str((event.get("error") or {}).get("message") or "the turn failed")
        elif kind == "error" and self.failure is None:
            self.failure = str(event.get("message") or "error")
        item = event.get("item")
        if not isinstance(item, dict):
            return
        item_type = item.get("type")
        if item_type == "agent_message" and kind == "item.completed":
            self.final_message = str(item.get("text", ""))
        elif item_type in ("command_execution", "mcp_tool_call"):
            if kind == "item.started":
                self._start(item)
            elif kind == "item.completed":
                self._complete(item, None)

    def _command(self, item: dict[str, Any]) -> str:
        if item.get("type") == "mcp_tool_call":
            return f"{item.get('server', '?')}/{item.get('tool', '?')}"
        return str(item.get("command", ""))

    def _start(self, item: dict[str, Any]) -> str:
        from ..tools.approvals.keys import approval_key

        item_id = str(item.get("id", ""))
        tool_run_id = "tr_" + os.urandom(6).hex()
        self._open[item_id] = (tool_run_id, time.monotonic())
        command = self._command(item)
        try:
            argv = shlex.split(command) if item.get("type") == "command_execution" else [command]
        except ValueError:
            argv = [command]
        start: ToolStart = {
            "toolRunId": tool_run_id, "tool": str(item.get("type")), "command": argv, "cwd": str(self.cwd),
            "sandboxMode": self.sandbox_mode, "approvalSource": "codex",
            "approvalKey": approval_key(argv, self.cwd, False), "stageId": self.stage_id, "source": "codex",
        }
        if self.thread_id:
            start["threadId"] = self.thread_id
        self.bus.publish("tool:start", start)
        return tool_run_id

    def _complete(self, item: dict[str, Any], forced: ToolStatus | None) -> None:
        item_id = str(item.get("id", ""))
        if item_id not in self._open:
            self._start(item)  # completed without a start (Codex reports some items only once)
        tool_run_id, began = self._open.pop(item_id)
        duration = round((time.monotonic() - began) * 1000, 3)
        exit_code = item.get("exit_code") if isinstance(item.get("exit_code"), int) else None
        output = _output_of(item)
        status = forced or _status(item, exit_code)
        sandboxed = self.sandbox_mode != "danger-full-access"
        state: SandboxState = "sandboxed" if sandboxed else "unsandboxed"
        denied = False
        if item.get("type") == "command_execution" and status == "failed":
            from ..sandbox.denial import is_likely_denial

            denied = is_likely_denial(exit_code, None, output, sandboxed=sandboxed,
                                      network_blocked=self.network_blocked)
        record: ToolComplete = {
            "toolRunId": tool_run_id, "tool": str(item.get("type")), "status": status,
            "exitCode": exit_code, "signal": None, "retryCount": 0,
            "sandboxState": "denied" if denied else state, "durationMs": duration, "approvalSource": "codex",
            "attempts": [{"attempt": 1, "sandboxState": "denied" if denied else state, "sandboxBackend": "codex",
                          "exitCode": exit_code, "signal": None, "durationMs": duration,
                          "status": attempt_status(status),
                          "denied": denied}],
            "stageId": self.stage_id, "source": "codex", "codexItemId": item_id, "command": self._command(item),
            "outputTail": output[-OUTPUT_TAIL:],
        }
        if self.thread_id:
            record["threadId"] = self.thread_id
        error = item.get("error")
        if isinstance(error, dict) and error.get("message"):
            record["message"] = str(error["message"])
        self.bus.publish("tool:complete", record)


def _status(item: dict[str, Any], exit_code: int | None) -> ToolStatus:
    codex_status = item.get("status")
    if codex_status == "declined":
        return "rejected"  # Codex's own policy refused it (a forbidden rule, approval never)
    if codex_status == "completed" and (exit_code in (None, 0) or item.get("type") == "mcp_tool_call"):
        return "succeeded"
    if codex_status == "in_progress":
        return "cancelled"
    return "failed"


def _output_of(item: dict[str, Any]) -> str:
    if item.get("type") == "command_execution":
        return str(item.get("aggregated_output") or "")
    result = item.get("result")
    if isinstance(result, dict):
        parts = [str(part.get("text", "")) for part in result.get("content") or [] if isinstance(part, dict)]
        return "\n".join(parts)
    error = item.get("error")
    return str(error.get("message", "")) if isinstance(error, dict) else ""
