"""The Python API: `Orchestrator` (blocking) and `AsyncOrchestrator` (asyncio), in process.

The same surface as the Node SDK (docs/sdk.md) without a server: every call is a run with
the user's approval policy, the sandbox, events and a manifest, exactly as the CLI records it.
Approvals are answered by a callback; a non-zero exit is a result, not an exception.
"""

from __future__ import annotations

import asyncio
import os
import queue
import signal
import threading
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from .._paths import resolve
from .._record import record
from ..exec.shared import SharedSessions

if TYPE_CHECKING:  # pragma: no cover
    from ..config import Config
    from ..events.bus import Subscriber
    from ..events.protocol import Envelope, RunStatus
    from ..exec.cancel import CancelToken
    from ..tools.asker import ApprovalQuestion, Cancel, Report
    from .exec import ExecReport

T = TypeVar("T")
Decision = Literal["approved", "approved_for_session", "approved_always", "denied", "abort"]
SandboxMode = Literal["read-only", "workspace-write", "danger-full-access"]
ApprovalPolicy = Literal["untrusted", "on-failure", "on-request", "never"]
OnApproval = Callable[["ApprovalRequest"], Decision]
OnEvent = Callable[["Envelope"], None]


@record(frozen=True)
class ApprovalRequest:
    """What a command asks approval for; answer with a Decision."""

    request_id: str
    tool_run_id: str
    command: tuple[str, ...]
    cwd: str
    reason: str
    sandbox_mode: str


@record
class ExecResult:
    run_id: str
    task_id: str
    status: RunStatus  # succeeded | failed | cancelled
    exit_code: int
    signal: int | None
    status_detail: str | None
    manifest_path: Path
    summary: dict[str, Any]  # the run:summary payload
    structured_output: Any = None

    @property
    def ok(self) -> bool:
        return self.status == "succeeded"

    @property
    def stdout(self) -> str:
        """The tail of stdout (or of the terminal, for a PTY) that the summary keeps."""
        return str(self.summary["outputs"]["stdoutTail"])


@record
class RunResult:
    run_id: str
    task_id: str
    status: RunStatus
    exit_code: int
    manifest_path: Path
    summary: dict[str, Any] | None


