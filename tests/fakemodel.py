"""A fake OpenAI Responses API on loopback, for driving the real `codex` binary in tests.

The real `codex exec` talks to `POST <base_url>/responses` and reads a server-sent event stream. This
server answers each request with the next scripted `Turn`: output items (function calls, assistant
messages) and the token usage to report. Codex runs the tools the script calls (its own
`exec_command`, an `apply_patch` through the shell, or any function tool by name, such as an MCP
server's tool) and comes back with the outputs in its next request, which gets the next turn.

    with FakeModel() as model:
        model.script(
            Turn.exec_command("echo one > one.txt"),
            Turn.apply_patch("*** Begin Patch\\n*** Add File: hello.txt\\n+hi\\n*** End Patch\\n"),
            Turn.mcp_call("orchestrator", "exec_command", {"cmd": "ls"}),
            Turn.message("done"),
        )
        home = model.codex_home(path)  # a CODEX_HOME whose config.toml points Codex at this server
        ... run `codex exec --json ...` with CODEX_HOME=home ...
        model.requests  # every request body Codex sent, in order
        model.outputs("call_1")  # what Codex sent back for one tool call

Nothing here reaches the network beyond 127.0.0.1. Note for callers: the real Codex refuses to
sandbox commands when CODEX_HOME lies under /tmp (its sandbox helper cannot be exec'd there), so
`codex_home_dir()` makes one outside /tmp.
"""

from __future__ import annotations

import itertools
import json
import shutil
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

MODEL = "fake-model"
PROVIDER = "fake"
_call_ids = itertools.count(1)


@dataclass
class Turn:
    """One answer of the model: output items streamed in order, then `response.completed` with `usage`.

    `error` makes it a `response.failed` instead (Codex then fails the turn with that message);
    `hold` keeps the stream open, without completing, until `FakeModel.release()` (or close).
    """

    items: list[dict[str, Any]] = field(default_factory=list)
    usage: dict[str, int] = field(default_factory=lambda: {"input_tokens": 100, "cached_input_tokens": 20,
                                                           "output_tokens": 10})
    error: str | None = None
    hold: bool = False

    # ---------------------------------------------------------------- builders

    @staticmethod
    def call(name: str, arguments: Mapping[str, Any], *, call_id: str | None = None, **usage: int) -> Turn:
        """The model calls any function tool by name with JSON arguments (Codex's own or an MCP tool)."""
        item = {"type": "function_call", "name": name, "arguments": json.dumps(dict(arguments)),
                "call_id": call_id or f"call_{next(_call_ids)}"}
        return Turn([item], **_usage(usage))

    @staticmethod
    def mcp_call(server: str, tool: str, arguments: Mapping[str, Any], *, call_id: str | None = None,
                 **usage: int) -> Turn:
        """The model calls an MCP server's tool. Codex 0.169 offers each server's tools in a namespace
        (`mcp__<server>`), so the call names the namespace and the tool's own name."""
        turn = Turn.call(tool, arguments, call_id=call_id, **usage)
        turn.items[0]["namespace"] = f"mcp__{server}"
        return turn

    @staticmethod
    def exec_command(cmd: str, *, call_id: str | None = None, **arguments: Any) -> Turn:
        """The model runs a shell command with Codex's unified-exec tool (`exec_command {cmd, ...}`)."""
        usage = {k: arguments.pop(k) for k in list(arguments) if k.endswith("_tokens")}
        return Turn.call("exec_command", {"cmd": cmd, **arguments}, call_id=call_id, **usage)

    @staticmethod
    def apply_patch(patch: str, *, call_id: str | None = None, **usage: int) -> Turn:
        """The model edits files with an apply_patch envelope given to the shell, which Codex intercepts
        and applies itself (a `file_change` item), as it does for models without a dedicated patch tool."""
        if not patch.endswith("\n"):
            patch += "\n"
        return Turn.exec_command(f"apply_patch <<'PATCH'\n{patch}PATCH\n", call_id=call_id, **usage)

    @staticmethod
    def message(text: str, **usage: int) -> Turn:
        """The model's final answer (an `agent_message` item in `codex exec --json`)."""
        item = {"type": "message", "role": "assistant",
                "content": [{"type": "output_text", "text": text, "annotations": []}]}
        return Turn([item], **_usage(usage))

    @staticmethod
    def failure(message: str) -> Turn:
        """The API reports the response failed (`response.failed`), with this message."""
        return Turn(error=message)

    @staticmethod
    def held() -> Turn:
        """A response that never completes until released: a model that is still thinking."""
        return Turn(hold=True)


