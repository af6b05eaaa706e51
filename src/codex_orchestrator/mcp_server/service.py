"""What each MCP tool does, in plain blocking Python: the SDK adapter (server.py) calls these from its pool.

Every command an MCP client asks for is one recorded run under the server's task (`--task`, default
`mcp`), made by `run_exec` exactly as `codex-orchestrator exec` makes it: the user's approval policy
and stored approvals, Codex rules, the real sandbox, the events and the manifest. A run lives on a
worker thread of the server's pool for as long as its command runs (a sandboxed child dies with the
thread that started it), so a command outlives the call that yielded its session id.

What the client chooses is untrusted: the command (approved or not by the policy), the working
directory (inside the workspace only), the shell, the wait times. What it can never choose: the
policy, the sandbox mode, the task or where runs are recorded; those come from the server's flags.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._record import field, record
from ..errors import OrchestratorError
from ..exec.shared import SharedSessions
from .jobs import Job
from .tools import (
    PIPELINE_WAIT_DEFAULT_MS,
    ToolInputError,
    parse_exec_command,
    parse_write_stdin,
    session_id,
    wait_ms,
)

if TYPE_CHECKING:  # pragma: no cover
    from ..api.exec import ExecReport
    from ..config import Config
    from ..events.protocol import Envelope
    from ..exec.sessions import ExecSessionManager
    from .approvals import Channel, ElicitationAsker

MAX_JOBS = 64  # commands running at once, as many as PTY sessions
MAX_WORKERS = 2 * MAX_JOBS + 32  # a thread per running command, per waiting call, per pipeline run
FINISHED_KEPT_SECONDS = 600.0  # a finished command nobody polled is forgotten after this
CLOSE_WAIT_SECONDS = 15.0
SHELLS = frozenset({"bash", "sh", "zsh", "dash", "ksh"})


@record
class ToolReply:
    """`structured` is for the model (Codex shows it *instead* of the text when present), so the exec tools,
    whose text is the answer, put their run details in `meta` (the result's `_meta`) instead."""

    text: str
    is_error: bool = False
    structured: dict[str, Any] | None = None
    meta: dict[str, Any] | None = None


@record
class _PipelineRun:
    cancel: Any
    future: Future[Any] | None = None
    run_id: str | None = None
    ready: threading.Event = field(default_factory=threading.Event)


class McpService:
    def __init__(self, config: Config, *, workspace: Path, task_id: str, env: Mapping[str, str]) -> None:
        self.config = config
        self.workspace = workspace
        self.task_id = task_id
        self.env = dict(env)
        self.pool = ThreadPoolExecutor(MAX_WORKERS, thread_name_prefix="mcp")  # threads live as long as the server
        self._lock = threading.Lock()
        self._jobs: dict[int, Job] = {}
        self._pipelines: dict[str, _PipelineRun] = {}
        self._sessions = SharedSessions()
        self._session_approvals: set[str] = set()  # "approved for this session": as long as the server lives
        self.closing = False

    # ------------------------------------------------------------------ entry point

    def call(self, name: str, arguments: Mapping[str, Any] | None, channel: Channel) -> ToolReply:
        """Run one tool; bad input and orchestrator errors are tool errors the model can read."""
        handlers: dict[str, Callable[[Mapping[str, Any] | None, Channel], ToolReply]] = {
            "exec_command": self.exec_command, "write_stdin": self.write_stdin, "list_sessions": self.list_sessions,
            "close_session": self.close_session, "run_pipeline": self.run_pipeline, "run_status": self.run_status,
        }
        handler = handlers.get(name)
        if handler is None:
            return ToolReply(f"unknown tool {name!r}", is_error=True)
        try:
            return handler(arguments, channel)
        except ToolInputError as exc:
            return ToolReply(f"{name}: {exc}", is_error=True)
        except OrchestratorError as exc:
            return ToolReply(f"{name} failed: {exc}", is_error=True, meta={"exitCode": exc.exit_code})

    # ------------------------------------------------------------------ exec_command / write_stdin

    def exec_command(self, raw: Mapping[str, Any] | None, channel: Channel) -> ToolReply:
        from ..api.exec import ExecOptions
        from .approvals import ElicitationAsker

        started = time.monotonic()
        args = parse_exec_command(raw)
        cwd = self._workdir(args.workdir)
        argv = [self._shell(args.shell), "-lc" if args.login else "-c", args.cmd]
        escalate = args.sandbox_permissions == "require_escalated"
        if args.prefix_rule is not None and escalate:
            self._check_prefix(args.prefix_rule, argv)
        with self._lock:
            self._prune()
            if sum(1 for job in self._jobs.values() if not job.done) >= MAX_JOBS:
                raise ToolInputError(f"{MAX_JOBS} commands are already running; close one (close_session) first")
            number = self._new_session_id()
            job = Job(number, args.cmd, str(cwd), tty=args.tty, pty_session=f"mcp-{number}" if args.tty else None)
            self._jobs[number] = job
        options = ExecOptions(command=argv, cwd=cwd, task_id=self.task_id, pty=args.tty, session=job.pty_session,
                              escalate=escalate, justification=args.justification)
        asker = ElicitationAsker(channel, codex_home=self.config.codex_home, prefix_rule=args.prefix_rule,
                                 escalate=escalate)
        job.future = self.pool.submit(self._run, job, options, asker)
        job.future.add_done_callback(job.finished)
        job.wait_started()
        assert job.began_at is not None or job.done
        job.wait_done((job.began_at or time.monotonic()) + args.yield_time_ms / 1000)
        return self._reply(job, started, args.max_output_tokens, asker)

    def write_stdin(self, raw: Mapping[str, Any] | None, channel: Channel) -> ToolReply:
        started = time.monotonic()
        args = parse_write_stdin(raw)
        job = self._job(args.session_id)
        if args.chars:
            if job.done:
                pass  # the command ended meanwhile: its last output and exit code are the answer
            elif not job.tty:
                raise ToolInputError("stdin is closed for this session (the command runs without a terminal); "
                                     "run it with tty=true to write to it")
            else:
                self._type(job, args.chars)
        job.wait_done(started + args.yield_time_ms / 1000)
        return self._reply(job, started, args.max_output_tokens, None)

    def _run(self, job: Job, options: Any, asker: ElicitationAsker) -> ExecReport:
        """The whole run, on a pool thread: it blocks until the command ends (or is cancelled)."""
        from ..api.exec import run_exec

        try:
            return run_exec(options, config=self.config, cancel=job.cancel, asker=asker, subscribers=[job],
                            sessions=self.sessions, session_approvals=self._session_approvals)
        finally:
            if job.pty_session is not None:
                self.sessions.close(job.pty_session)

    def _type(self, job: Job, chars: str) -> None:
        assert job.pty_session is not None
        shell = self.sessions.get(job.pty_session)
        if shell is None or not shell.running:
            raise ToolInputError("the command has no terminal to write to yet (it is waiting for approval, or "
                                 "runs outside its session after leaving the sandbox)")
        shell.send_input(chars)

    def _reply(self, job: Job, started: float, max_tokens: int, asker: ElicitationAsker | None) -> ToolReply:
        from .output import render

        wall = time.monotonic() - started
        if not job.done:
            text = render(output=job.take_output(), wall_seconds=wall, exit_code=None, session_id=job.session_id,
                          max_tokens=max_tokens)
            return ToolReply(text, meta={"session_id": job.session_id, "running": True, "runId": job.run_id,
                                         "manifest": job.manifest})
        with self._lock:
            self._jobs.pop(job.session_id, None)
        assert job.future is not None
        try:
            report = job.future.result()
        except OrchestratorError as exc:
            return ToolReply(f"exec_command failed: {exc}", is_error=True,
                             meta={"exitCode": exc.exit_code, "runId": job.run_id, "manifest": job.manifest})
        return _finished_reply(job, report, wall, max_tokens, asker)

    # ------------------------------------------------------------------ sessions

    def list_sessions(self, raw: Mapping[str, Any] | None, channel: Channel) -> ToolReply:
        if raw:
            raise ToolInputError(f"unknown argument {sorted(raw)[0]!r}")
        with self._lock:
            jobs = [job for job in self._jobs.values() if not job.done]
        sessions = [{"session_id": job.session_id, "command": job.command, "cwd": job.cwd, "tty": job.tty,
                     "runId": job.run_id, "manifest": job.manifest,
                     "startedAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(job.created))} for job in jobs]
        lines = [f"{s['session_id']}: {s['command']} (cwd {s['cwd']}, run {s['runId']})" for s in sessions]
        return ToolReply("\n".join(lines) or "no running sessions", structured={"sessions": sessions})

    def close_session(self, raw: Mapping[str, Any] | None, channel: Channel) -> ToolReply:
        if raw and set(raw) - {"session_id"}:
            raise ToolInputError(f"unknown argument {sorted(set(raw) - {'session_id'})[0]!r}")
        started = time.monotonic()
        job = self._job(session_id(raw))
        job.cancel.cancel(signal.SIGTERM, "closed by the MCP client (close_session)")
        job.wait_done(started + CLOSE_WAIT_SECONDS)
        return self._reply(job, started, 2_000, None)

    def _job(self, number: int) -> Job:
        with self._lock:
            job = self._jobs.get(number)
        if job is None:
            raise ToolInputError(f"Unknown process id {number}")
        return job

    @property
    def sessions(self) -> ExecSessionManager:
        return self._sessions.get()

    # ------------------------------------------------------------------ pipelines

    def run_pipeline(self, raw: Mapping[str, Any] | None, channel: Channel) -> ToolReply:
        from ..exec.cancel import CancelToken
        from .approvals import ElicitationAsker

        if raw and set(raw) - {"pipeline", "yield_time_ms"}:
            raise ToolInputError(f"unknown argument {sorted(set(raw) - {'pipeline', 'yield_time_ms'})[0]!r}")
        pipeline = (raw or {}).get("pipeline")
        if pipeline is not None and not isinstance(pipeline, str):
            raise ToolInputError("pipeline must be a string")
        wait = wait_ms(raw, PIPELINE_WAIT_DEFAULT_MS)
        started = time.monotonic()
        entry = _PipelineRun(CancelToken())
        asker = ElicitationAsker(channel, codex_home=self.config.codex_home)
        entry.future = self.pool.submit(self._run_pipeline, entry, pipeline, asker)
        while not entry.ready.wait(0.05):
            if entry.future.done():
                break
        if entry.future.done() and entry.run_id is None:
            entry.future.result()  # it failed before the run existed: an OrchestratorError for the model
        assert entry.run_id is not None
        with self._lock:
            self._pipelines[entry.run_id] = entry
        with contextlib.suppress(TimeoutError):
            entry.future.result(timeout=max(0.0, started + wait / 1000 - time.monotonic()))
        return self._status(entry.run_id)

    def _run_pipeline(self, entry: _PipelineRun, pipeline: str | None, asker: Any) -> Any:
        from ..api.pipeline import make_runner, run_pipeline

        runner = make_runner(self.config, task_id=self.task_id, cancel=entry.cancel, asker=asker,
                             stream=_RunIdTap(entry))
        return run_pipeline(runner, pipeline)

    def run_status(self, raw: Mapping[str, Any] | None, channel: Channel) -> ToolReply:
        if raw and set(raw) - {"run_id", "yield_time_ms"}:
            raise ToolInputError(f"unknown argument {sorted(set(raw) - {'run_id', 'yield_time_ms'})[0]!r}")
        run_id = (raw or {}).get("run_id")
        if not isinstance(run_id, str) or not run_id:
            raise ToolInputError("run_id is required")
        with self._lock:
            entry = self._pipelines.get(run_id)
        if entry is not None and entry.future is not None:
            try:
                entry.future.result(timeout=wait_ms(raw, 0) / 1000)
            except TimeoutError:
                pass
            except OrchestratorError:
                pass  # the run recorded its failure; its status says so
        return self._status(run_id)

    def _status(self, run_id: str) -> ToolReply:
        import json

        from ..api.pipeline import status_view
        from ..runs.store import RunStore

        view = status_view(RunStore(self.config.repo_root).find(run_id, self.task_id))
        return ToolReply(json.dumps(view, indent=1), structured=view)

    # ------------------------------------------------------------------ helpers

    def _workdir(self, workdir: str | None) -> Path:
        """The command's directory: the workspace, or a directory inside it (symlinks resolved)."""
        if workdir is None:
            return self.workspace
        path = Path(os.path.realpath(self.workspace / workdir))
        if not (path == self.workspace or path.is_relative_to(self.workspace)):
            raise ToolInputError(f"workdir {workdir!r} is outside the workspace {self.workspace}")
        if not path.is_dir():
            raise ToolInputError(f"workdir {workdir!r} is not a directory")
        return path

    @staticmethod
    def _shell(shell: str | None) -> str:
        if shell is None:
            return "/bin/bash"
        if os.path.basename(shell) not in SHELLS:
            raise ToolInputError(f"shell must be one of {', '.join(sorted(SHELLS))} (by name or path)")
        return shell

    @staticmethod
    def _check_prefix(prefix: list[str], argv: list[str]) -> None:
        from ..tools.approvals.amend import check_prefix
        from ..tools.approvals.keys import canonical_argv, split_script

        commands = split_script(argv[2]) or [canonical_argv(argv)]
        problem = check_prefix(prefix, commands)
        if problem:
            raise ToolInputError(problem)

    def _new_session_id(self) -> int:
        while True:
            number = 1000 + int.from_bytes(os.urandom(4), "big") % 99_000
            if number not in self._jobs:
                return number

    def _prune(self) -> None:
        """Forget finished commands whose output nobody asked for in FINISHED_KEPT_SECONDS (lock held)."""
        now = time.time()
        for number in [n for n, job in self._jobs.items()
                       if job.done_at is not None and now - job.done_at > FINISHED_KEPT_SECONDS]:
            del self._jobs[number]

    def close(self, signum: int = 0) -> None:
        """Stop every command and pipeline run, let each record its end, close the sessions.

        `signum` is the signal that stopped the server; 0 when the client closed the connection."""
        self.closing = True
        with self._lock:
            tokens = [job.cancel for job in self._jobs.values()] + [p.cancel for p in self._pipelines.values()]
        reason = None if signum else "client-closed: the MCP client went away, so the run was stopped"
        for token in tokens:
            token.cancel(signum or signal.SIGHUP, reason)
        self.pool.shutdown(wait=True)
        self._sessions.close_all()


class _RunIdTap:
    """The stream subscriber of a pipeline run: it learns the run's id from its first `run:start`."""

    critical = False

    def __init__(self, entry: _PipelineRun) -> None:
        self._entry = entry

    def handle(self, event: Envelope, line: str) -> None:
        if event["type"] == "run:start" and self._entry.run_id is None:
            self._entry.run_id = str(event["payload"]["runId"])
            self._entry.ready.set()

    def close(self) -> None:
        pass


def _finished_reply(job: Job, report: ExecReport, wall: float, max_tokens: int,
                    asker: ElicitationAsker | None) -> ToolReply:
    from .output import render

    summary: Any = report.summary
    tool_run = summary.get("toolRun") or {}
    result = summary["result"]
    code = result["exitCode"]
    if code is None and result.get("signal"):
        code = 128 + int(result["signal"])
    meta: dict[str, Any] = {
        "exit_code": code, "status": summary["status"], "runId": report.run_id, "manifest": report.manifest_path,
        "sandboxState": result.get("sandboxState"), "approvalSource": tool_run.get("approvalSource"),
    }
    note = None
    if asker is not None and asker.stored_rule is not None:
        meta["ruleStored"] = str(asker.stored_rule)
        note = f"Approval rule stored in {asker.stored_rule}"
    elif asker is not None and asker.rule_error is not None:
        note = f"The approval rule was not stored: {asker.rule_error}"
    if tool_run.get("status") == "rejected":
        detail = summary.get("statusDetail") or "not approved"
        return ToolReply(f"exec_command rejected: {detail}\n(run {report.run_id}, manifest {report.manifest_path})",
                         is_error=True, meta=meta)
    if summary["status"] == "cancelled" and summary.get("statusDetail"):
        note = summary["statusDetail"]
    text = render(output=job.take_output(), wall_seconds=wall, exit_code=code, session_id=None,
                  max_tokens=max_tokens, note=note)
    return ToolReply(text, meta=meta)
