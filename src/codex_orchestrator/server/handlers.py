"""The methods of `serve --stdio` (docs/serve.md): params in, the same runs as the CLI, results out."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..exec.cancel import CancelToken
from ..exec.shared import SharedSessions
from ..tools.asker import OPTIONS
from .params import Params, invalid
from .rpc import RequestId

if TYPE_CHECKING:  # pragma: no cover
    from ..api.exec import ExecReport
    from ..config import Config
    from ..events.bus import Subscriber
    from ..events.protocol import Envelope
    from ..exec.sessions import ExecSessionManager
    from ..tools.asker import ApprovalQuestion, Cancel, Report
    from .server import Server

Handler = Callable[[RequestId, Any, CancelToken], Any]

EXEC_FIELDS = ("command", "cwd", "env", "task", "sandbox", "approvalPolicy", "timeoutMs", "outputSchema",
               "session", "pty", "escalate", "justification", "events", "parentRun")
OUTPUT_KEPT = 1 << 20  # per session, for session/poll
DECISIONS = ("approved", "approved_for_session", "approved_always", "denied", "abort")


class EventForwarder:
    """A bus subscriber that sends each event to the client as an `event` notification.

    The envelope's JSON, already encoded once by the bus, is spliced in unchanged.
    """

    critical = False
    name = "client event stream"

    def __init__(self, server: Server, request_id: RequestId, *, forward: bool = True) -> None:
        self._send = server.conn.send_line
        self._prefix = '{"jsonrpc":"2.0","method":"event","params":{"requestId":' + json.dumps(request_id)
        self._forward = forward  # False: only learn the run id (approval questions carry it)
        self.run_id: str | None = None

    def handle(self, event: Envelope, line: str) -> None:
        if self.run_id is None and event["type"] == "run:start":
            self.run_id = str(event["payload"]["runId"])
        if self._forward:
            self._send(f'{self._prefix},"runId":{json.dumps(self.run_id)},"event":{line}}}}}')

    def close(self) -> None:
        pass


class ClientAsker:
    """Approval questions go to the client as `approval/request`; anything but an answer denies."""

    available = True

    def __init__(self, server: Server, request_id: RequestId, forwarder: EventForwarder | None) -> None:
        self._server = server
        self._request_id = request_id
        self._forwarder = forwarder

    def ask(self, question: ApprovalQuestion, timeout: float, cancel: Cancel | None = None,
            report: Report | None = None) -> Any:
        stop = threading.Event()
        if isinstance(cancel, CancelToken) and cancel.cancelled:
            return "abort"
        params = {"requestId": self._request_id, "runId": self._forwarder.run_id if self._forwarder else None,
                  "approval": {"requestId": question.request_id, "toolRunId": question.tool_run_id,
                               "command": list(question.argv), "cwd": question.cwd, "reason": question.reason,
                               "sandboxMode": question.sandbox_mode, "options": list(OPTIONS)}}
        watcher = _watch(cancel, stop)
        try:
            outcome, answer = self._server.conn.ask("approval/request", params, timeout=timeout, cancelled=stop)
        finally:
            stop.set()
            if watcher is not None:
                watcher.join()
        if outcome == "closed":
            return "channel-closed"
        if outcome == "timed_out":
            return "timed_out"
        if outcome == "cancelled":
            return "abort"
        decision = answer.get("decision") if outcome == "answered" and isinstance(answer, dict) else None
        if decision not in DECISIONS:
            if report is not None:
                report("approval:error", {"line": json.dumps(answer)[:200],
                                          "error": "the client's answer is not a decision; denied"})
            return "denied"
        return decision


def _watch(cancel: Cancel | None, stop: threading.Event) -> threading.Thread | None:
    """Turn a cancel token into the event `Connection.ask` polls."""
    if not isinstance(cancel, CancelToken):
        return None

    def run() -> None:
        while not stop.is_set():
            if cancel.wait(0.05):
                stop.set()

    thread = threading.Thread(target=run, name="approval-cancel", daemon=True)
    thread.start()
    return thread


class Handlers:
    def __init__(self, server: Server) -> None:
        self.server = server
        self._sessions = SharedSessions()
        self._session_specs: dict[str, dict[str, Any]] = {}
        self._session_approvals: set[str] = set()  # "approved for this session" lasts as long as the server
        self._runs: dict[str, CancelToken] = {}  # run id -> the token of the call running it
        self._outputs: dict[str, bytearray] = {}  # session id -> output not yet polled (the latest 1 MiB)
        self._lock = threading.Lock()
        self._table: dict[str, Handler] = {
            "initialize": self.initialize, "shutdown": self.shutdown, "exec": self.exec,
            "session/open": self.session_open, "session/run": self.session_run,
            "session/write": self.session_write, "session/poll": self.session_poll,
            "session/close": self.session_close, "session/list": self.session_list,
            "run/start": self.run_start, "run/status": self.run_status, "run/resume": self.run_resume,
            "run/cancel": self.run_cancel,
        }

    def find(self, method: str) -> Handler | None:
        return self._table.get(method)

    def close(self) -> None:
        self._sessions.close_all()

    @property
    def sessions(self) -> ExecSessionManager:
        return self._sessions.get()

    # ------------------------------------------------------------------ lifecycle

    def initialize(self, request_id: RequestId, raw: Any, token: CancelToken) -> Any:
        Params(raw, ("clientInfo",))
        from ..redact import redact_tree

        config = self._config(self.server.cwd, {})
        return {
            "serverInfo": {"name": "codex-orchestrator", "version": self.server.version},
            "protocolVersion": self.server.protocol_version,
            "capabilities": {"exec": True, "sessions": True, "pipelines": True, "approvals": True,
                             "cancel": True, "outputSchema": True},
            "config": {"repoRoot": str(config.repo_root), "cwd": str(self.server.cwd),
                       "settings": {key: redact_tree(s.value) for key, s in config.settings.items()}},
        }

    def shutdown(self, request_id: RequestId, raw: Any, token: CancelToken) -> Any:
        Params(raw, ())
        self.server.shutdown_requested = True
        self.server.shutting_down.set()  # the read loop stops within its poll interval
        from ..runs import views

        views.flush()  # the answer means: every run ended so far is in state.json and metrics.json
        return {}

    # ------------------------------------------------------------------ exec

    def exec(self, request_id: RequestId, raw: Any, token: CancelToken) -> Any:
        params = Params(raw, EXEC_FIELDS)
        from ..api.exec import ExecOptions

        cwd = params.directory("cwd", self.server.cwd)
        config = self._config(cwd, params.flags())
        session = params.string("session")
        options = ExecOptions(
            command=params.command(), cwd=cwd, task_id=self._task(params, config), env=params.env(),
            timeout=params.milliseconds("timeoutMs"), session=session, pty=params.boolean("pty"),
            escalate=params.boolean("escalate"), justification=params.string("justification"),
            output_schema=self._schema(params, cwd), parent_run_id=params.string("parentRun"),
        )
        return self._run_exec(request_id, options, config, token, events=params.boolean("events", True))

    def _run_exec(self, request_id: RequestId, options: Any, config: Config, token: CancelToken, *,
                  events: bool, tap: Subscriber | None = None) -> Any:
        from ..api.exec import run_exec

        forwarder = EventForwarder(self.server, request_id, forward=events)
        subscribers: list[Subscriber] = [_RunWatcher(self, token), forwarder]
        if tap is not None:
            subscribers.append(tap)
        report = run_exec(options, config=config, cancel=token, asker=ClientAsker(self.server, request_id, forwarder),
                          subscribers=subscribers, sessions=self.sessions, session_approvals=self._session_approvals,
                          observers=self.server.observers, output_format="jsonl" if events else None)
        return _exec_result(report)

    # ------------------------------------------------------------------ sessions

    def session_open(self, request_id: RequestId, raw: Any, token: CancelToken) -> Any:
        params = Params(raw, ("cwd", "sandbox", "approvalPolicy", "sessionId"))
        cwd = params.directory("cwd", self.server.cwd)
        flags = params.flags()
        self._config(cwd, flags)  # a broken config is an error now, not at the first run
        session_id = params.string("sessionId") or f"s-{os.urandom(4).hex()}"
        with self._lock:
            if session_id in self._session_specs:
                raise invalid(f"session {session_id!r} is already open")
            self._session_specs[session_id] = {"cwd": cwd, "flags": flags}
        return {"sessionId": session_id}

    def session_run(self, request_id: RequestId, raw: Any, token: CancelToken) -> Any:
        params = Params(raw, ("sessionId", "command", "timeoutMs", "task", "env", "events"))
        from ..api.exec import ExecOptions

        session_id, spec = self._spec(params)
        command = params.command()
        if not isinstance(command, str):
            from shlex import join

            command = join(command)
        config = self._config(spec["cwd"], spec["flags"])
        options = ExecOptions(command=command, cwd=spec["cwd"], task_id=self._task(params, config), env=params.env(),
                              timeout=params.milliseconds("timeoutMs"), session=session_id, pty=True)
        return self._run_exec(request_id, options, config, token, events=params.boolean("events", True),
                              tap=_OutputTap(self, session_id))

    def session_write(self, request_id: RequestId, raw: Any, token: CancelToken) -> Any:
        """Type into the command a `session/run` of this session is running (in another request)."""
        params = Params(raw, ("sessionId", "chars"))
        session_id, _ = self._spec(params)
        chars = params.raw.get("chars")
        if not isinstance(chars, str) or not chars:
            raise invalid("'chars' must be a non-empty string")
        shell = self.sessions.get(session_id)
        if shell is None or not shell.running:
            raise invalid(f"session {session_id!r} has no running command to write to")
        shell.send_input(chars)
        return {"written": len(chars.encode())}

    def session_poll(self, request_id: RequestId, raw: Any, token: CancelToken) -> Any:
        """The session's output since the last poll, and whether a command is still running."""
        params = Params(raw, ("sessionId",))
        session_id, _ = self._spec(params)
        shell = self.sessions.get(session_id)
        with self._lock:
            output = self._outputs.get(session_id, bytearray())
            self._outputs[session_id] = bytearray()
        return {"output": output.decode("utf-8", "replace"), "running": bool(shell and shell.running)}

    def session_close(self, request_id: RequestId, raw: Any, token: CancelToken) -> Any:
        params = Params(raw, ("sessionId",))
        session_id = params.required_string("sessionId")
        with self._lock:
            known = self._session_specs.pop(session_id, None) is not None
        closed = self.sessions.close(session_id)
        return {"closed": known or closed}

    def session_list(self, request_id: RequestId, raw: Any, token: CancelToken) -> Any:
        Params(raw, ())
        with self._lock:
            specs = dict(self._session_specs)
        sessions = []
        for session_id, spec in specs.items():
            shell = self.sessions.get(session_id)
            sessions.append({"sessionId": session_id, "cwd": str(spec["cwd"]),
                             "sandbox": spec["flags"].get("sandbox_mode"), "started": shell is not None,
                             "running": bool(shell and shell.running)})
        return {"sessions": sessions}

    def _spec(self, params: Params) -> tuple[str, dict[str, Any]]:
        session_id = params.required_string("sessionId")
        with self._lock:
            spec = self._session_specs.get(session_id)
        if spec is None:
            raise invalid(f"no open session {session_id!r} (open it with session/open)")
        return session_id, spec

    # ------------------------------------------------------------------ pipeline runs

    def run_start(self, request_id: RequestId, raw: Any, token: CancelToken) -> Any:
        params = Params(raw, ("pipeline", "task", "sandbox", "approvalPolicy", "cwd", "events"))
        from ..api.pipeline import make_runner, run_pipeline

        config = self._config(params.directory("cwd", self.server.cwd), params.flags())
        forwarder, stream = self._stream(request_id, token, events=params.boolean("events", True))
        runner = make_runner(config, task_id=self._task(params, config), cancel=token,
                             asker=ClientAsker(self.server, request_id, forwarder), stream=stream,
                             observers=self.server.observers)
        outcome = run_pipeline(runner, params.string("pipeline"))
        return _run_result(outcome)

    def run_resume(self, request_id: RequestId, raw: Any, token: CancelToken) -> Any:
        params = Params(raw, ("runId", "task", "token", "cwd", "events"))
        from ..api.pipeline import make_runner, open_for_resume, resume_run

        config = self._config(params.directory("cwd", self.server.cwd), {})
        resumable = open_for_resume(config, params.required_string("runId"), params.string("task"),
                                    params.string("token"))
        if resumable.lock is None:
            from ..api.pipeline import status_view

            view = status_view(resumable.paths)
            return {"runId": view["run_id"], "taskId": view["task_id"], "status": view["status"], "exitCode": 0,
                    "manifestPath": view["manifest"], "summary": None}
        forwarder, stream = self._stream(request_id, token, events=params.boolean("events", True))
        runner = make_runner(config, task_id=resumable.paths.task_id, cancel=token,
                             asker=ClientAsker(self.server, request_id, forwarder), stream=stream,
                             observers=self.server.observers)
        return _run_result(resume_run(runner, resumable))

    def run_status(self, request_id: RequestId, raw: Any, token: CancelToken) -> Any:
        params = Params(raw, ("runId", "task", "cwd"))
        from ..api.pipeline import status_view
        from ..runs.store import RunStore

        config = self._config(params.directory("cwd", self.server.cwd), {})
        return status_view(RunStore(config.repo_root).find(params.required_string("runId"), params.string("task")))

    def run_cancel(self, request_id: RequestId, raw: Any, token: CancelToken) -> Any:
        params = Params(raw, ("runId",))
        run_id = params.required_string("runId")
        with self._lock:
            target = self._runs.get(run_id)
        if target is None:
            return {"cancelled": False}
        import signal

        target.cancel(signal.SIGTERM, "cancelled by the client (run/cancel)")
        return {"cancelled": True}

    # ------------------------------------------------------------------ helpers

    def _stream(self, request_id: RequestId, token: CancelToken, *, events: bool) -> tuple[EventForwarder, _Tee]:
        """The one stream subscriber a pipeline runner takes: the client's events (if wanted) and the watcher."""
        forwarder = EventForwarder(self.server, request_id, forward=events)
        return forwarder, _Tee(forwarder, _RunWatcher(self, token))

    def _config(self, cwd: Path, flags: dict[str, Any]) -> Config:
        from ..config.resolver import load_config_cached

        return load_config_cached(cwd, flags, self.server.env)

    def _task(self, params: Params, config: Config) -> str:
        from ..runs.ids import resolve_task_id

        return resolve_task_id(params.string("task"), self.server.env, config.get("default_task"))

    @staticmethod
    def _schema(params: Params, cwd: Path) -> Any:
        from ..api.exec import OutputSchema

        value = params.raw.get("outputSchema")
        if value is None:
            return None
        if isinstance(value, str):
            return OutputSchema.load(cwd / value, "outputSchema")
        if isinstance(value, dict):
            return OutputSchema(value, "outputSchema")
        raise invalid("'outputSchema' must be a JSON Schema object or a path")

    def keep_output(self, session_id: str, data: bytes) -> None:
        with self._lock:
            buffer = self._outputs.setdefault(session_id, bytearray())
            buffer += data
            if len(buffer) > OUTPUT_KEPT:
                del buffer[:len(buffer) - OUTPUT_KEPT]

    def track(self, run_id: str, token: CancelToken) -> None:
        with self._lock:
            self._runs[run_id] = token

    def untrack(self, run_id: str) -> None:
        with self._lock:
            self._runs.pop(run_id, None)