class Orchestrator:
    """Run commands and pipelines in this process.

    >>> orch = Orchestrator(cwd="/path/to/repo")
    >>> result = orch.exec(["pytest", "-q"])
    >>> result.exit_code, result.manifest_path
    """

    def __init__(self, *, cwd: str | os.PathLike[str] | None = None, env: Mapping[str, str] | None = None,
                 on_approval: OnApproval | None = None, sandbox: SandboxMode | None = None,
                 approval_policy: ApprovalPolicy | None = None) -> None:
        self.cwd = Path(cwd or os.getcwd()).resolve()
        self.env = dict(os.environ if env is None else env)
        self.on_approval = on_approval
        self.sandbox = sandbox
        self.approval_policy = approval_policy
        self._sessions = SharedSessions()  # session shells live until close()
        self._session_approvals: set[str] = set()  # "for this session" lasts as long as this object
        from ..sandbox import warm

        # A long-lived caller: sandboxed calls find their sandbox built ahead of need. The helper that builds
        # them starts with the first sandboxed call, not here: a script may make one call, or none sandboxed.
        warm.enable(prestart=False)

    # ------------------------------------------------------------------ commands

    def exec(self, command: str | Sequence[str], *, cwd: str | os.PathLike[str] | None = None,
             task: str | None = None, env: Mapping[str, str] | None = None, timeout: float | None = None,
             sandbox: SandboxMode | None = None, approval_policy: ApprovalPolicy | None = None,
             output_schema: Mapping[str, Any] | None = None, session: str | None = None, pty: bool = False,
             on_event: OnEvent | None = None, on_approval: OnApproval | None = None,
             cancel: CancelToken | None = None) -> ExecResult:
        """Run one command to its end (a shell line as a string, or an argv) and return how it ended."""
        from ..exec.cancel import CancelToken
        from .exec import ExecOptions, OutputSchema, run_exec

        where = self._dir(cwd)
        config = self._config(where, sandbox, approval_policy)
        options = ExecOptions(
            command=command if isinstance(command, str) else list(command), cwd=where,
            task_id=self._task(task, config), env=dict(env or {}), timeout=timeout, session=session, pty=pty,
            output_schema=OutputSchema(dict(output_schema), "output_schema") if output_schema is not None else None,
        )
        token = cancel or CancelToken()
        subscribers: list[Subscriber] = [_Callback(on_event)] if on_event is not None else []
        report = run_exec(options, config=config, cancel=token, asker=_CallbackAsker(on_approval or self.on_approval),
                          subscribers=subscribers, sessions=self._sessions.get(),
                          session_approvals=self._session_approvals)
        return _exec_result(report)

    def exec_streamed(self, command: str | Sequence[str], **options: Any) -> ExecStream:
        """Run one command in a worker thread; iterate the returned stream for its events as they happen,
        then read `.result`. Leaving the loop early cancels the run."""
        return ExecStream(self, command, options)

    def open_session(self, *, cwd: str | os.PathLike[str] | None = None, sandbox: SandboxMode | None = None,
                     approval_policy: ApprovalPolicy | None = None) -> Session:
        """A shell on a terminal that keeps its state (`cd`, variables) between `run` calls."""
        return Session(self, f"py-{os.urandom(4).hex()}", self._dir(cwd), sandbox, approval_policy)

    # ------------------------------------------------------------------ pipelines

    def start(self, pipeline: str | None = None, *, task: str | None = None, sandbox: SandboxMode | None = None,
              approval_policy: ApprovalPolicy | None = None, on_event: OnEvent | None = None,
              on_approval: OnApproval | None = None, cancel: CancelToken | None = None) -> RunResult:
        """Run a pipeline of the repository (its default one when `pipeline` is None)."""
        from ..exec.cancel import CancelToken
        from .pipeline import make_runner, run_pipeline

        config = self._config(self.cwd, sandbox, approval_policy)
        runner = make_runner(config, task_id=self._task(task, config), cancel=cancel or CancelToken(),
                             asker=_CallbackAsker(on_approval or self.on_approval),
                             stream=_Callback(on_event) if on_event is not None else None)
        return _run_result(run_pipeline(runner, pipeline))

    def resume(self, run_id: str, *, token: str | None = None, task: str | None = None,
               on_event: OnEvent | None = None, on_approval: OnApproval | None = None,
               cancel: CancelToken | None = None) -> RunResult:
        """Continue a pipeline run from its first stage that has not succeeded."""
        from ..exec.cancel import CancelToken
        from .pipeline import make_runner, open_for_resume, resume_run, status_view

        config = self._config(self.cwd, None, None)
        resumable = open_for_resume(config, run_id, task, token)
        if resumable.lock is None:
            view = status_view(resumable.paths)
            return RunResult(view["run_id"], view["task_id"], view["status"], 0, Path(view["manifest"]), None)
        runner = make_runner(config, task_id=resumable.paths.task_id, cancel=cancel or CancelToken(),
                             asker=_CallbackAsker(on_approval or self.on_approval),
                             stream=_Callback(on_event) if on_event is not None else None)
        return _run_result(resume_run(runner, resumable))

    def status(self, run_id: str, *, task: str | None = None) -> dict[str, Any]:
        """The `status --format json` view of a run."""
        from ..runs.store import RunStore
        from .pipeline import status_view

        return status_view(RunStore(self._config(self.cwd, None, None).repo_root).find(run_id, task))

    def close(self) -> None:
        """End every session shell this orchestrator started."""
        self._sessions.close_all()

    def __enter__(self) -> Orchestrator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ helpers

    def _dir(self, cwd: str | os.PathLike[str] | None) -> Path:
        from ..errors import UsageError

        where = resolve(self.cwd / cwd) if cwd is not None else self.cwd
        if not where.is_dir():
            raise UsageError(f"cwd {where}: not a directory")
        return where

    def _config(self, cwd: Path, sandbox: str | None, policy: str | None) -> Config:
        from ..config.resolver import load_config_cached

        flags: dict[str, Any] = {}
        if sandbox or self.sandbox:
            flags["sandbox_mode"] = sandbox or self.sandbox
        if policy or self.approval_policy:
            flags["approval_policy"] = policy or self.approval_policy
        return load_config_cached(cwd, flags, self.env)

    def _task(self, task: str | None, config: Config) -> str:
        from ..runs.ids import resolve_task_id

        return resolve_task_id(task, self.env, config.get("default_task"))



class Session:
    """A PTY shell that lives until `close()`; each `run` is a recorded run through the approval policy."""

    def __init__(self, owner: Orchestrator, session_id: str, cwd: Path, sandbox: SandboxMode | None,
                 approval_policy: ApprovalPolicy | None) -> None:
        self.owner = owner
        self.id = session_id
        self.cwd = cwd
        self.sandbox = sandbox
        self.approval_policy = approval_policy

    def run(self, command: str, **options: Any) -> ExecResult:
        return self.owner.exec(command, cwd=self.cwd, session=self.id, sandbox=self.sandbox,
                               approval_policy=self.approval_policy, **options)

    def close(self) -> None:
        self.owner._sessions.get().close(self.id)

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


_DONE = object()