def _usage(given: Mapping[str, int]) -> dict[str, Any]:
    return {"usage": {"input_tokens": 100, "cached_input_tokens": 20, "output_tokens": 10, **given}} if given \
        else {}


class FakeModel:
    """The server. One scripted `Turn` per request, in order; a request past the script gets a message
    saying so (and is recorded in `unexpected`), so a test fails on its assertions rather than hanging."""

    def __init__(self) -> None:
        self._turns: list[Turn] = []
        self._lock = threading.Lock()
        self._released = threading.Event()
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.unexpected: list[dict[str, Any]] = []
        # Monotonic times each request arrived and each response was fully sent: the gap between a response
        # that called a tool and the next request is that tool call as Codex lived it (bench/bench_mcp.py).
        self.arrived: list[float] = []
        self.answered: list[float] = []
        # Codex does not wait for its MCP servers before the first request: until one has started, its tools
        # are missing. With `await_tool` set, a request that does not offer that tool (e.g. "mcp__orchestrator")
        # gets a short `sleep` through Codex's own shell instead of the next scripted turn.
        self.await_tool: str | None = None
        self.waited = 0
        self.holding = threading.Event()  # set while a held response is open
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-model", daemon=True)
        self._thread.start()

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def script(self, *turns: Turn) -> FakeModel:
        with self._lock:
            self._turns.extend(turns)
        return self

    def release(self) -> None:
        """Let held responses end (their connection closes without completing)."""
        self._released.set()

    def close(self) -> None:
        self.release()
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> FakeModel:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---------------------------------------------------------------- what Codex sent

    def input_items(self, index: int = -1) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = self.requests[index]["input"]
        return items

    def outputs(self, call_id: str) -> list[str]:
        """The outputs Codex returned for a tool call, across every request (usually one)."""
        found = []
        for request in self.requests:
            for item in request.get("input", []):
                if item.get("call_id") == call_id and item.get("type", "").endswith("_output"):
                    output = item.get("output")
                    found.append(output if isinstance(output, str) else json.dumps(output))
        return found[:1]

    def texts(self, index: int = -1, *, role: str | None = None) -> list[str]:
        """Every input text of a request (instructions, context, prompts), optionally of one role."""
        texts = []
        for item in self.input_items(index):
            if item.get("type") == "message" and (role is None or item.get("role") == role):
                texts.extend(part.get("text", "") for part in item.get("content", []))
        return texts

    def tool_names(self, index: int = -1) -> list[str]:
        return [str(tool.get("name")) for tool in self.requests[index].get("tools", [])]

    # ---------------------------------------------------------------- Codex's configuration

    def config_toml(self, **extra: Any) -> str:
        """A config.toml that makes Codex use this server, without retries (a failure fails at once)."""
        lines = [f'model = "{MODEL}"', f'model_provider = "{PROVIDER}"']
        lines += [f"{key} = {json.dumps(value)}" for key, value in extra.items()]
        lines += [f"[model_providers.{PROVIDER}]", 'name = "fake"', f'base_url = "{self.base_url}"',
                  'wire_api = "responses"', "request_max_retries = 0", "stream_max_retries = 0",
                  "stream_idle_timeout_ms = 600000"]
        return "\n".join(lines) + "\n"

    def codex_home(self, path: Path, **extra: Any) -> Path:
        path.mkdir(parents=True, exist_ok=True)
        (path / "config.toml").write_text(self.config_toml(**extra))
        return path

    # ---------------------------------------------------------------- serving

    def _next(self, body: dict[str, Any], headers: dict[str, str]) -> Turn:
        with self._lock:
            self.arrived.append(time.monotonic())
            self.requests.append(body)
            self.headers.append(headers)
            if self.await_tool and self.await_tool not in (t.get("name") for t in body.get("tools", [])):
                self.waited += 1
                return Turn.exec_command("sleep 0.2")
            if self._turns:
                return self._turns.pop(0)
            self.unexpected.append(body)
        return Turn.message("(the fake model's script is exhausted)")


