"""Our event stream in the Codex CLI's `codex exec --json` dialect (docs/events.md, "Codex dialect").

A tool built for `codex exec --json` (or the `ThreadEvent` types of
`@openai/codex-sdk`) reads `thread.started`, `turn.started`, `item.*` and
`turn.completed` / `turn.failed` lines. This subscriber translates our events
into those as they happen and hands them to a StdoutJsonlSink, which keeps its
bounded queue, its writer thread and its behaviour when the reader goes away.

Each tool run is one `command_execution` item. Its `aggregated_output` is the
stdout and stderr (or PTY) text in arrival order, bounded: past
`OUTPUT_KEEP` bytes only the first and last half are kept, with a marker saying
how much was left out (the full output is in the run's log file).
"""

from __future__ import annotations

import base64
import json
import shlex
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .protocol import Envelope
    from .sinks import StdoutJsonlSink

OUTPUT_KEEP = 1 << 20
USAGE = {"input_tokens": 0, "cached_input_tokens": 0, "cache_write_input_tokens": 0, "output_tokens": 0,
         "reasoning_output_tokens": 0}  # no model ran: every count is 0


class _Output:
    """Head and tail of a command's output text, bounded."""

    def __init__(self) -> None:
        self.head = bytearray()
        self.tail = bytearray()
        self.total = 0

    def add(self, data: bytes) -> None:
        self.total += len(data)
        half = OUTPUT_KEEP // 2
        room = half - len(self.head)
        if room > 0:
            self.head += data[:room]
            data = data[room:]
        if data:
            self.tail += data
            if len(self.tail) > half:
                del self.tail[:len(self.tail) - half]

    def text(self) -> str:
        kept = len(self.head) + len(self.tail)
        middle = b"" if kept >= self.total else \
            f"\n[... {self.total - kept} bytes left out; the full output is in the run's log ...]\n".encode()
        return (bytes(self.head) + middle + bytes(self.tail)).decode("utf-8", errors="replace")


class CodexDialectSink:
    """Translates each event into zero or more Codex `ThreadEvent` lines on stdout."""

    critical = False
    name = "the stdout event stream (Codex dialect)"

    def __init__(self, out: StdoutJsonlSink) -> None:
        self._out = out
        self._items: dict[str, tuple[str, str, _Output]] = {}  # toolRunId -> (item id, command, output)
        self._correlation: dict[str, str] = {}  # correlationId -> toolRunId
        self._next_item = 0
        self._completed_with_exit = False
        self._error: str | None = None

    @property
    def closed_by_reader(self) -> bool:
        return self._out.closed_by_reader

    def _emit(self, event: Envelope, document: dict[str, Any]) -> None:
        self._out.handle(event, json.dumps(document, ensure_ascii=False, separators=(",", ":")))

    def handle(self, event: Envelope, line: str) -> None:
        kind, payload = event["type"], event["payload"]
        if kind == "run:start":
            self._emit(event, {"type": "thread.started", "thread_id": payload["runId"]})
            self._emit(event, {"type": "turn.started"})
        elif kind == "tool:start":
            item_id = f"item_{self._next_item}"
            self._next_item += 1
            command = payload["command"]
            text = command if isinstance(command, str) else shlex.join(command)
            self._items[payload["toolRunId"]] = (item_id, text, _Output())
            self._emit(event, {"type": "item.started", "item": {
                "id": item_id, "type": "command_execution", "command": text, "aggregated_output": "",
                "status": "in_progress"}})
        elif kind == "exec:begin":
            self._correlation[payload["correlationId"]] = payload["correlationId"].rsplit(":", 1)[0]
        elif kind == "exec:chunk":
            self._chunk(payload)
        elif kind == "tool:complete":
            self._complete(event, payload)
        elif kind == "run:error":
            self._error = str(payload.get("message") or "the orchestrator failed")
            self._emit(event, {"type": "error", "message": self._error})
        elif kind == "run:summary":
            self._summary(event, payload)

    def _chunk(self, payload: dict[str, Any]) -> None:
        tool_run = self._correlation.get(payload["correlationId"], payload["correlationId"].rsplit(":", 1)[0])
        item = self._items.get(tool_run)
        if item is None:
            return
        data = payload.get("data", "")
        raw = base64.b64decode(data) if payload.get("encoding") == "base64" else str(data).encode("utf-8")
        item[2].add(raw)

    def _complete(self, event: Envelope, payload: dict[str, Any]) -> None:
        item = self._items.pop(payload["toolRunId"], None)
        if item is None:
            return
        item_id, text, output = item
        exit_code = payload.get("exitCode")
        document: dict[str, Any] = {
            "id": item_id, "type": "command_execution", "command": text, "aggregated_output": output.text(),
            "status": "completed" if payload.get("status") == "succeeded" else "failed"}
        if isinstance(exit_code, int):
            document["exit_code"] = exit_code
            self._completed_with_exit = True
        self._emit(event, {"type": "item.completed", "item": document})

    def _summary(self, event: Envelope, payload: dict[str, Any]) -> None:
        status = payload.get("status")
        # A command that ran and exited (even non-zero) is a completed turn, as in Codex, where a failing
        # command is a failed item, not a failed turn; a command that never ran, or was stopped, fails it.
        if status == "succeeded" or (status == "failed" and self._completed_with_exit and self._error is None):
            self._emit(event, {"type": "turn.completed", "usage": dict(USAGE)})
        else:
            message = payload.get("statusDetail") or self._error or f"the run {status}"
            self._emit(event, {"type": "turn.failed", "error": {"message": str(message)}})

    def close(self) -> None:
        self._out.close()
