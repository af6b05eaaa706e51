"""`serve --stdio`: one long-lived orchestrator answering JSON-RPC requests (docs/serve.md).

The main thread reads requests; each runs on a worker of a pool whose threads live as long
as the server. That matters: a sandboxed child dies with the *thread* that started it
(PR_SET_PDEATHSIG), and a PTY session must outlive the call that opened it.

What calls share: the PTY sessions, the approvals given "for this session", and the client.
Everything else (config, run, bus, cancel token) is per call, as in the CLI, so every call
writes the same manifests and run files as the CLI would.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from .. import __version__
from ..errors import OrchestratorError, UsageError
from ..exec.cancel import CancelToken
from .handlers import Handlers

if TYPE_CHECKING:  # pragma: no cover
    from ..observe import Observers
from .rpc import (
    INTERNAL_ERROR,
    INVALID_PARAMS,
    INVALID_REQUEST,
    METHOD_NOT_FOUND,
    ORCHESTRATOR_ERROR,
    Connection,
    RequestId,
    RpcError,
    parse,
)

PROTOCOL_VERSION = 1
MAX_WORKERS = 128  # calls in flight at once; more wait for a free worker


class _Stop(BaseException):
    """SIGINT/SIGTERM: leave the read loop (raised from the signal handler)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


class Server:
    def __init__(self, reader: BinaryIO, writer: BinaryIO, *, cwd: Path, env: dict[str, str],
                 observers: Observers | None = None) -> None:
        self.reader = reader
        self.observers = observers
        self.conn = Connection(writer)
        self.cwd = cwd
        self.env = env
        self.version = __version__
        self.protocol_version = PROTOCOL_VERSION
        self._pool = ThreadPoolExecutor(MAX_WORKERS, thread_name_prefix="rpc")
        self._lock = threading.Lock()
        self._calls: dict[RequestId, CancelToken] = {}  # in flight, by request id
        self._futures: set[Future[None]] = set()
        self.shutting_down = threading.Event()
        self.shutdown_requested = False  # `shutdown`, as opposed to the end of input
        self.handlers = Handlers(self)

    # ------------------------------------------------------------------ the loop

    def serve(self) -> int:
        """Read until end of input (exit 0) or SIGINT/SIGTERM (130/143); then stop every call cleanly."""
        signum = 0

        def stop(received: int, frame: Any) -> None:
            raise _Stop(received)

        from ..runs import views
        from ..sandbox import warm

        views.defer()  # calls answer before their lines in state.json/metrics.json are written (views.py)
        warm.enable()  # sandboxed calls find their sandbox built ahead of need (sandbox/warm.py)
        previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            for line in self._lines():
                if line.strip():
                    self._receive(line)
        except _Stop as exc:
            signum = exc.signum
        finally:
            for sig, old in previous.items():
                signal.signal(sig, old)
            self._wind_down(signum)
        return 128 + signum if signum else 0

    def _lines(self) -> Iterator[bytes]:
        """Lines of input until its end or a `shutdown` (checked every 0.2 s while idle)."""
        fd = self.reader.fileno()
        pending = bytearray()
        while not self.shutting_down.is_set():
            if not select.select([fd], [], [], 0.2)[0]:
                continue
            data = os.read(fd, 1 << 16)
            if not data:
                if pending:
                    yield bytes(pending)
                return
            start = 0
            pending += data
            while (end := pending.find(b"\n", start)) >= 0:
                yield bytes(pending[start:end])
                start = end + 1
            del pending[:start]

    def _receive(self, line: bytes) -> None:
        try:
            message = parse(line)
        except RpcError as exc:
            self.conn.respond_error(None, exc)
            return
        method = message.get("method")
        request_id = message.get("id")
        if method is None:  # a response to one of our questions
            if not self.conn.deliver(message):
                print(f"codex-orchestrator serve: ignored a response to an unknown request {request_id!r}",
                      file=sys.stderr)
            return
        if not isinstance(method, str) or (request_id is not None and not isinstance(request_id, (int, str))):
            self.conn.respond_error(request_id if isinstance(request_id, (int, str)) else None,
                                    RpcError(INVALID_REQUEST, "invalid request: bad method or id"))
            return
        if request_id is None:
            self._notification(method, message.get("params"))
            return
        handler = self.handlers.find(method)
        if handler is None:
            self.conn.respond_error(request_id, RpcError(METHOD_NOT_FOUND, f"method not found: {method}"))
            return
        token = CancelToken()
        with self._lock:
            if request_id in self._calls:
                self.conn.respond_error(request_id, RpcError(INVALID_REQUEST, f"request id {request_id!r} is in use"))
                return
            self._calls[request_id] = token
            future = self._pool.submit(self._call, handler, request_id, message.get("params"), token)
            self._futures.add(future)
        future.add_done_callback(self._forget_future)

    def _forget_future(self, future: Future[None]) -> None:
        with self._lock:
            self._futures.discard(future)

    def _notification(self, method: str, params: Any) -> None:
        if method == "$/cancelRequest" and isinstance(params, dict):
            self.cancel_request(params.get("id"))
        # Other notifications are ignored, as JSON-RPC asks.

    def _call(self, handler: Any, request_id: RequestId, params: Any, token: CancelToken) -> None:
        try:
            result = handler(request_id, params, token)
        except RpcError as exc:
            self.conn.respond_error(request_id, exc)
        except UsageError as exc:
            self.conn.respond_error(request_id, RpcError(INVALID_PARAMS, str(exc), {"exitCode": exc.exit_code}))
        except OrchestratorError as exc:
            self.conn.respond_error(request_id, RpcError(
                ORCHESTRATOR_ERROR, str(exc), {"exitCode": exc.exit_code, "kind": type(exc).__name__}))
        except Exception as exc:  # a bug: the server survives it, and says so
            if os.environ.get("CODEX_ORCHESTRATOR_DEBUG"):
                import traceback

                traceback.print_exc()
            message = f"internal error: {type(exc).__name__}: {exc}"
            self.conn.respond_error(request_id, RpcError(INTERNAL_ERROR, message))
        else:
            self.conn.respond(request_id, result)
        finally:
            with self._lock:
                self._calls.pop(request_id, None)

    # ------------------------------------------------------------------ cancelling and stopping

    def cancel_request(self, request_id: Any) -> bool:
        with self._lock:
            token = self._calls.get(request_id) if isinstance(request_id, (int, str)) else None
        if token is None:
            return False
        token.cancel(signal.SIGTERM, "cancelled by the client ($/cancelRequest)")
        return True

    def _wind_down(self, signum: int) -> None:
        """End of input or a signal: cancel every call, let each finish its records, close the sessions."""
        self.shutting_down.set()
        self.conn.close()
        with self._lock:
            tokens = list(self._calls.values())
            futures = list(self._futures)
        if signum:
            reason = None  # the run says which signal stopped it
        elif self.shutdown_requested:
            reason = "shutdown: the client asked the server to stop, so the run was stopped"
        else:
            reason = "client-closed: the client closed the server's input, so the run was stopped"
        for token in tokens:
            token.cancel(signum or signal.SIGHUP, reason)
        for future in futures:
            future.result() if future.done() else _wait(future)
        self._pool.shutdown(wait=True)
        self.handlers.close()
        from ..runs import views

        views.flush()


def _wait(future: Future[None]) -> None:
    with contextlib.suppress(Exception):  # the call's own error was already answered; this is only the wait
        future.result(timeout=60)
