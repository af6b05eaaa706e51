"""One command as one recorded run: what `exec`, `serve`'s `exec`/`session/run` and `Orchestrator.exec` share.

The caller decides where events go (subscribers), who answers approvals (asker) and what
cancels the call; this module creates the run, sends the command through the
ToolOrchestrator, validates structured output, and finishes the run with its summary.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._record import field, record

if TYPE_CHECKING:  # pragma: no cover
    from ..config import Config
    from ..events.bus import Subscriber
    from ..events.protocol import RunSummary
    from ..exec.cancel import CancelToken
    from ..exec.sessions import ExecSessionManager
    from ..observe import Observers
    from ..tools.asker import Asker
    from ..tools.request import ToolResult

EXIT_OUTPUT_SCHEMA = 65  # the command succeeded but its stdout does not match the output schema (EX_DATAERR)
STRUCTURED_LIMIT = 16 * 1024 * 1024  # stdout kept for output-schema validation


class OutputSchema:
    """A JSON Schema that the command's stdout must match; `label` names it in messages."""

    def __init__(self, schema: Any, label: str) -> None:
        import jsonschema  # only on this path: it costs ~30 ms to import

        from ..errors import UsageError

        try:
            validator_class = jsonschema.validators.validator_for(schema)
            validator_class.check_schema(schema)
        except jsonschema.SchemaError as exc:
            raise UsageError(f"{label}: not a valid JSON Schema: {exc.message}") from None
        self.validator = validator_class(schema)
        self.label = label

    @classmethod
    def load(cls, path: Path, label: str) -> OutputSchema:
        from ..errors import UsageError

        try:
            schema = json.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise UsageError(f"{label} {path}: cannot read: {exc.strerror}") from None
        except ValueError as exc:
            raise UsageError(f"{label} {path}: invalid JSON: {exc}") from None
        return cls(schema, f"{label} {path}")

    def check(self, stdout: bytes | None) -> tuple[Any, list[str]]:
        """(the parsed value, []) when stdout matches; (None, [problems]) otherwise."""
        if stdout is None:
            return None, [f"stdout is larger than {STRUCTURED_LIMIT} bytes; not validated"]
        try:
            value = json.loads(stdout.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            return None, [f"stdout is not JSON: {exc}"]
        errors = [f"{'/'.join(str(p) for p in e.absolute_path) or '$'}: {e.message}"
                  for e in self.validator.iter_errors(value)]
        return (value if not errors else None), errors


@record
class ExecOptions:
    command: str | Sequence[str]  # a shell command line, or an argv
    cwd: Path
    task_id: str
    env: dict[str, str] = field(default_factory=dict)
    timeout: float | None = None
    session: str | None = None  # run in this PTY session (created on first use)
    pty: bool = False
    escalate: bool = False
    justification: str | None = None
    output_schema: OutputSchema | None = None
    parent_run_id: str | None = None  # --parent-run: a run of this repository, any task (runs/lineage.py)


@record
class ExecReport:
    summary: RunSummary
    exit_code: int
    structured: Any = None

    @property
    def run_id(self) -> str:
        return self.summary["run"]["id"]

    @property
    def manifest_path(self) -> str:
        return self.summary["run"]["manifest"]


def run_exec(
    options: ExecOptions, *, config: Config, cancel: CancelToken, asker: Asker,
    subscribers: Iterable[Subscriber] = (), sessions: ExecSessionManager | None = None,
    session_approvals: set[str] | None = None, observers: Observers | None = None, output_format: str | None = None,
) -> ExecReport:
    """Run one command as a run of its own (manifest, events, summary) and report how it ended.

    Sessions passed in are the caller's (they outlive the call); without them a PTY session lives
    only as long as this call. `observers` (telemetry, notifications) see the run and give the
    command its TRACEPARENT; `output_format` is how the caller delivers the events (run metrics).
    """
    from ..runs.active import ActiveRun
    from ..runs.manifest import CommandRecord, PipelineRef
    from ..tools.orchestrator import ToolOrchestrator
    from ..tools.request import ToolRequest

    request = ToolRequest(
        tool="exec", command=options.command, cwd=options.cwd, env=options.env, escalate=options.escalate,
        justification=options.justification, pty=options.pty or options.session is not None,
        session_id=options.session, timeout=options.timeout,
        capture_stdout=STRUCTURED_LIMIT if options.output_schema is not None else 0,
    )
    record_ = CommandRecord(index=1, id="exec", title="exec", kind="command", command=request.display,
                            status="pending")
    parent = None
    if options.parent_run_id is not None:  # must be a run of this repository: checked before anything exists
        from ..runs.lineage import resolve_parent

        parent = resolve_parent(config.repo_root, options.parent_run_id)
    run = ActiveRun.create(
        config=config, task_id=options.task_id, pipeline=PipelineRef("exec", "exec", "exec"), cwd=options.cwd,
        commands=[record_], approval_policy=config.get("approval_policy"), sandbox_mode=config.get("sandbox_mode"),
        subscribers=[*subscribers, *(observers.for_run() if observers else [])], parent=parent,
        output_format=output_format,
    )
    orchestrator = ToolOrchestrator(config, run.bus, cancel=cancel, asker=asker, sequence=run.next_sequence,
                                    protected_paths=run.paths.protected, sessions=sessions,
                                    session_approvals=session_approvals)
    log_path = request.log_path = run.paths.command_log(1, "exec")
    request.env = {**run.stage_env("exec"), **options.env}  # the run's variables (docs/exec.md), then --env
    if observers is not None:
        request.env = observers.child_env(request.env)
    # The stage is `running` in the very first manifest write (run:start), not after the first heartbeat.
    record_.status, record_.started_at, record_.log_path = "running", run.manifest.started_at, str(log_path)
    run.start()
    try:
        result = orchestrator.invoke(request)
    except BaseException as exc:
        message, code = run.record_error(exc)
        record_.status, record_.summary = "failed", message  # not left `running` in the manifest
        run.finish(run.summary("failed", message, exit_code=code))
        raise
    finally:
        if sessions is None and orchestrator.sessions is not None:
            orchestrator.sessions.close_all()
    return _finish(run, record_, result, options, cancel, reused=orchestrator.approvals_reused,
                   prompted=orchestrator.approvals_prompted)


def _finish(run: Any, record_: Any, result: ToolResult, options: ExecOptions, cancel: CancelToken, *,
            reused: int, prompted: int) -> ExecReport:
    from ..events.bus import utc_timestamp
    from ..tools.outcome import cancel_detail, finished_status
    from ..tools.outcome import exit_code as exit_code_of

    structured: Any = None
    errors: list[str] = []
    status = finished_status(result.status)
    detail = result.message
    code = exit_code_of(result, cancel.signum)
    if result.status == "cancelled":
        detail = cancel_detail(cancel.signum, cancel.reason)
    elif result.status == "timed_out":
        detail = f"timed out after {options.timeout:g} s"
    if options.output_schema is not None and result.status == "succeeded":
        structured, errors = options.output_schema.check(result.captured_stdout)
        if errors:
            status, code = "failed", EXIT_OUTPUT_SCHEMA
            detail = f"stdout does not match {options.output_schema.label}: {errors[0]}"
    outputs: dict[str, Any] = {
        "stdoutTail": result.tail_text("pty" if "pty" in result.streams else "stdout"),
        "stderrTail": result.tail_text("stderr"),
        "truncated": any(b.truncated for b in result.streams.values()),
        "structured": structured,
    }
    if errors:
        outputs["validationErrors"] = errors
    record_.status = status
    record_.exit_code, record_.duration_ms = result.exit_code, result.duration_ms
    record_.completed_at, record_.tool_run_id = utc_timestamp(), result.tool_run_id
    record_.summary = detail or f"{result.status} (exit {result.exit_code})"
    summary = run.summary(
        status, detail, exit_code=code, signal=result.signal, attempts=len(result.attempts),
        sandbox_state=result.sandbox_state, tool_run=result.record, outputs=outputs, reused=reused, prompted=prompted,
    )
    run.finish(summary)
    return ExecReport(summary, int(code), structured)
