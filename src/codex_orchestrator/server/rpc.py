"""JSON-RPC 2.0 over newline-delimited JSON: the wire of `serve --stdio` (docs/serve.md).

Wire types and framing only. One lock serialises writes, so a response, an event and
a server-to-client request never interleave on a line. Requests *to* the client (approval
questions) wait on a per-id slot that the reader fills; a closed client wakes every waiter.
"""

from __future__ import annotations

import json
import os
import threading
import time
from typing import Any, BinaryIO, Literal

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
ORCHESTRATOR_ERROR = -32001

RequestId = int | str

_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


class RpcError(Exception):
    """An error response: `code` from the table in docs/serve.md."""

    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data


class ClientGone(Exception):
    """The client closed its end: nothing can be asked or told any more."""


class _Waiter:
    def __init__(self) -> None:
        self.done = threading.Event()
        self.result: Any = None
        self.error: Any = None


Outcome = Literal["answered", "error", "timed_out", "closed", "cancelled"]


class Connection:
    """One client: write messages, ask it questions, and hand it the answers the reader receives."""

    def __init__(self, writer: BinaryIO) -> None:
        self._writer = writer
        self._write_lock = threading.Lock()
        self._waiters: dict[str, _Waiter] = {}
        self._waiters_lock = threading.Lock()
        self._next_id = 0
        self.closed = threading.Event()  # the client's input ended
        self.broken = False  # writing to the client failed (it went away)

    # ------------------------------------------------------------------ writing

    def send_line(self, line: str) -> None:
        """Write one message (already encoded) as one line; a vanished client is remembered, not raised."""
        if self.broken:
            return
        data = (line + "\n").encode("utf-8")
        with self._write_lock:
            try:
                self._writer.write(data)
                self._writer.flush()
            except (BrokenPipeError, ValueError, OSError):
                self.broken = True

    def respond(self, request_id: RequestId, result: Any) -> None:
        self.send_line(_encode({"jsonrpc": "2.0", "id": request_id, "result": result}))

    def respond_error(self, request_id: RequestId | None, error: RpcError) -> None:
        body: dict[str, Any] = {"code": error.code, "message": error.message}
        if error.data is not None:
            body["data"] = error.data
        self.send_line(_encode({"jsonrpc": "2.0", "id": request_id, "error": body}))

    def notify(self, method: str, params: Any) -> None:
        self.send_line(_encode({"jsonrpc": "2.0", "method": method, "params": params}))

    # ------------------------------------------------------------------ asking the client

    def ask(self, method: str, params: Any, *, timeout: float, cancelled: threading.Event | None = None,
            ) -> tuple[Outcome, Any]:
        """Send a request to the client and wait for its answer, at most `timeout` seconds."""
        with self._waiters_lock:
            self._next_id += 1
            request_id = f"s{self._next_id}"
            waiter = self._waiters[request_id] = _Waiter()
        try:
            if self.closed.is_set() or self.broken:
                return "closed", None
            self.send_line(_encode({"jsonrpc": "2.0", "id": request_id, "method": method, "params": params}))
            deadline = time.monotonic() + timeout
            while not waiter.done.wait(min(0.05, max(0.0, deadline - time.monotonic()))):
                if self.closed.is_set() or self.broken:
                    return "closed", None
                if cancelled is not None and cancelled.is_set():
                    return "cancelled", None
                if time.monotonic() >= deadline:
                    return "timed_out", None
            if waiter.error is not None:
                return "error", waiter.error
            return "answered", waiter.result
        finally:
            with self._waiters_lock:
                self._waiters.pop(request_id, None)

    def deliver(self, message: dict[str, Any]) -> bool:
        """Hand a response from the client to the request waiting for it; False if nobody waits."""
        request_id = message.get("id")
        with self._waiters_lock:
            waiter = self._waiters.get(request_id) if isinstance(request_id, str) else None
        if waiter is None:
            return False
        waiter.result, waiter.error = message.get("result"), message.get("error")
        waiter.done.set()
        return True

    def close(self) -> None:
        """The client's input ended: every question still open fails closed."""
        self.closed.set()


def parse(line: bytes) -> dict[str, Any]:
    """One incoming line as a JSON-RPC object; RpcError for what is not one."""
    try:
        message = json.loads(line)
    except (UnicodeDecodeError, ValueError) as exc:
        raise RpcError(PARSE_ERROR, f"parse error: {exc}") from None
    if not isinstance(message, dict) or message.get("jsonrpc") != "2.0":
        raise RpcError(INVALID_REQUEST, "invalid request: expected a JSON-RPC 2.0 object (batches are not supported)")
    return message


def stdio() -> tuple[BinaryIO, BinaryIO]:
    """Our stdin and stdout as unbuffered binary streams (stdout's buffer is flushed per message)."""
    return os.fdopen(os.dup(0), "rb", buffering=0), os.fdopen(os.dup(1), "wb", buffering=1 << 16)
