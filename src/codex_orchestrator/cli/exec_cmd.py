"""`exec -- CMD [ARGS...]`: one command through the ToolOrchestrator, as a JSONL stream for SDKs and CI."""

from __future__ import annotations

import argparse
import json
import re
import signal as signals
import sys
from pathlib import Path
from typing import Any

from .common import add_parent_option, add_policy_options, add_task_option, seconds

EXIT_OUTPUT_SCHEMA = 65  # the command succeeded but its stdout does not match --output-schema (EX_DATAERR)
STRUCTURED_LIMIT = 16 * 1024 * 1024  # stdout kept for --output-schema validation

EPILOG = """\
output modes (--format, or --jsonl / --json):
  jsonl   every event as one JSON line (the default when stdout is not a terminal and CI is not set)
  json    one final JSON summary (the run:summary payload)
  text    live output and a final status line (the default on a terminal and under CI=true)

examples:
  codex-orchestrator exec -- pytest -q
  codex-orchestrator exec -- 'cd web && npm test'     (one argument with spaces: a shell command line)
  codex-orchestrator exec --jsonl --sandbox read-only -- git status
  codex-orchestrator exec --json --output-schema schema.json -- ./report.py
  codex-orchestrator exec --parent-run "$CODEX_ORCHESTRATOR_RUN_ID" -- make docs   (from inside a stage)
  echo '{"type":"approval:response","requestId":"...","decision":"approved"}' | \\
      codex-orchestrator exec --approvals stdin --approval-policy on-failure -- ./deploy.sh

exit codes: the command's own (128+N when it died of signal N); 2 bad input;
65 stdout does not match --output-schema; 71 sandbox unavailable; 77 not approved;
124 timed out; 130/143 cancelled by SIGINT/SIGTERM (docs/cli.md)."""


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "exec", help="run one command with approvals, sandbox and JSONL events",
        formatter_class=argparse.RawDescriptionHelpFormatter, epilog=EPILOG,
        usage="%(prog)s [options] -- CMD [ARGS...]",
        description="Run one command through the ToolOrchestrator: approval policy, OS sandbox, live "
                    "exec:chunk events (at most 8 KiB each), a manifest and a run:summary.",
    )
    mode = p.add_argument_group("output")
    mode.add_argument("--format", choices=("text", "json", "jsonl"), default=None,
                      help="text: live view; jsonl: every event as it happens; json: one final summary "
                           "(default: text on a terminal or under CI=true, else jsonl)")
    mode.add_argument("--jsonl", action="store_true", help="the same as --format jsonl")
    mode.add_argument("--json", action="store_true", help="the same as --format json")
    add_task_option(p)
    p.add_argument("--cwd", type=Path, help="working directory (default: the current one)")
    p.add_argument("--env", action="append", default=[], metavar="K=V", help="set a variable (repeatable)")
    p.add_argument("--timeout", type=seconds, help="seconds before the command's process group is stopped")
    p.add_argument("--session", metavar="ID", help="run in the PTY session ID (created on first use)")
    p.add_argument("--pty", action=argparse.BooleanOptionalAction, default=None,
                   help="run in a pseudo-terminal (stdout and stderr arrive merged as one `pty` stream)")
    p.add_argument("--output-schema", type=Path, metavar="FILE",
                   help="stdout must be JSON valid against this JSON Schema; it goes to outputs.structured")
    p.add_argument("--escalate", action="store_true", help="ask to run outside the sandbox (needs approval)")
    p.add_argument("--justification", help="why --escalate is needed (shown in the approval request)")
    add_parent_option(p)
    add_policy_options(p)
    p.add_argument("command", nargs=argparse.REMAINDER, help="the command, after --")
    p.set_defaults(handler=run)


_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _parse_env(items: list[str]) -> dict[str, str]:
    from ..errors import UsageError

    env: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not _ENV_NAME.fullmatch(name):
            raise UsageError(f"--env {item!r}: expected NAME=VALUE with a valid variable name")
        env[name] = value
    return env


def _load_schema(path: Path) -> Any:
    from ..errors import UsageError

    try:
        schema = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise UsageError(f"--output-schema {path}: cannot read: {exc.strerror}") from None
    except ValueError as exc:
        raise UsageError(f"--output-schema {path}: invalid JSON: {exc}") from None
    import jsonschema

    try:
        validator_class = jsonschema.validators.validator_for(schema)
        validator_class.check_schema(schema)
    except jsonschema.SchemaError as exc:
        raise UsageError(f"--output-schema {path}: not a valid JSON Schema: {exc.message}") from None
    return validator_class(schema)