class ExecStream:
    """Events of one `exec` as they happen (an iterator), then `.result`."""

    def __init__(self, owner: Orchestrator, command: str | Sequence[str], options: dict[str, Any]) -> None:
        from ..exec.cancel import CancelToken

        self._queue: queue.Queue[Any] = queue.Queue()
        self._token = options.pop("cancel", None) or CancelToken()
        self._result: ExecResult | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(owner, command, options), daemon=True,
                                        name="codex-orchestrator-exec")
        self._thread.start()

    def _run(self, owner: Orchestrator, command: str | Sequence[str], options: dict[str, Any]) -> None:
        try:
            self._result = owner.exec(command, on_event=self._queue.put, cancel=self._token, **options)
        except BaseException as exc:
            self._error = exc
        finally:
            self._queue.put(_DONE)

    def __iter__(self) -> Iterator[Envelope]:
        try:
            while (item := self._queue.get()) is not _DONE:
                yield item
        finally:
            if self._thread.is_alive():
                self.cancel()

    def cancel(self) -> None:
        self._token.cancel(signal.SIGTERM, "cancelled by the caller")

    @property
    def result(self) -> ExecResult:
        """How the run ended (waits for it)."""
        self._thread.join()
        if self._error is not None:
            raise self._error
        assert self._result is not None
        return self._result


class AsyncOrchestrator:
    """`Orchestrator` for asyncio: each call runs in a worker thread, and cancelling the task cancels the run
    (it is recorded as cancelled, like a Ctrl-C)."""

    def __init__(self, **options: Any) -> None:
        self.sync = Orchestrator(**options)

    async def exec(self, command: str | Sequence[str], **options: Any) -> ExecResult:
        return await self._call(self.sync.exec, command, **options)

    async def exec_streamed(self, command: str | Sequence[str], **options: Any) -> AsyncIterator[Envelope]:
        """Yield the events as they happen; the last one is `run:summary`."""
        loop = asyncio.get_running_loop()
        events: asyncio.Queue[Any] = asyncio.Queue()
        task = asyncio.ensure_future(self._call(
            self.sync.exec, command, on_event=lambda e: loop.call_soon_threadsafe(events.put_nowait, e), **options))
        task.add_done_callback(lambda _: loop.call_soon_threadsafe(events.put_nowait, _DONE))
        try:
            while (item := await events.get()) is not _DONE:
                yield item
            task.result()  # raise what the run raised
        finally:
            if not task.done():
                task.cancel()

    async def start(self, pipeline: str | None = None, **options: Any) -> RunResult:
        return await self._call(self.sync.start, pipeline, **options)

    async def resume(self, run_id: str, **options: Any) -> RunResult:
        return await self._call(self.sync.resume, run_id, **options)

    async def status(self, run_id: str, **options: Any) -> dict[str, Any]:
        return await asyncio.to_thread(self.sync.status, run_id, **options)

    async def close(self) -> None:
        await asyncio.to_thread(self.sync.close)

    async def _call(self, method: Callable[..., T], *args: Any, **options: Any) -> T:
        from ..exec.cancel import CancelToken

        token = options.pop("cancel", None) or CancelToken()
        work = asyncio.ensure_future(asyncio.to_thread(method, *args, cancel=token, **options))
        try:
            return await asyncio.shield(work)
        except asyncio.CancelledError:
            token.cancel(signal.SIGTERM, "cancelled by the caller (asyncio)")
            await asyncio.wait([work])  # the run finishes its records before the cancel propagates
            raise


class _Callback:
    """A bus subscriber handing each event to the caller's function; a failing callback stops only itself."""

    critical = False
    name = "on_event callback"

    def __init__(self, function: OnEvent | None) -> None:
        self._function = function

    def handle(self, event: Envelope, line: str) -> None:
        if self._function is not None:
            self._function(event)

    def close(self) -> None:
        pass


class _CallbackAsker:
    """Approval questions go to the caller's function; no function, an exception or a bad answer deny."""

    def __init__(self, function: OnApproval | None) -> None:
        self._function = function
        self.available = function is not None

    def ask(self, question: ApprovalQuestion, timeout: float, cancel: Cancel | None = None,
            report: Report | None = None) -> Any:
        assert self._function is not None
        request = ApprovalRequest(question.request_id, question.tool_run_id, tuple(question.argv), question.cwd,
                                  question.reason, question.sandbox_mode)
        try:
            decision = self._function(request)
        except Exception as exc:
            if report is not None:
                report("approval:error", {"line": "", "error": f"the on_approval callback raised {exc!r}; denied"})
            return "denied"
        if decision not in ("approved", "approved_for_session", "approved_always", "denied", "abort"):
            if report is not None:
                report("approval:error", {"line": repr(decision)[:200], "error": "not a decision; denied"})
            return "denied"
        return decision


def _exec_result(report: ExecReport) -> ExecResult:
    summary: Any = report.summary
    return ExecResult(
        run_id=summary["run"]["id"], task_id=summary["run"]["taskId"], status=summary["status"],
        exit_code=report.exit_code, signal=summary["result"]["signal"], status_detail=summary["statusDetail"],
        manifest_path=Path(summary["run"]["manifest"]), summary=dict(summary), structured_output=report.structured,
    )


def _run_result(outcome: Any) -> RunResult:
    from .._files import read_json

    paths = outcome.run.paths
    return RunResult(paths.run_id, paths.task_id, outcome.status, outcome.exit_code, paths.manifest,
                     read_json(paths.run_summary))