def _handler(model: FakeModel) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            self.send_response(404)
            self.send_header("content-length", "0")
            self.end_headers()

        def do_POST(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            raw = self.rfile.read(length)
            if not self.path.rstrip("/").endswith("/responses"):
                self.send_response(404)
                self.send_header("content-length", "0")
                self.end_headers()
                return
            body = json.loads(raw or b"{}")
            turn = model._next(body, {k.lower(): v for k, v in self.headers.items()})
            self.send_response(200)
            self.send_header("content-type", "text/event-stream")
            self.send_header("cache-control", "no-cache")
            self.send_header("connection", "close")
            self.end_headers()
            self.close_connection = True
            try:
                for event in _events(turn):
                    self._send(event)
                with model._lock:
                    model.answered.append(time.monotonic())
                if turn.hold:
                    model.holding.set()
                    model._released.wait()
            except (BrokenPipeError, ConnectionResetError):
                pass
            finally:
                if turn.hold:
                    model.holding.clear()

        def _send(self, event: dict[str, Any]) -> None:
            self.wfile.write(f"event: {event['type']}\ndata: {json.dumps(event)}\n\n".encode())
            self.wfile.flush()

    return Handler


def _events(turn: Turn) -> Iterator[dict[str, Any]]:
    response_id = f"resp_{uuid.uuid4().hex[:12]}"
    yield {"type": "response.created", "response": {"id": response_id}}
    if turn.hold:
        return
    if turn.error is not None:
        yield {"type": "response.failed", "response": {
            "id": response_id, "error": {"code": "server_error", "message": turn.error}}}
        return
    for index, item in enumerate(turn.items):
        full = {"id": f"item_{uuid.uuid4().hex[:12]}", **item}
        yield {"type": "response.output_item.added", "output_index": index, "item": full}
        yield {"type": "response.output_item.done", "output_index": index, "item": full}
    usage = turn.usage
    yield {"type": "response.completed", "response": {"id": response_id, "usage": {
        "input_tokens": usage.get("input_tokens", 0),
        "input_tokens_details": {"cached_tokens": usage.get("cached_input_tokens", 0)},
        "output_tokens": usage.get("output_tokens", 0),
        "output_tokens_details": {"reasoning_tokens": usage.get("reasoning_output_tokens", 0)},
        "total_tokens": usage.get("input_tokens", 0) + usage.get("output_tokens", 0)}}}


def codex_home_dir() -> Iterator[Path]:
    """A fresh CODEX_HOME outside /tmp (the real Codex cannot sandbox commands from one under /tmp),
    removed afterwards. Use as a generator fixture: `yield from codex_home_dir()`."""
    base = Path(__file__).resolve().parent / ".codex-homes"
    path = base / uuid.uuid4().hex[:12]
    path.mkdir(parents=True)
    (base / ".gitignore").write_text("*\n")
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _demo(argv: list[str]) -> int:
    """`python -m tests.fakemodel [--mcp] CODEX_HOME`: write a config.toml there that points Codex at this server,
    and answer with a short demo script, repeated for every session: a command, a file edit and a final
    message; with `--mcp`, a command through the `orchestrator` MCP server's `exec_command` instead."""
    import signal
    import sys

    mcp = argv[:1] == ["--mcp"]
    argv = argv[1:] if mcp else argv
    if len(argv) != 1:
        print("usage: python -m tests.fakemodel [--mcp] CODEX_HOME  (a folder outside /tmp)", file=sys.stderr)
        return 2
    home = Path(argv[0]).resolve()
    with FakeModel() as model:
        model.codex_home(home)
        if mcp:
            model.await_tool = "mcp__orchestrator"
            demo = [Turn.mcp_call("orchestrator", "exec_command",
                                  {"cmd": "echo 'hello through codex-orchestrator' > greeting.txt; cat greeting.txt"}),
                    Turn.message("Wrote greeting.txt through the orchestrator")]
        else:
            demo = [Turn.exec_command("echo 'hello from the fake model' > greeting.txt"),
                    Turn.apply_patch("*** Begin Patch\n*** Add File: NOTES.md\n+# Notes\n+written by Codex\n"
                                     "*** End Patch"),
                    Turn.message("Wrote greeting.txt and NOTES.md")]
        model.script(*demo * 20)
        print(f"fake model at {model.base_url}; CODEX_HOME={home} (Ctrl-C to stop)", flush=True)
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
        signal.sigwait({signal.SIGINT, signal.SIGTERM})
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(_demo(sys.argv[1:]))