def _validate(validator: Any, stdout: bytes | None) -> tuple[Any, list[str]]:
    if stdout is None:
        return None, [f"stdout is larger than {STRUCTURED_LIMIT} bytes; not validated"]
    try:
        value = json.loads(stdout.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        return None, [f"stdout is not JSON: {exc}"]
    errors = [f"{'/'.join(str(p) for p in e.absolute_path) or '$'}: {e.message}"
              for e in validator.iter_errors(value)]
    return (value if not errors else None), errors


def run(args: argparse.Namespace) -> int:
    from ..errors import UsageError

    command = list(args.command)
    if command and command[0] == "--":
        command = command[1:]
    if not command:
        raise UsageError("exec needs a command after `--`, e.g. `codex-orchestrator exec -- make test`")
    shell_line: str | None = None
    if len(command) == 1 and any(c.isspace() for c in command[0]):
        shell_line = command[0]  # one quoted argument with spaces is a shell command line: `exec -- 'a && b'`
    chosen = {name for name, on in (("jsonl", args.jsonl), ("json", args.json), (args.format, bool(args.format)))
              if on}
    if len(chosen) > 1:
        raise UsageError(f"--{' and --'.join(sorted(chosen))} are different output modes; choose one")
    if args.session is not None and args.pty is False:
        raise UsageError("--session runs in a PTY session; it cannot be combined with --no-pty")
    env = _parse_env(args.env)
    validator = _load_schema(args.output_schema) if args.output_schema else None
    cwd = (args.cwd or Path.cwd()).resolve()
    if not cwd.is_dir():
        raise UsageError(f"--cwd {args.cwd}: not a directory")
    from .common import output_format

    fmt = output_format("jsonl" if args.jsonl else "json" if args.json else args.format)
    return _run(args, shell_line if shell_line is not None else command, env, cwd, fmt, validator)


def _run(args: argparse.Namespace, command: list[str] | str, env: dict[str, str], cwd: Path, fmt: str,
         validator: Any) -> int:
    """Signals are handled from before anything exists on disk until everything is written: a SIGTERM in
    the first milliseconds cancels the run (a finalised manifest), never leaves a run dir without one."""
    from ..exec.cancel import CancelToken
    from .common import install_signal_handlers

    cancel = CancelToken()
    restore = install_signal_handlers(cancel)
    try:
        return _run_with(args, command, env, cwd, fmt, validator, cancel)
    finally:
        restore()


def _run_with(args: argparse.Namespace, command: list[str] | str, env: dict[str, str], cwd: Path, fmt: str,
              validator: Any, cancel: Any) -> int:
    from ..events.bus import utc_timestamp
    from ..runs.active import ActiveRun
    from ..runs.manifest import CommandRecord, PipelineRef
    from ..tools.asker import choose_asker
    from ..tools.orchestrator import ToolOrchestrator
    from ..tools.request import ToolRequest
    from .common import load_config, task_id

    config = load_config(args, cwd)
    parent = None
    if args.parent_run is not None:
        from ..runs.lineage import resolve_parent

        parent = resolve_parent(config.repo_root, args.parent_run)
    subscribers: list[Any] = []
    if fmt == "jsonl":
        from ..events.sinks import StdoutJsonlSink

        subscribers.append(StdoutJsonlSink(cancel=cancel, on_closed=lambda: cancel.cancel(signals.SIGPIPE)))
    elif fmt == "text":
        from .render import HumanView

        subscribers.append(HumanView())
    request = ToolRequest(
        tool="exec", command=command, cwd=cwd, env=env, escalate=args.escalate,
        justification=args.justification, pty=bool(args.pty) or args.session is not None,
        session_id=args.session, timeout=args.timeout,
        capture_stdout=STRUCTURED_LIMIT if validator is not None else 0,
    )
    record = CommandRecord(index=1, id="exec", title="exec", kind="command", command=request.display,
                           status="pending")
    run_ = ActiveRun.create(
        config=config, task_id=task_id(args, config), pipeline=PipelineRef("exec", "exec", "exec"), cwd=cwd,
        commands=[record], approval_policy=config.get("approval_policy"), sandbox_mode=config.get("sandbox_mode"),
        subscribers=subscribers, parent=parent,
    )
    orchestrator = ToolOrchestrator(config, run_.bus, cancel=cancel, asker=choose_asker(args.approvals),
                                    sequence=run_.next_sequence, protected_paths=run_.paths.protected)
    log_path = request.log_path = run_.paths.command_log(1, "exec")
    request.env = {**run_.stage_env("exec"), **env}
    # The stage is `running` in the very first manifest write (run:start), not after the first heartbeat.
    record.status, record.started_at, record.log_path = "running", run_.manifest.started_at, str(log_path)
    run_.start()
    try:
        result = orchestrator.invoke(request)
    except BaseException as exc:
        message, code = run_.record_error(exc)
        record.status, record.summary = "failed", message  # not left `running` in the manifest
        run_.finish(run_.summary("failed", message, exit_code=code))
        raise
    finally:
        if orchestrator.sessions is not None:
            orchestrator.sessions.close_all()

    from ..tools.outcome import cancel_detail, finished_status
    from ..tools.outcome import exit_code as exit_code_of

    structured: Any = None
    errors: list[str] = []
    status = finished_status(result.status)
    detail = result.message
    exit_code: int = exit_code_of(result, cancel.signum)
    if result.status == "cancelled":
        detail = cancel_detail(cancel.signum)
    elif result.status == "timed_out":
        detail = f"timed out after {args.timeout:g} s"
    if validator is not None and result.status == "succeeded":
        structured, errors = _validate(validator, result.captured_stdout)
        if errors:
            status, exit_code = "failed", EXIT_OUTPUT_SCHEMA
            detail = f"stdout does not match {args.output_schema}: {errors[0]}"
    outputs: dict[str, Any] = {
        "stdoutTail": result.tail_text("pty" if "pty" in result.streams else "stdout"),
        "stderrTail": result.tail_text("stderr"),
        "truncated": any(b.truncated for b in result.streams.values()),
        "structured": structured,
    }
    if errors:
        outputs["validationErrors"] = errors
    record.status = status
    record.exit_code, record.duration_ms = result.exit_code, result.duration_ms
    record.completed_at, record.tool_run_id = utc_timestamp(), result.tool_run_id
    record.summary = detail or f"{result.status} (exit {result.exit_code})"
    summary = run_.summary(
        status, detail, exit_code=exit_code, signal=result.signal, attempts=len(result.attempts),
        sandbox_state=result.sandbox_state, tool_run=result.record, outputs=outputs,
        reused=orchestrator.approvals_reused, prompted=orchestrator.approvals_prompted,
    )
    run_.finish(summary)
    if fmt == "json":
        sys.stdout.write(json.dumps(summary, indent=2) + "\n")
    return int(exit_code)
