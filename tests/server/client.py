"""A small JSON-RPC client for the real `serve --stdio` process, for the tests."""

from __future__ import annotations

import json
import os
import queue
import subprocess
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from tests.conftest import CLI


class Client:
    def __init__(self, cwd: Path, *, env: Mapping[str, str] | None = None,
                 on_approval: Callable[[dict[str, Any]], Any] | None = None, args: tuple[str, ...] = ()) -> None:
        self.proc = subprocess.Popen([*CLI, "serve", "--stdio", *args], cwd=cwd, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     env={**os.environ, **(env or {})})
        self.on_approval = on_approval
        self.responses: dict[Any, dict[str, Any]] = {}
        self.events: dict[Any, list[dict[str, Any]]] = {}
        self.order: list[tuple[str, Any]] = []  # ("event"|"response", request id), as received
        self.approvals: list[dict[str, Any]] = []
        self.raw: queue.Queue[dict[str, Any]] = queue.Queue()
        self._cond = threading.Condition()
        self._next = 0
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            message = json.loads(line)
            self.raw.put(message)
            if message.get("method") == "event":
                params = message["params"]
                with self._cond:
                    self.events.setdefault(params["requestId"], []).append(params)
                    self.order.append(("event", params["requestId"]))
            elif message.get("method") == "approval/request":
                self.approvals.append(message["params"])
                if self.on_approval is not None:
                    answer = self.on_approval(message["params"])
                    if answer is not None:
                        self.send({"jsonrpc": "2.0", "id": message["id"], "result": answer})
            else:
                with self._cond:
                    self.responses[message.get("id")] = message
                    self.order.append(("response", message.get("id")))
                    self._cond.notify_all()

    def send(self, message: dict[str, Any] | str) -> None:
        assert self.proc.stdin is not None
        line = message if isinstance(message, str) else json.dumps(message)
        self.proc.stdin.write(line.encode() + b"\n")
        self.proc.stdin.flush()

    def request(self, method: str, params: Any = None) -> int:
        self._next += 1
        message: dict[str, Any] = {"jsonrpc": "2.0", "id": self._next, "method": method}
        if params is not None:
            message["params"] = params
        self.send(message)
        return self._next

    def wait(self, request_id: Any, timeout: float = 60) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        with self._cond:
            while request_id not in self.responses:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"no response to {request_id}")
                self._cond.wait(remaining)
            return self.responses[request_id]

    def call(self, method: str, params: Any = None, timeout: float = 60) -> Any:
        response = self.wait(self.request(method, params), timeout)
        assert "result" in response, response
        return response["result"]

    def close(self, timeout: float = 30) -> int:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        return self.proc.wait(timeout)

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