class _RunWatcher:
    """Knows which call runs which run (for `run/cancel`), from the run's own events."""

    critical = False

    def __init__(self, handlers: Handlers, token: CancelToken) -> None:
        self._handlers = handlers
        self._token = token

    def handle(self, event: Envelope, line: str) -> None:
        if event["type"] == "run:start":
            self._handlers.track(str(event["payload"]["runId"]), self._token)
        elif event["type"] == "run:summary":
            self._handlers.untrack(str(event["payload"]["run"]["id"]))

    def close(self) -> None:
        pass


class _OutputTap:
    """Keeps a session's output for `session/poll`."""

    critical = False

    def __init__(self, handlers: Handlers, session_id: str) -> None:
        self._handlers = handlers
        self._session_id = session_id

    def handle(self, event: Envelope, line: str) -> None:
        if event["type"] == "exec:chunk":
            payload = event["payload"]
            if payload.get("encoding") == "base64":
                import base64

                data = base64.b64decode(payload["data"])
            else:
                data = str(payload["data"]).encode()
            self._handlers.keep_output(self._session_id, data)

    def close(self) -> None:
        pass


class _Tee:
    """One stream subscriber (a pipeline runner takes one) feeding two."""

    critical = False

    def __init__(self, *inner: Any) -> None:
        self._inner = inner

    def handle(self, event: Envelope, line: str) -> None:
        for subscriber in self._inner:
            subscriber.handle(event, line)

    def close(self) -> None:
        for subscriber in self._inner:
            subscriber.close()


def _exec_result(report: ExecReport) -> dict[str, Any]:
    summary = report.summary
    return {
        "runId": summary["run"]["id"], "taskId": summary["run"]["taskId"], "status": summary["status"],
        "exitCode": report.exit_code, "signal": summary["result"]["signal"], "statusDetail": summary["statusDetail"],
        "manifestPath": summary["run"]["manifest"], "summary": summary, "structuredOutput": report.structured,
    }


def _run_result(outcome: Any) -> dict[str, Any]:
    from .._files import read_json

    paths = outcome.run.paths
    return {"runId": paths.run_id, "taskId": paths.task_id, "status": outcome.status, "exitCode": outcome.exit_code,
            "manifestPath": str(paths.manifest), "summary": read_json(paths.run_summary)}
